"""Typed corrections at the summary (issue 12, Major 3): "地址错了，应该是6栋2单元301",
"电话写错了，是139…", "时间改成后天上午" change that answer and show the summary again;
a correction without the new value asks for it. In Telegram (zh and en), the web chat
and the terminal chat, through the real engine, action server and database."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from config.settings import Settings
from tests.e2e.test_cli import run_orders
from tests.e2e.test_filing import NUMBER, one, submit, ticket_of
from tests.fakes.telegram import BotMessage, FakeTelegram, FakeUser
from web.chat_identity import CSRF_HEADER


def digits(text: str | None) -> str:
    return re.sub(r"[\s-]", "", text or "")


async def to_summary(user: FakeUser, need: str, answers: list[str]) -> BotMessage:
    await user.send_text(need)
    await one(user)
    for answer in answers:
        await user.send_text(answer)
        last = await one(user)
    await user.press(last, last.buttons()[0][1])  # skip the photo
    return await one(user)


async def test_typed_corrections_at_the_summary_change_that_answer(
    telegram: FakeTelegram, db: async_sessionmaker[AsyncSession]
) -> None:
    user = telegram.user(71401, first_name="周", language_code="zh")
    summary = await to_summary(
        user, "我家厨房水管漏水了", ["幸福小区5栋1单元101", "明天下午", "13812345678"]
    )
    assert "5栋1单元101" in (summary.text or ""), summary.text

    await user.send_text("地址错了，应该是6栋2单元301")
    summary = await one(user)
    assert "地址：6栋2单元301" in (summary.text or ""), summary.text
    assert summary.buttons(), "the summary again, with its buttons"

    await user.send_text("电话写错了，是13912345678")
    summary = await one(user)
    assert "13912345678" in digits(summary.text), summary.text
    assert "6栋2单元301" in (summary.text or "")

    await user.send_text("时间改成后天上午")
    summary = await one(user)
    assert "后天上午" in (summary.text or ""), summary.text

    filed = await submit(user, summary)
    match = NUMBER.search(filed.text or "")
    assert match, filed.text
    ticket = await ticket_of(db, match.group())
    assert ticket.address == "6栋2单元301"
    assert ticket.phone == "+8613912345678"
    assert ticket.preferred_time_text == "后天上午"
    assert ticket.preferred_time_at is not None
    assert ticket.description == "我家厨房水管漏水了"


async def test_a_correction_without_the_value_asks_for_it_and_a_bad_one_is_refused(
    telegram: FakeTelegram,
) -> None:
    user = telegram.user(71402, first_name="吴", language_code="zh")
    await to_summary(user, "楼道的灯坏了", ["幸福小区5栋", "随时都可以", "13812345678"])
    await user.send_text("地址不对")
    asked = await one(user)
    assert "地址" in (asked.text or "") and "核对" not in (asked.text or ""), asked.text
    await user.send_text("幸福小区7栋")
    summary = await one(user)
    assert "地址：幸福小区7栋" in (summary.text or ""), summary.text

    await user.send_text("电话写错了，是139")
    replies = await user.wait_for_messages(2, timeout=30)
    said = "\n".join(message.text or "" for message in replies)
    assert "139" in said and "电话" in (replies[-1].text or ""), said  # echoed, then asked again


async def test_an_english_correction(
    telegram: FakeTelegram, db: async_sessionmaker[AsyncSession]
) -> None:
    user = telegram.user(71403, first_name="Kim", language_code="en")
    summary = await to_summary(
        user,
        "the light in our stairwell is broken",
        ["Building 3, Xingfu Estate", "any time", "13812345678"],
    )
    await user.send_text("The phone number is wrong, it's 13912345678")
    summary = await one(user)
    assert "13912345678" in digits(summary.text), summary.text
    await user.send_text("change the time to Saturday morning")
    summary = await one(user)
    assert "Saturday morning" in (summary.text or ""), summary.text
    filed = await submit(user, summary, "Submit")
    match = NUMBER.search(filed.text or "")
    assert match, filed.text
    ticket = await ticket_of(db, match.group())
    assert ticket.phone == "+8613912345678"
    assert ticket.preferred_time_text == "Saturday morning"


async def test_a_correction_in_the_web_chat(
    web_url: str, db: async_sessionmaker[AsyncSession]
) -> None:
    headers = {CSRF_HEADER: "1", "Accept-Language": "zh-CN"}
    async with httpx.AsyncClient(
        base_url=web_url, timeout=httpx.Timeout(90.0), headers=headers
    ) as chat:

        async def say(text: str) -> dict[str, Any]:
            response = await chat.post("/chat/api/message", json={"text": text})
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            return body

        def shown(body: dict[str, Any]) -> str:
            return "\n".join(str(reply["text"]) for reply in body["replies"])

        await say("卫生间的灯不亮了")
        await say("幸福小区8栋1单元202")
        await say("随时都可以")
        photo = await say("13812345678")
        skip = next(
            button["payload"]
            for reply in photo["replies"]
            for row in reply["rows"]
            for button in row
            if "跳过" in button["title"]
        )
        response = await chat.post("/chat/api/press", json={"payload": skip})
        assert "8栋1单元202" in shown(response.json())
        corrected = shown(await say("门牌号写错了，应该是8栋1单元302"))
        assert "地址：8栋1单元302" in corrected, corrected


def test_a_correction_in_the_terminal_chat(stack: Settings) -> None:
    script = "\n".join(
        [
            "我家厨房水管漏水了",
            "幸福小区3栋2单元501",
            "明天下午三点",
            "13812345678",
            "1",  # skip the photo
            "地址错了，应该是幸福小区3栋2单元601",
            "/quit",
        ]
    )
    output = run_orders(["chat", "--user", "cli-correct"], stack, script + "\n", timeout=120)
    summaries = [part for part in output.split("请核对您的申请") if "地址：" in part]
    assert len(summaries) == 2, output
    assert "地址：幸福小区3栋2单元601" in summaries[-1], output


def test_the_engine_reads_corrections_as_change_field(stack: Settings) -> None:
    lines = ["地址错了，应该是6栋2单元301", "the phone number is wrong", "我想把阳台改成封闭的"]
    output = run_orders(["classify"], stack, "\n".join(lines) + "\n", timeout=120)
    rows = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert [row["intent"] for row in rows[:2]] == ["change_field", "change_field"], rows
    assert rows[2]["intent"] != "change_field", rows
