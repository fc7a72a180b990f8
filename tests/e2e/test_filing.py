"""A resident files a request in Telegram, through the real bot, engine, actions and
database; the test then reads the ticket back and checks every field."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from config.settings import Settings
from services import Resident, Ticket, TicketEvent
from services.parsing import SMALL_HOURS_END
from tests.fakes.telegram import BotMessage, FakeTelegram, FakeUser

NUMBER = re.compile(r"RO-\d{6}-\d{4,}")
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x02\x00\x00\x00"
    + b"\x00" * 64
)


async def one(user: FakeUser) -> BotMessage:
    """The next single message the bot sends this user."""
    [message] = await user.wait_for_messages(1, timeout=30)
    return message


async def submit(user: FakeUser, summary: BotMessage, title: str | None = None) -> BotMessage:
    """Press the summary's submit button (the first, or the one titled so) and return the
    reply that files the ticket. When a neighbour's open ticket looks like the same
    problem (other tests in the session filed it), "file mine" is pressed first."""
    data = summary.button(title)[1] if title else summary.buttons()[0][1]
    await user.press(summary, data)
    reply = await one(user)
    if any(payload.startswith("/join_ticket") for _, payload in reply.buttons()):
        await user.press(reply, "/confirm_submit")
        reply = await one(user)
    return reply


async def file_request(user: FakeUser, need: str, answers: list[str]) -> str:
    """Fill in the whole form by typing (address, time, phone), skip the photo, submit;
    return the ticket number the bot gives."""
    await user.send_text(need)
    await one(user)
    for answer in answers:
        await user.send_text(answer)
        last = await one(user)
    await user.press(last, last.buttons()[0][1])  # skip the photo
    summary = await one(user)
    filed = await submit(user, summary)
    match = NUMBER.search(filed.text or "")
    assert match, filed.text
    return match.group()


async def ticket_of(db: async_sessionmaker[AsyncSession], number: str) -> Ticket:
    async with db() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.number == number))
        assert ticket is not None, number
        return ticket


async def events_of(db: async_sessionmaker[AsyncSession], ticket: Ticket) -> list[str]:
    async with db() as session:
        rows = await session.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
        )
        return [f"{e.from_status}->{e.to_status}" for e in rows]


async def test_chinese_resident_with_location_contact_and_photo(
    telegram: FakeTelegram, db: async_sessionmaker[AsyncSession], stack: Settings
) -> None:
    user = telegram.user(71001, first_name="王阿姨", language_code="zh-hans")
    await user.send_text("我家厨房水管漏水了")
    ask_address = await one(user)
    assert "地址" in (ask_address.text or "")
    keyboard = ask_address.reply_keyboard() or []
    assert any(button.get("request_location") for button in keyboard)

    await user.send_location(31.2304, 121.4737)
    assert "时间" in ((await one(user)).text or "")
    await user.send_text("明天下午三点")
    ask_phone = await one(user)
    assert any(button.get("request_contact") for button in ask_phone.reply_keyboard() or [])
    await user.send_contact("8613812345678")
    ask_photo = await one(user)
    assert "照片" in (ask_photo.text or "")
    await user.send_photo(PNG)
    summary = await one(user)
    text = summary.text or ""
    assert "维修" in text and "我家厨房水管漏水了" in text and "138 1234 5678" in text
    assert "31.23040" in text and "已附照片" in text

    filed = await submit(user, summary, "提交")
    match = NUMBER.search(filed.text or "")
    assert match, filed.text
    ticket = await ticket_of(db, match.group())

    assert ticket.category_code == "repair"
    assert ticket.description == "我家厨房水管漏水了"
    assert ticket.address is None
    assert (ticket.latitude, ticket.longitude) == (31.2304, 121.4737)
    assert ticket.preferred_time_text == "明天下午三点"
    assert ticket.preferred_time_at is not None
    local = ticket.preferred_time_at.astimezone(ZoneInfo("Asia/Shanghai"))
    created_local = ticket.created_at.astimezone(ZoneInfo("Asia/Shanghai"))
    assert (local.hour, local.minute) == (15, 0)
    # "明天" said before 05:00 is the day that is starting (services.parsing.SMALL_HOURS_END).
    ahead = 0 if created_local.hour < SMALL_HOURS_END else 1
    assert local.date() == created_local.date() + timedelta(days=ahead)
    assert ticket.phone == "+8613812345678"
    assert ticket.photo_path is not None
    assert (stack.photos_dir / ticket.photo_path).read_bytes() == PNG
    assert (ticket.language, ticket.channel, ticket.status) == ("zh", "telegram", "published")
    assert await events_of(db, ticket) == ["None->submitted", "submitted->published"]
    async with db() as session:
        resident = await session.get(Resident, ticket.resident_id)
        assert resident is not None
        assert (resident.channel, resident.external_id) == ("telegram", "71001")

    # /status goes straight to the services and lists the ticket with its status.
    await user.send_text("/status")
    status = await one(user)
    assert match.group() in (status.text or "") and "待接单" in (status.text or "")


async def test_english_resident_typing_with_bad_phone_and_address_change(
    telegram: FakeTelegram, db: async_sessionmaker[AsyncSession]
) -> None:
    user = telegram.user(71002, first_name="Mary", language_code="en")
    await user.send_text("my 80-year-old mother needs someone to check on her")
    assert "address" in ((await one(user)).text or "").lower()
    await user.send_text("Flat 501, Building 3, Xingfu Estate, 88 Xingfu Road")
    assert "when" in ((await one(user)).text or "").lower()
    await user.send_text("tomorrow afternoon")
    assert "phone" in ((await one(user)).text or "").lower()

    await user.send_text("12345")
    invalid, ask_again = await user.wait_for_messages(2)
    assert "12345" in (invalid.text or "") and "doesn't look right" in (invalid.text or "")
    assert "phone" in (ask_again.text or "").lower()
    await user.send_text("138 1234 5678")
    ask_photo = await one(user)
    await user.press(ask_photo, ask_photo.button("Skip")[1])
    summary = await one(user)
    assert "Elder care" in (summary.text or "")

    # Changing the address asks for the address only and keeps the other answers.
    await user.press(summary, summary.button("Edit address")[1])
    assert "address" in ((await one(user)).text or "").lower()
    await user.send_text("Room 1202, Building 7, Heping Garden")
    summary = await one(user)
    text = summary.text or ""
    assert "Heping Garden" in text and "Xingfu" not in text
    assert "tomorrow afternoon" in text and "138 1234 5678" in text

    filed = await submit(user, summary, "Submit")
    match = NUMBER.search(filed.text or "")
    assert match and "Submitted" in (filed.text or ""), filed.text
    ticket = await ticket_of(db, match.group())
    assert ticket.category_code == "elder_care"
    assert ticket.description == "my 80-year-old mother needs someone to check on her"
    assert ticket.address == "Room 1202, Building 7, Heping Garden"
    assert ticket.latitude is None and ticket.photo_path is None
    assert ticket.preferred_time_text == "tomorrow afternoon"
    assert ticket.preferred_time_at is not None
    assert ticket.phone == "+8613812345678"
    assert (ticket.language, ticket.status) == ("en", "published")

    # Pressing submit again (a double press) files nothing new.
    await user.press(summary, "/confirm_submit", stale=True)
    again = await one(user)
    async with db() as session:
        tickets = (
            await session.scalars(select(Ticket).where(Ticket.resident_id == ticket.resident_id))
        ).all()
    assert len(tickets) == 1, again.text


async def test_a_misread_category_is_changed_at_the_summary(
    telegram: FakeTelegram, db: async_sessionmaker[AsyncSession]
) -> None:
    user = telegram.user(71010, language_code="zh")
    await user.send_text("我家厨房水管漏水了")
    for answer in ("幸福小区3栋2单元501", "明天上午", "13812345678"):
        await one(user)
        await user.send_text(answer)
    ask_photo = await one(user)
    await user.press(ask_photo, ask_photo.button("跳过")[1])
    summary = await one(user)
    assert "类别：维修" in (summary.text or "")

    await user.press(summary, summary.button("改类别")[1])
    choices = await one(user)
    titles = [title for title, _ in choices.buttons()]
    assert len(titles) == 11 and "✓ 维修" in titles, titles
    await user.press(choices, choices.button("物业")[1])
    summary = await one(user)
    text = summary.text or ""
    assert "类别：物业" in text and "我家厨房水管漏水了" in text and "幸福小区3栋2单元501" in text

    match = NUMBER.search((await submit(user, summary, "提交")).text or "")
    assert match
    ticket = await ticket_of(db, match.group())
    assert (ticket.category_code, ticket.description) == ("property", "我家厨房水管漏水了")


async def test_cancel_leaves_the_form_and_files_nothing(
    telegram: FakeTelegram, db: async_sessionmaker[AsyncSession]
) -> None:
    user = telegram.user(71003, language_code="zh")
    await user.send_text("楼道灯不亮好几天了")
    assert "地址" in ((await one(user)).text or "")
    await user.send_text("/cancel")
    assert "已取消" in ((await one(user)).text or "")
    # The form is gone: the next message is understood afresh, not taken as an address.
    await user.send_text("你好")
    assert "社区服务" in ((await one(user)).text or "")
    await user.send_text("/status")
    assert "还没有提交过工单" in ((await one(user)).text or "")


async def test_commands_are_registered_in_both_languages(telegram: FakeTelegram) -> None:
    await telegram.wait_until(lambda: "en" in telegram.commands, 10, "setMyCommands en")
    for language in (None, "zh", "en"):
        names = {command["command"] for command in telegram.commands[language]}
        assert names == {"start", "help", "new", "status", "cancel", "lang"}
    assert telegram.commands["en"][0]["description"] == "Get started"


async def test_lang_choice_switches_replies(telegram: FakeTelegram) -> None:
    user = telegram.user(71004, language_code="zh")
    await user.send_text("/lang")
    menu = await one(user)
    await user.press(menu, menu.button("English")[1])
    assert "English" in ((await one(user)).text or "")
    await user.send_text("/start")
    assert "community services assistant" in ((await one(user)).text or "")


async def test_cancel_offers_open_tickets_and_cancels_one(
    telegram: FakeTelegram, db: async_sessionmaker[AsyncSession]
) -> None:
    user = telegram.user(71005, language_code="en")
    answers = ["12 Heping Road, Building 2", "Monday morning", "13700001111"]
    number = await file_request(user, "how do I apply for the old-age allowance", answers)
    match = NUMBER.search(number)
    assert match

    await user.send_text("/cancel")
    offer = await one(user)
    # The only open ticket, shown as "category · need · filed", to confirm (issue 12).
    assert (offer.text or "").startswith("Cancel this ticket?\nPolicy")
    assert match.group() in (offer.text or "")
    _, data = offer.button("Yes, cancel it")
    assert data == f"t:cancel:{match.group()}"
    await user.press(offer, data)
    assert "has been cancelled" in ((await one(user)).text or "")
    ticket = await ticket_of(db, match.group())
    assert ticket.status == "cancelled"
    assert (await events_of(db, ticket))[-1].endswith("->cancelled")

    # The same button pressed again answers with the ticket's state, not an error,
    # and changes nothing.
    before = await events_of(db, ticket)
    await user.press(offer, data, stale=True)
    assert "has been cancelled" in ((await one(user)).text or "")
    assert await events_of(db, ticket) == before


async def test_new_drops_the_form_and_asks_for_the_need(telegram: FakeTelegram) -> None:
    user = telegram.user(71006, language_code="zh")
    await user.send_text("孩子放学没人接，有没有托管")
    assert "地址" in ((await one(user)).text or "")
    await user.send_text("/new")
    assert "需要什么帮助" in ((await one(user)).text or "")
    await user.send_text("我妈一个人住，想找人定期上门看看她")
    assert "地址" in ((await one(user)).text or "")
