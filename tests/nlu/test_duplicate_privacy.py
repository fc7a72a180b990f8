"""The duplicate offer names a neighbour's ticket by what identifies the problem
(category, community and building, age, status), never by the neighbour's words,
flat, name or phone (issue 11, item 1). Real SQLite, the domain's own templates."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nlu.actions import ActionSubmitRequest
from services.tickets import NewTicket, get_or_create_resident
from services.workflow import file_ticket
from tests.nlu.trackers import Domain, make_tracker, responses, run

Sessions = async_sessionmaker[AsyncSession]
WORDS = "卫生间水管漏水，我是独居老人李秀英，电话13966667777，家里钥匙在门口地垫下"
SECRETS = ("李秀英", "13966667777", "地垫", "701", "钥匙")


def rendered(domain: Domain, message: dict[str, Any], language: str) -> str:
    """The response's text in `language` as the engine fills it from the message."""
    variants = domain["responses"][message["response"]]
    variant = next(
        (v for v in variants if v.get("condition") and v["condition"][0]["value"] == language),
        variants[0],
    )
    text: str = variant["text"].format(**message)
    return text


@pytest.mark.parametrize(
    ("language", "place", "age"),
    [("zh", "幸福里社区42栋", "刚刚"), ("en", "building 42", "just now")],
)
async def test_the_offer_shows_the_problem_and_none_of_the_neighbours_words(
    domain: Domain, database: Sessions, language: str, place: str, age: str
) -> None:
    async with database() as session, session.begin():
        neighbour = await get_or_create_resident(
            session, channel="open311", external_id=uuid.uuid4().hex
        )
        ticket = (
            await file_ticket(
                session,
                resident=neighbour,
                request=NewTicket(
                    category_code="repair",
                    description=WORDS,
                    address="幸福小区42栋3单元701",
                    latitude=None,
                    longitude=None,
                    preferred_time_text=None,
                    preferred_time_at=None,
                    phone="+8613966667777",
                    photo_path=None,
                    language="zh",
                    idempotency_key=None,
                ),
            )
        ).ticket
        number = ticket.number
    slots = {
        "category": "repair",
        "request_id": uuid.uuid4().hex,
        "description": "我家水管漏水了",
        "address": "幸福小区42栋",
        "preferred_time": "随时都可以",
        "phone": "+8613800000009",
        "photo": "skipped",
        "awaiting_confirmation": True,
        "duplicate_checked": False,
        "language": language,
    }
    tracker = make_tracker(domain, slots=slots, sender_id=f"web:{uuid.uuid4().hex}")
    _, offered = await run(ActionSubmitRequest(), tracker, domain)

    assert responses(offered) == ["utter_duplicate_found"]
    [message] = offered.messages
    assert message["duplicate_number"] == number
    assert not any(secret in str(message) for secret in SECRETS), message
    text = rendered(domain, message, language)
    assert number in text and place in text and age in text, text
    assert ("维修" if language == "zh" else "Repair") in text, text
    assert not any(secret in text for secret in SECRETS), text
