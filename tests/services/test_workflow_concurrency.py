"""Races between processes on a database of their own (these tests commit)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services import workflow
from services.db import make_engine, make_sessionmaker, prepare_database
from services.errors import AlreadyTaken
from services.models import OutboxMessage, TicketEvent
from services.outbox import Recipient, enqueue, lease_due
from services.parties import get_organisation
from services.tickets import get_ticket
from tests.services.helpers import NOW, file, make_org, outbox, resident


@pytest.fixture
async def engine(fresh_db_url: str) -> AsyncIterator[AsyncEngine]:
    await prepare_database(fresh_db_url)
    engine = make_engine(fresh_db_url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def test_concurrent_claims_one_winner(engine: AsyncEngine) -> None:
    sessions = make_sessionmaker(engine)
    async with sessions() as session, session.begin():
        orgs = [await make_org(session, name=f"org{i}") for i in range(4)]
        ticket = await file(session, await resident(session))
        number = ticket.number
    ids = [org.id for org in orgs]

    async def claim(organisation_id: int) -> int:
        async with sessions() as session, session.begin():
            organisation = await get_organisation(session, organisation_id)
            await asyncio.sleep(0)
            await workflow.claim(session, number=number, organisation=organisation, now=NOW)
            return organisation_id

    results = await asyncio.gather(*(claim(i) for i in ids), return_exceptions=True)
    winners = [r for r in results if isinstance(r, int)]
    losers = [r for r in results if isinstance(r, BaseException)]
    assert len(winners) == 1, results
    assert len(losers) == 3 and all(isinstance(e, AlreadyTaken) for e in losers), losers
    winner = winners[0]
    assert {e.holder for e in losers if isinstance(e, AlreadyTaken)} == {f"org{ids.index(winner)}"}

    async with sessions() as session:
        stored = await get_ticket(session, number)
        assert (stored.status, stored.organisation_id) == ("claimed", winner)
        claims = list(
            await session.scalars(
                select(TicketEvent.actor).where(
                    TicketEvent.ticket_id == stored.id, TicketEvent.to_status == "claimed"
                )
            )
        )
        assert claims == [f"org:{winner}"]
        claimed_cards = await outbox(session, key="o_claimed", ticket=stored)
        assert [m.chat_id for m in claimed_cards] == [orgs[ids.index(winner)].chat]
        assert len(await outbox(session, key="o_taken", ticket=stored)) == 3


async def test_concurrent_leases_never_share_a_row(engine: AsyncEngine) -> None:
    sessions = make_sessionmaker(engine)
    async with sessions() as session, session.begin():
        for n in range(30):
            enqueue(session, Recipient("race", str(n), "zh"), "n_test", now=NOW)

    async def lease() -> list[int]:
        async with sessions() as session, session.begin():
            rows = await lease_due(session, channels=["race"], limit=10, now=NOW)
            await asyncio.sleep(0.05)  # hold the lease's transaction open a moment
            return [m.id for m in rows]

    batches = await asyncio.gather(*(lease() for _ in range(4)))
    leased = [i for batch in batches for i in batch]
    assert len(leased) == len(set(leased)) == 30
    async with sessions() as session:
        attempts = set(await session.scalars(select(OutboxMessage.attempts)))
        assert attempts == {1}
