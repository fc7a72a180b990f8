"""A returning resident is offered the phone and the address of their last ticket
(issue 12): "还是上次的地址「…」吗？", "还用 138 1234 5678 吗？", use it or give another.
Through the real bot, engine, actions and database."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.e2e.test_filing import NUMBER, file_request, one, submit, ticket_of
from tests.fakes.telegram import FakeTelegram

Sessions = async_sessionmaker[AsyncSession]


async def test_a_returning_resident_uses_the_phone_and_address_of_the_last_ticket(
    telegram: FakeTelegram, db: Sessions
) -> None:
    user = telegram.user(71601, first_name="赵", language_code="zh")
    answers = ["幸福小区3栋2单元501", "随时都可以", "13812345678"]
    first = await ticket_of(db, await file_request(user, "我家厨房水管漏水了", answers))
    assert first.phone == "+8613812345678"

    await user.send_text("楼道灯不亮好几天了")
    offer = await one(user)
    assert (offer.text or "").endswith("还是上次的地址「幸福小区3栋2单元501」吗？"), offer.text
    await user.press(offer, offer.button("就用这个地址")[1])
    assert "时间" in ((await one(user)).text or "")
    await user.send_text("明天上午")
    offer = await one(user)
    assert offer.text == "还用 138 1234 5678 吗？", offer.text
    assert "+86" not in (offer.text or "")
    await user.press(offer, offer.button("用这个号码")[1])
    ask_photo = await one(user)
    assert "照片" in (ask_photo.text or ""), ask_photo.text
    await user.press(ask_photo, ask_photo.button("跳过")[1])
    summary = await one(user)
    text = summary.text or ""
    assert "地址：幸福小区3栋2单元501" in text and "电话：138 1234 5678" in text, text
    filed = await submit(user, summary, "提交")
    match = NUMBER.search(filed.text or "")
    assert match, filed.text
    second = await ticket_of(db, match.group())
    assert second.id != first.id
    assert (second.address, second.phone) == ("幸福小区3栋2单元501", "+8613812345678")


async def test_a_returning_resident_says_yes_in_words_or_asks_for_another_number(
    telegram: FakeTelegram, db: Sessions
) -> None:
    user = telegram.user(71602, first_name="钱", language_code="zh")
    answers = ["和平里5号楼2单元101", "周六上午", "021-6234 5678"]
    await file_request(user, "我家厨房水管漏水了", answers)

    await user.send_text("楼道灯不亮好几天了")
    offer = await one(user)
    assert "和平里5号楼2单元101" in (offer.text or ""), offer.text
    await user.send_text("对")
    assert "时间" in ((await one(user)).text or "")
    await user.send_text("随时都可以")
    offer = await one(user)
    assert offer.text == "还用 021 6234 5678 吗？", offer.text
    await user.press(offer, offer.button("换一个号码")[1])
    usual = await one(user)  # the usual question, with its share-contact keyboard
    assert "联系电话" in (usual.text or ""), usual.text
    assert any(button.get("request_contact") for button in usual.reply_keyboard() or [])
    await user.send_text("139 1234 5678")
    ask_photo = await one(user)
    await user.press(ask_photo, ask_photo.button("跳过")[1])
    summary = await one(user)
    assert "电话：139 1234 5678" in (summary.text or ""), summary.text
    filed = await submit(user, summary, "提交")
    match = NUMBER.search(filed.text or "")
    assert match, filed.text
    ticket = await ticket_of(db, match.group())
    assert (ticket.address, ticket.phone) == ("和平里5号楼2单元101", "+8613912345678")


async def test_an_english_resident_gives_another_address_and_types_another_number(
    telegram: FakeTelegram, db: Sessions
) -> None:
    user = telegram.user(71603, first_name="Tom", language_code="en")
    answers = ["Flat 501, Building 3, Xingfu Estate", "Saturday morning", "13812345678"]
    await file_request(user, "the light in our stairwell is broken", answers)

    await user.send_text("my kitchen pipe is leaking")
    offer = await one(user)
    assert (offer.text or "").endswith(
        'Same address as last time, "Flat 501, Building 3, Xingfu Estate"?'
    ), offer.text
    await user.press(offer, offer.button("Another address")[1])
    usual = await one(user)  # the usual question, with its send-location keyboard
    assert "address" in (usual.text or "").lower(), usual.text
    assert any(button.get("request_location") for button in usual.reply_keyboard() or [])
    await user.send_text("Room 1202, Building 7, Heping Garden")
    assert "when" in ((await one(user)).text or "").lower()
    await user.send_text("tomorrow afternoon")
    offer = await one(user)
    assert offer.text == "Shall we use 138 1234 5678 again?", offer.text
    await user.send_text("021-6234 5678")  # a number typed at the offer is the new phone
    ask_photo = await one(user)
    await user.press(ask_photo, ask_photo.button("Skip")[1])
    summary = await one(user)
    text = summary.text or ""
    assert "Address: Room 1202, Building 7, Heping Garden" in text, text
    assert "Phone: 021 6234 5678" in text, text
    filed = await submit(user, summary, "Submit")
    match = NUMBER.search(filed.text or "")
    assert match, filed.text
    ticket = await ticket_of(db, match.group())
    assert (ticket.address, ticket.phone) == (
        "Room 1202, Building 7, Heping Garden",
        "+862162345678",
    )

    # The third request offers what the second one carried.
    await user.send_text("the light in our stairwell is broken again")
    offer = await one(user)
    assert "Room 1202, Building 7, Heping Garden" in (offer.text or ""), offer.text
    await user.press(offer, offer.button("Use this address")[1])
    assert "when" in ((await one(user)).text or "").lower()
    await user.send_text("any time")
    offer = await one(user)
    assert offer.text == "Shall we use 021 6234 5678 again?", offer.text
    await user.send_text("yes")
    assert "photo" in ((await one(user)).text or "").lower()
