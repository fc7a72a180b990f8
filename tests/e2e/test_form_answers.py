"""Answers that read as the field the form asks for fill it, whatever the classifier
makes of them (issue 12): a landline with dashes and spaces while the phone is asked
(it looked like a status query), "这周六下午" while the time is asked (it looked like a
request for help). Through the real bot, engine, actions and database."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.e2e.test_filing import NUMBER, one, submit, ticket_of
from tests.fakes.telegram import FakeTelegram


async def test_a_landline_and_this_saturday_afternoon_are_taken_as_answers(
    telegram: FakeTelegram, db: async_sessionmaker[AsyncSession]
) -> None:
    user = telegram.user(71301, first_name="王", language_code="zh")
    await user.send_text("我家厨房水管漏水了")
    assert "地址" in ((await one(user)).text or "")
    await user.send_text("幸福小区3栋2单元501")
    assert "时间" in ((await one(user)).text or "")
    await user.send_text("这周六下午")
    asked_phone = (await one(user)).text or ""
    assert "电话" in asked_phone, asked_phone
    await user.send_text("021-6234 5678")
    ask_photo = await one(user)
    assert ask_photo.buttons(), ask_photo.text
    await user.press(ask_photo, ask_photo.buttons()[0][1])  # skip the photo
    summary = await one(user)
    assert "这周六下午" in (summary.text or ""), summary.text
    filed = await submit(user, summary)
    match = NUMBER.search(filed.text or "")
    assert match, filed.text
    ticket = await ticket_of(db, match.group())
    assert ticket.phone == "+862162345678"
    assert ticket.preferred_time_text == "这周六下午"
    assert ticket.preferred_time_at is not None


async def test_an_english_landline_with_an_extension(
    telegram: FakeTelegram, db: async_sessionmaker[AsyncSession]
) -> None:
    user = telegram.user(71302, first_name="Ann", language_code="en")
    await user.send_text("the light in our stairwell is broken")
    assert "address" in ((await one(user)).text or "").lower()
    await user.send_text("Flat 501, Building 3, Xingfu Estate, 88 Xingfu Road")
    assert "when" in ((await one(user)).text or "").lower()
    await user.send_text("Saturday morning")
    assert "phone" in ((await one(user)).text or "").lower()
    await user.send_text("(021) 6234-5678 ext. 801")
    ask_photo = await one(user)
    await user.press(ask_photo, ask_photo.button("Skip")[1])
    summary = await one(user)
    filed = await submit(user, summary, "Submit")
    match = NUMBER.search(filed.text or "")
    assert match, filed.text
    ticket = await ticket_of(db, match.group())
    assert ticket.phone == "+862162345678"


async def test_a_question_while_asked_for_the_address_is_answered_and_asked_again(
    telegram: FakeTelegram, db: async_sessionmaker[AsyncSession]
) -> None:
    user = telegram.user(71303, first_name="李", language_code="zh")
    await user.send_text("我家厨房水管漏水了")
    assert "地址" in ((await one(user)).text or "")
    await user.send_text("上门要收费吗？")
    replies = await user.wait_for_messages(2, timeout=30)
    text = "\n".join(message.text or "" for message in replies)
    assert "不用付费" in text and "地址" in (replies[-1].text or ""), text
    await user.send_text("幸福小区3栋2单元501")
    assert "时间" in ((await one(user)).text or "")
    await user.send_text("随时都可以")
    assert "电话" in ((await one(user)).text or "")
    await user.send_text("13812345678")
    ask_photo = await one(user)
    await user.press(ask_photo, ask_photo.buttons()[0][1])
    summary = await one(user)
    assert "收费" not in (summary.text or "") and "幸福小区3栋2单元501" in (summary.text or "")
