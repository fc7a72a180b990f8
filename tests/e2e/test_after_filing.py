"""After filing, through the real bot, engine, actions and database: "has anyone taken
it?" is answered about the ticket with the time it has waited, and after the stars the
next plain text (no reply-to) is stored as the rating's comment."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from i18n import t
from services import NewTicket, Ticket, file_ticket, workflow
from services.parties import create_organisation
from services.tickets import get_or_create_resident, get_ticket
from tests.e2e.test_lifecycle import expect, expect_button
from tests.fakes.telegram import FakeTelegram

Sessions = async_sessionmaker[AsyncSession]


async def _ticket_for(db: Sessions, user_id: int, language: str) -> Ticket:
    async with db() as session, session.begin():
        resident = await get_or_create_resident(
            session, channel="telegram", external_id=str(user_id)
        )
        return (
            await file_ticket(
                session,
                resident=resident,
                request=NewTicket(
                    category_code="repair",
                    description="厨房水管漏水" if language == "zh" else "the kitchen pipe leaks",
                    address="幸福小区3栋501",
                    latitude=None,
                    longitude=None,
                    preferred_time_text=None,
                    preferred_time_at=None,
                    phone="+8613812345678",
                    photo_path=None,
                    language=language,
                    idempotency_key=None,
                ),
            )
        ).ticket


async def test_has_anyone_taken_it_is_answered_with_the_wait(
    telegram: FakeTelegram, db: Sessions
) -> None:
    user = telegram.user(71201, first_name="李阿姨", language_code="zh-hans")
    ticket = await _ticket_for(db, 71201, "zh")
    await user.send_text("有人接了吗")
    listed, answer = await user.wait_for_messages(2, timeout=30)
    assert ticket.number in (listed.text or "")
    assert (answer.text or "").startswith(f"{ticket.number}：还没有机构接单，已经等了")
    assert "超过 24 小时社区会催办" in (answer.text or "")

    english = telegram.user(71202, first_name="Tom", language_code="en")
    other = await _ticket_for(db, 71202, "en")
    await english.send_text("has anyone taken my request yet")
    _, answer = await english.wait_for_messages(2, timeout=30)
    assert (answer.text or "").startswith(f"{other.number}: no organisation has taken it yet")


async def test_the_text_after_the_stars_is_the_comment(
    telegram: FakeTelegram, db: Sessions
) -> None:
    user = telegram.user(71203, first_name="张师傅", language_code="zh-hans")
    ticket = await _ticket_for(db, 71203, "zh")
    async with db() as session, session.begin():
        organisation, _ = await create_organisation(
            session, name=f"安心维修{uuid.uuid4().hex[:6]}", categories=["repair"], communities=None
        )
        await workflow.claim(session, number=ticket.number, organisation=organisation)
        await workflow.done(session, number=ticket.number, organisation=organisation)
        resident = await get_or_create_resident(session, channel="telegram", external_id="71203")
        await workflow.rate(session, number=ticket.number, resident=resident, stars=5)
    await user.send_text("师傅很准时，谢谢")
    [thanked] = await user.wait_for_messages(1, timeout=30)
    assert thanked.text == t("ack_comment", "zh")
    async with db() as session:
        stored = await get_ticket(session, ticket.number)
    assert (stored.rating, stored.rating_comment) == (5, "师傅很准时，谢谢")


async def _described(db: Sessions, user_id: int, language: str, category: str, need: str) -> Ticket:
    ticket = await _ticket_for(db, user_id, language)
    async with db() as session, session.begin():
        row = await get_ticket(session, ticket.number)
        row.category_code = category
        row.description = need
    return row


async def test_cancel_in_words_picks_the_named_ticket_and_asks_first(
    telegram: FakeTelegram, db: Sessions
) -> None:
    user = telegram.user(71204, first_name="王阿姨", language_code="zh-hans")
    repair = await _described(db, 71204, "zh", "repair", "厨房水管漏水")
    cleaning = await _described(db, 71204, "zh", "housekeeping", "想请人打扫卫生")
    await user.send_text("那个修水管的不用来了")
    asked = await expect_button(user, f"t:cancel:{repair.number}")
    assert (asked.text or "").startswith("要取消这张工单吗？\n维修 · 厨房水管漏水 · 今天 ")
    assert f"t:keep:{repair.number}" in [data for _, data in asked.buttons()]
    async with db() as session:
        assert (await get_ticket(session, repair.number)).status == "published"
    await user.press(asked, f"t:cancel:{repair.number}")
    done = await expect(user, repair.number)
    assert done.text == t("ticket_cancelled", "zh", number=repair.number)
    async with db() as session:
        assert (await get_ticket(session, repair.number)).status == "cancelled"
        assert (await get_ticket(session, cleaning.number)).status == "published"

    english = telegram.user(71205, first_name="Ann", language_code="en")
    await _described(db, 71205, "en", "repair", "the kitchen pipe leaks")
    clean = await _described(db, 71205, "en", "housekeeping", "cleaning of the whole flat")
    await english.send_text("please cancel the cleaning, I don't need it any more")
    asked = await expect_button(english, f"t:keep:{clean.number}")
    assert (asked.text or "").startswith("Cancel this ticket?\nHousekeeping and home help · ")
    await english.press(asked, f"t:keep:{clean.number}")
    kept = await expect(english, clean.number)
    assert kept.text == t("cancel_kept", "en", number=clean.number)
    async with db() as session:
        assert (await get_ticket(session, clean.number)).status == "published"


async def test_a_rating_and_a_not_fixed_in_words(telegram: FakeTelegram, db: Sessions) -> None:
    user = telegram.user(71206, first_name="赵师傅", language_code="zh-hans")
    ticket = await _described(db, 71206, "zh", "repair", "马桶堵了")
    async with db() as session, session.begin():
        organisation, _ = await create_organisation(
            session, name=f"通达维修{uuid.uuid4().hex[:6]}", categories=["repair"], communities=None
        )
        await workflow.claim(session, number=ticket.number, organisation=organisation)
        await workflow.done(session, number=ticket.number, organisation=organisation)
    await user.send_text("马桶又堵了，没修好")
    offer = await expect_button(user, f"r:nf:{ticket.number}")
    assert "没有解决" in (offer.text or "") and ticket.number in (offer.text or "")
    await user.send_text("师傅修好了，给五星好评")
    offer = await expect_button(user, f"r:rate:{ticket.number}:5")
    assert (offer.text or "").startswith("给这张工单打 5★ 吗？")
    await user.press(offer, f"r:rate:{ticket.number}:5")
    await expect(user, "5★")
    async with db() as session:
        stored = await get_ticket(session, ticket.number)
    assert (stored.status, stored.rating) == ("closed", 5)


async def test_a_crying_emoji_is_not_thanked(telegram: FakeTelegram) -> None:
    user = telegram.user(71207, first_name="孙奶奶", language_code="zh-hans")
    await user.send_text("😭😭😭🙏")
    [reply] = await user.wait_for_messages(1, timeout=30)
    assert "不客气" not in (reply.text or "")
    assert (reply.text or "").startswith("别着急")


async def test_an_emergency_after_the_stars_is_no_comment(
    telegram: FakeTelegram, db: Sessions
) -> None:
    user = telegram.user(71208, first_name="周阿姨", language_code="zh-hans")
    ticket = await _ticket_for(db, 71208, "zh")
    async with db() as session, session.begin():
        organisation, _ = await create_organisation(
            session, name=f"安居维修{uuid.uuid4().hex[:6]}", categories=["repair"], communities=None
        )
        await workflow.claim(session, number=ticket.number, organisation=organisation)
        await workflow.done(session, number=ticket.number, organisation=organisation)
        resident = await get_or_create_resident(session, channel="telegram", external_id="71208")
        await workflow.rate(session, number=ticket.number, resident=resident, stars=4)
    await user.send_text("煤气味很大")
    [reply, *_] = await user.wait_for_messages(1, timeout=30)
    assert reply.text != t("ack_comment", "zh")
    assert "119" in (reply.text or "")
    async with db() as session:
        assert (await get_ticket(session, ticket.number)).rating_comment is None
