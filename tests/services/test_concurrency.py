"""Concurrent callers, each in its own session and transaction (these commit)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services import (
    IllegalTransition,
    Resident,
    Ticket,
    TicketEvent,
    TicketStatus,
    file_ticket,
    get_or_create_resident,
    get_ticket,
    make_sessionmaker,
    transition,
)
from services.tickets import NewTicket


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def _file_in_own_transaction(
    engine: AsyncEngine, external_id: str, now: datetime, key: str | None = None
) -> str:
    async with make_sessionmaker(engine)() as session, session.begin():
        resident = await get_or_create_resident(session, channel="cli", external_id=external_id)
        ticket = (
            await file_ticket(
                session,
                resident=resident,
                now=now,
                request=NewTicket(
                    category_code="housekeeping",
                    description="上门理发",
                    address=None,
                    latitude=None,
                    longitude=None,
                    preferred_time_text=None,
                    preferred_time_at=None,
                    phone=None,
                    photo_path=None,
                    language="zh",
                    idempotency_key=key,
                ),
            )
        ).ticket
        return ticket.number


async def test_concurrent_filing_gives_consecutive_unique_numbers(db_engine: AsyncEngine) -> None:
    # A day no other test uses, so the sequence starts at 1.
    now = datetime(2033, 7, 1, 3, 0, tzinfo=UTC)
    numbers = await asyncio.gather(
        *(_file_in_own_transaction(db_engine, _unique("n"), now) for _ in range(20))
    )
    assert len(set(numbers)) == 20
    assert sorted(numbers) == [f"RO-330701-{n:04d}" for n in range(1, 21)]


async def test_concurrent_same_idempotency_key_gives_one_ticket(db_engine: AsyncEngine) -> None:
    key = _unique("key")
    external_id = _unique("idem")
    now = datetime(2033, 7, 2, 3, 0, tzinfo=UTC)
    numbers = await asyncio.gather(
        *(_file_in_own_transaction(db_engine, external_id, now, key) for _ in range(5))
    )
    assert len(set(numbers)) == 1
    async with make_sessionmaker(db_engine)() as session:
        ticket_ids = list(
            await session.scalars(select(Ticket.id).where(Ticket.idempotency_key == key))
        )
        assert len(ticket_ids) == 1
        events = await session.scalar(
            select(func.count())
            .select_from(TicketEvent)
            .where(TicketEvent.ticket_id == ticket_ids[0])
        )
        assert events == 2


async def test_concurrent_get_or_create_resident_gives_one_row(db_engine: AsyncEngine) -> None:
    external_id = _unique("r")

    async def one() -> int:
        async with make_sessionmaker(db_engine)() as session, session.begin():
            resident = await get_or_create_resident(session, channel="web", external_id=external_id)
            return resident.id

    ids = await asyncio.gather(*(one() for _ in range(10)))
    assert len(set(ids)) == 1
    async with make_sessionmaker(db_engine)() as session:
        count = await session.scalar(
            select(func.count()).select_from(Resident).where(Resident.external_id == external_id)
        )
    assert count == 1


async def test_two_concurrent_claims_exactly_one_wins(db_engine: AsyncEngine) -> None:
    number = await _file_in_own_transaction(
        db_engine, _unique("c"), datetime(2033, 7, 3, 3, 0, tzinfo=UTC)
    )

    async def claim(org: str) -> str:
        async with make_sessionmaker(db_engine)() as session, session.begin():
            ticket = await get_ticket(session, number)
            await asyncio.sleep(0)  # let the other claimer read the ticket too
            await transition(session, ticket, TicketStatus.CLAIMED, actor=org)
            return org

    results = await asyncio.gather(claim("org:1"), claim("org:2"), return_exceptions=True)
    winners = [r for r in results if isinstance(r, str)]
    losers = [r for r in results if isinstance(r, BaseException)]
    assert len(winners) == 1
    assert len(losers) == 1 and isinstance(losers[0], IllegalTransition)
    async with make_sessionmaker(db_engine)() as session:
        ticket = await get_ticket(session, number)
        claims = await session.scalars(
            select(TicketEvent.actor).where(
                TicketEvent.ticket_id == ticket.id, TicketEvent.to_status == "claimed"
            )
        )
        assert list(claims) == winners
        assert ticket.status == "claimed"
