"""The reply language sticks to the resident's first language (or their choice) unless
they clearly switch (issue 12, Minor): an English resident who types the estate's
Chinese name, or a Chinese resident who answers "ok", is still answered in their
language; a whole sentence in the other language switches. Telegram and the web chat,
through the real bot, engine, actions and database."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.e2e.test_filing import NUMBER, one, submit, ticket_of
from tests.fakes.telegram import FakeTelegram
from web.chat_identity import CSRF_HEADER


async def test_an_english_resident_typing_a_chinese_address_is_answered_in_english(
    telegram: FakeTelegram, db: async_sessionmaker[AsyncSession]
) -> None:
    # Telegram says Chinese; the resident writes English first: that is their language.
    user = telegram.user(71701, first_name="Ann", language_code="zh")
    await user.send_text("the light in our stairwell is broken")
    assert "address" in ((await one(user)).text or "").lower()
    await user.send_text("幸福小区3栋2单元501")
    asked = await one(user)
    assert "When would suit you" in (asked.text or ""), asked.text
    await user.send_text("明天上午")
    asked = await one(user)
    assert "phone" in (asked.text or "").lower(), asked.text
    await user.send_text("13812345678")
    ask_photo = await one(user)
    await user.press(ask_photo, ask_photo.button("Skip")[1])
    summary = await one(user)
    assert "Address: 幸福小区3栋2单元501" in (summary.text or ""), summary.text
    filed = await submit(user, summary, "Submit")
    match = NUMBER.search(filed.text or "")
    assert match and "Submitted" in (filed.text or ""), filed.text
    assert (await ticket_of(db, match.group())).language == "en"

    # A whole Chinese sentence is a clear switch.
    await user.send_text("我想问一下什么时候来")
    reply = await one(user)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in reply.text or ""), reply.text


async def test_a_chinese_resident_answering_ok_stays_in_chinese(telegram: FakeTelegram) -> None:
    user = telegram.user(71702, first_name="孙", language_code="en")
    await user.send_text("我家厨房水管漏水了")
    assert "地址" in ((await one(user)).text or "")
    await user.send_text("Flat 501")
    asked = await one(user)
    assert "时间" in (asked.text or ""), asked.text
    await user.send_text("ok")
    asked = await one(user)
    assert "联系电话" in (asked.text or "") or "时间" in (asked.text or ""), asked.text


async def test_the_web_chat_keeps_the_first_language(web_url: str) -> None:
    headers = {CSRF_HEADER: "1", "Accept-Language": "zh-CN"}
    async with httpx.AsyncClient(
        base_url=web_url, timeout=httpx.Timeout(90.0), headers=headers
    ) as chat:

        async def say(text: str) -> str:
            response = await chat.post("/chat/api/message", json={"text": text})
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            return "\n".join(str(reply["text"]) for reply in body["replies"])

        assert "address" in (await say("my kitchen tap is dripping")).lower()
        asked = await say("和平里5号楼2单元101")
        assert "When would suit you" in asked, asked
