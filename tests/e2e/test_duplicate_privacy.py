"""Issue 11, item 1, end to end as it was reproduced: a resident files by Open311 with
their name, phone and where the key is in the description; a stranger in a fresh web
chat (no login) files the same kind of problem in the same building and is offered to
join. The offer names the problem (category, building, age, status) and nothing of
what the first resident wrote; after joining, the stranger hears the progress, never
the contact or the words. The real `orders web`, engine, action server and database."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.api_clients import create_api_key
from services.parties import create_organisation
from web.chat_identity import CSRF_HEADER

ADDRESS = "幸福小区42栋3单元701"
WORDS = "卫生间水管漏水，我是独居老人李秀英，电话13966667777，家里钥匙在门口地垫下"
SECRETS = ("李秀英", "13966667777", "地垫", "701")
TIMEOUT = httpx.Timeout(90.0)


def texts(body: dict[str, Any]) -> str:
    return "\n".join(str(reply["text"]) for reply in body["replies"])


def payload(body: dict[str, Any], title: str) -> str:
    """The payload of the (last) button whose title contains `title`."""
    found = [
        button["payload"]
        for reply in body["replies"]
        for row in reply["rows"]
        for button in row
        if title in button["title"]
    ]
    assert found, f"no {title!r} button in {body}"
    return str(found[-1])


def clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, (secret, text)


async def test_a_stranger_is_offered_the_neighbours_ticket_without_their_words(
    web_url: str, db: async_sessionmaker[AsyncSession]
) -> None:
    async with db() as session, session.begin():
        _, api_key = await create_api_key(session, name="duplicate-privacy")
        _, credentials = await create_organisation(
            session, name="四十二栋维修队", categories=["repair"], communities=None
        )
    async with httpx.AsyncClient(base_url=web_url, timeout=TIMEOUT) as client:
        filed = await client.post(
            "/open311/v2/requests.json",
            data={
                "api_key": api_key,
                "service_code": "repair",
                "address_string": ADDRESS,
                "description": WORDS,
            },
        )
        assert filed.status_code == 201, filed.text
        number = filed.json()[0]["service_request_id"]

    async with httpx.AsyncClient(
        base_url=web_url, timeout=TIMEOUT, headers={CSRF_HEADER: "1", "Accept-Language": "zh-CN"}
    ) as chat:

        async def say(text: str) -> dict[str, Any]:
            response = await chat.post("/chat/api/message", json={"text": text})
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            return body

        async def press(data: str) -> dict[str, Any]:
            response = await chat.post("/chat/api/press", json={"payload": data})
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            return body

        assert "地址" in texts(await say("我家水管漏水了"))
        assert "时间" in texts(await say("幸福小区42栋"))
        assert "电话" in texts(await say("随时都可以"))
        photo = await say("13800000009")
        summary = await press(payload(photo, "跳过"))
        offer = await press(payload(summary, "提交"))
        shown = texts(offer)
        assert number in shown and "42栋" in shown and "维修" in shown, shown
        clean(shown)
        clean(str(offer))  # the buttons and their payloads too

        joined = await press(payload(offer, "加入"))
        assert number in texts(joined)

        async with httpx.AsyncClient(base_url=web_url, timeout=TIMEOUT) as api:
            headers = {"Authorization": f"Bearer {credentials.token}"}
            claimed = await api.post(f"/api/tickets/{number}/claim", headers=headers)
            assert claimed.status_code == 200, claimed.text
            assert claimed.json()["description"] == WORDS  # the holder reads it all
            done = await api.post(
                f"/api/tickets/{number}/done",
                headers=headers,
                json={"note": "已联系李秀英（13966667777），钥匙放回地垫下了"},
            )
            assert done.status_code == 200, done.text

        notices = await chat.get("/chat/api/notices")
        assert notices.status_code == 200
        told = notices.json()["replies"]
        assert len(told) == 2, told  # claimed, done
        assert all(number in reply["text"] for reply in told)
        assert "四十二栋维修队" in told[0]["text"]
        clean(str(told))
        assert all(reply["rows"] == [] for reply in told)  # no rating: not theirs
