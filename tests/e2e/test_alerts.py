"""Emergencies and requests for a person: told what to do at once, and a staff ticket."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services import Resident, Ticket
from tests.e2e.test_filing import one
from tests.fakes.telegram import FakeTelegram


async def tickets_of(db: async_sessionmaker[AsyncSession], external_id: str) -> list[Ticket]:
    async with db() as session:
        rows = await session.scalars(
            select(Ticket)
            .join(Resident, Resident.id == Ticket.resident_id)
            .where(Resident.external_id == external_id)
        )
        return list(rows)


async def test_emergency_answers_with_the_numbers_and_records_an_urgent_ticket(
    telegram: FakeTelegram, db: async_sessionmaker[AsyncSession]
) -> None:
    user = telegram.user(73001, language_code="zh")
    await user.send_text("家里好大一股煤气味，怎么办")
    advice, filed = await user.wait_for_messages(2, timeout=30)
    text = advice.text or ""
    # Gas: the fire brigade first, the others after; plain digits Telegram makes tappable.
    assert text.index("119") < text.index("120") < text.index("110"), text
    assert "阀门" in text
    await user.assert_no_messages(within=1.0)  # no form question follows
    [ticket] = await tickets_of(db, "73001")
    assert (ticket.kind, ticket.urgent, ticket.status) == ("emergency", True, "submitted")
    assert ticket.description == "家里好大一股煤气味，怎么办"
    # Nothing known about this resident: the number, then one question for phone and place.
    assert ticket.number in (filed.text or "") and "电话" in (filed.text or "")


async def test_a_fall_gets_the_ambulance_first_and_the_known_phone_on_the_ticket(
    telegram: FakeTelegram, db: async_sessionmaker[AsyncSession]
) -> None:
    user = telegram.user(73003, language_code="zh")
    await user.send_text("我电话是13812345678，住幸福里3栋2单元301")
    await user.wait_for_messages(1, timeout=30)
    await user.send_text("我老伴摔倒了起不来，头在流血")
    messages = await user.wait_for_messages(2, timeout=30)
    advice = messages[0].text or ""
    assert advice.index("120") < advice.index("119") and "燃气" not in advice, advice
    [ticket] = [t for t in await tickets_of(db, "73003") if t.kind == "emergency"]
    assert ticket.phone == "+8613812345678"
    assert ticket.number in (messages[1].text or "")


async def test_emergency_in_english_calls_the_police_first(
    telegram: FakeTelegram, db: async_sessionmaker[AsyncSession]
) -> None:
    user = telegram.user(73004, language_code="en")
    await user.send_text("Help! Someone is attacking my neighbour with a knife")
    advice, filed = await user.wait_for_messages(2, timeout=30)
    text = advice.text or ""
    assert text.index("110") < text.index("120"), text
    [ticket] = await tickets_of(db, "73004")
    assert ticket.number in (filed.text or "")


async def test_asking_for_a_person_files_the_conversation_for_staff(
    telegram: FakeTelegram, db: async_sessionmaker[AsyncSession]
) -> None:
    user = telegram.user(73002, language_code="zh")
    await user.send_text("你好")
    await one(user)
    await user.send_text("找人工")
    said, filed = await user.wait_for_messages(2, timeout=30)
    assert "工作人员" in (said.text or "")
    [ticket] = await tickets_of(db, "73002")
    assert (ticket.kind, ticket.category_code) == ("handoff", None)
    # The street's hotline (no community known yet) and the ticket number.
    assert "021-62345000" in (filed.text or "") and ticket.number in (filed.text or "")
    assert ticket.description == "找人工"
    await user.send_text("/status")
    assert "人工协助" in ((await one(user)).text or "")


async def test_the_phone_and_place_asked_for_complete_the_emergency_ticket(
    telegram: FakeTelegram, db: async_sessionmaker[AsyncSession]
) -> None:
    # A typed phone reads as out of scope and an address as a property request: both are
    # the answer to the emergency's question, and go on its ticket.
    user = telegram.user(73011, language_code="zh")
    await user.send_text("煤气味很大")
    _, asked = await user.wait_for_messages(2, timeout=30)
    [ticket] = await tickets_of(db, "73011")
    assert ticket.number in (asked.text or "") and ticket.phone is None
    await user.send_text("13812345678")
    added = await one(user)
    assert ticket.number in (added.text or "") and "值班人员" in (added.text or ""), added.text
    await user.assert_no_messages(within=1.0)  # no "sorry" and no form after it
    [ticket] = await tickets_of(db, "73011")
    assert ticket.phone == "+8613812345678"
    # Asked once: the next message is an ordinary one again.
    await user.send_text("幸福小区3栋2单元501")
    follow = await one(user)
    assert "紧急" not in (follow.text or ""), follow.text


async def test_a_pin_after_an_english_emergency_goes_on_its_ticket(
    telegram: FakeTelegram, db: async_sessionmaker[AsyncSession]
) -> None:
    user = telegram.user(73012, language_code="en")
    await user.send_text("there is smoke coming from the flat next door")
    _, asked = await user.wait_for_messages(2, timeout=30)
    assert "location" in (asked.text or "").lower(), asked.text
    await user.send_location(31.2304, 121.4737)
    added = await one(user)
    assert "staff on duty" in (added.text or ""), added.text
    [ticket] = await tickets_of(db, "73012")
    assert (ticket.latitude, ticket.longitude) == (31.2304, 121.4737)
