"""Emergencies and requests for a person: told what to do at once, and a staff ticket."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services import Resident, Ticket
from tests.e2e.test_filing import one
from tests.fakes.telegram_api import FakeTelegram


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
    reply = (await one(user)).text or ""
    assert "119" in reply and "120" in reply and "110" in reply
    await user.assert_no_messages(within=1.0)  # no form question follows
    [ticket] = await tickets_of(db, "73001")
    assert (ticket.kind, ticket.urgent, ticket.status) == ("emergency", True, "submitted")
    assert ticket.description == "家里好大一股煤气味，怎么办"


async def test_asking_for_a_person_files_the_conversation_for_staff(
    telegram: FakeTelegram, db: async_sessionmaker[AsyncSession]
) -> None:
    user = telegram.user(73002, language_code="zh")
    await user.send_text("你好")
    await one(user)
    await user.send_text("找人工")
    assert "工作人员" in ((await one(user)).text or "")
    [ticket] = await tickets_of(db, "73002")
    assert (ticket.kind, ticket.urgent, ticket.category_code) == ("handoff", False, None)
    assert ticket.description == "你好\n找人工"
    await user.send_text("/status")
    assert "人工协助" in ((await one(user)).text or "")
