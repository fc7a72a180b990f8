"""The first question of a request says what was understood ("收到，这是维修方面的需求。"),
a pin sent for the address is acknowledged as the address, and a greeting before the
need is not kept in it (issue 12, Minor). Real bot, engine, actions and database."""

from __future__ import annotations

from tests.e2e.test_filing import one
from tests.fakes.telegram import FakeTelegram


async def test_the_first_question_says_what_was_understood_and_the_pin_is_taken(
    telegram: FakeTelegram,
) -> None:
    user = telegram.user(71501, first_name="郑", language_code="zh")
    await user.send_text("你好，我家厨房水管漏水了")
    first = (await one(user)).text or ""
    assert first.startswith("收到，这是维修方面的需求。") and "地址" in first, first
    await user.send_location(31.2304, 121.4737)
    second = (await one(user)).text or ""
    assert second.startswith("📍 定位收到了") and "时间" in second, second
    await user.send_text("随时都可以")
    third = (await one(user)).text or ""
    assert "电话" in third and "收到" not in third, third  # said once, with one question
    await user.send_text("13812345678")
    photo = await one(user)
    await user.press(photo, photo.buttons()[0][1])
    summary = (await one(user)).text or ""
    assert "需求：我家厨房水管漏水了" in summary, summary


async def test_in_english(telegram: FakeTelegram) -> None:
    user = telegram.user(71502, first_name="Lee", language_code="en")
    await user.send_text("Hello! My mother is 85 and lives alone, could someone visit her?")
    first = (await one(user)).text or ""
    assert first.startswith("Got it: this is a request for Elder care.") and "address" in first, (
        first
    )
