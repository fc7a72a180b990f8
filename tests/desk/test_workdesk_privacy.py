"""The Telegram Claim button (desk/workdesk.py) checks who presses before the
ticket's state: an organisation that may not know of the ticket hears "no such
ticket", never who holds it (issue 11, item 5); an offered one that lost the race is
told who won."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.wakeup import Waker
from desk.frontdesk import Sender
from desk.workdesk import WorkDesk
from i18n import t
from services import make_engine, make_sessionmaker, prepare_database, workflow
from services.models import Organisation
from services.parties import create_organisation, redeem_link_code
from services.tickets import NewTicket, get_or_create_resident

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Sessions]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'workdesk.db'}"
    await prepare_database(url)
    engine = make_engine(url)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def linked_org(db: Sessions, name: str, categories: list[str], chat: str) -> Organisation:
    async with db() as session, session.begin():
        organisation, credentials = await create_organisation(
            session, name=name, categories=categories, communities=None
        )
        await redeem_link_code(
            session, code=credentials.link_code, channel="telegram", chat_id=chat
        )
    return organisation


async def press(desk: WorkDesk, chat: str, data: str) -> str:
    result = await desk.press(Sender("telegram", chat), data)
    return "\n".join([result.toast or "", *(reply.text for reply in result.replies)])


async def test_the_claim_button_tells_an_outsider_nothing_of_the_holder(db: Sessions) -> None:
    holder = await linked_org(db, "先到维修队", ["repair"], "9001")
    offered = await linked_org(db, "后到维修队", ["repair"], "9002")
    async with db() as session, session.begin():
        resident = await get_or_create_resident(session, channel="cli", external_id="r")
        ticket = (
            await workflow.file_ticket(
                session,
                resident=resident,
                request=NewTicket(
                    category_code="repair",
                    description="厨房水管漏水",
                    address="幸福小区3栋501",
                    latitude=None,
                    longitude=None,
                    preferred_time_text=None,
                    preferred_time_at=None,
                    phone="+8613812345678",
                    photo_path=None,
                    language="zh",
                    idempotency_key=None,
                ),
            )
        ).ticket
        number = ticket.number
        await workflow.claim(session, number=number, organisation=holder)
    elders = await linked_org(db, "助老服务社", ["elder_care"], "9003")
    latecomer = await linked_org(db, "新来的维修队", ["repair"], "9004")
    desk = WorkDesk(db, Waker(None))

    for chat, who in (("9003", elders), ("9004", latecomer)):
        answer = await press(desk, chat, f"o:claim:{number}")
        assert t("ticket_not_found", who.language, number=number) in answer, answer
        assert holder.name not in answer

    lost = await press(desk, "9002", f"o:claim:{number}")
    assert t("taken_by", offered.language, number=number, holder=holder.name) in lost
