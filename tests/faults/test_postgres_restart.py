"""PostgreSQL restarted while tickets are being filed and notifications sent.

Eight concurrent filers each file tickets through `workflow.file_ticket` (what the
action server, web chat and Open311 call), each with an idempotency key, retrying
a failed attempt with the same key as the callers do. A PostgreSQL of the test's
own is stopped mid-way and started again two seconds later. Every acknowledged
ticket is in the database, none twice; no ticket lacks its events and no event
lacks its ticket (one transaction each); the same engine (pool_pre_ping) and the
same running notifier carry on without a restart.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import create_async_engine
from telegram import Bot

from adapters.wakeup import Waker
from bot.notifier import Notifier
from services import make_engine, make_sessionmaker, prepare_database, workflow
from services.models import OutboxMessage, Ticket, TicketEvent
from services.outbox import Recipient, enqueue
from services.tickets import NewTicket, get_or_create_resident, ticket_by_key
from tests.fakes.telegram import FakeTelegram
from tests.faults.servers import OwnPostgres

FILERS = 8
PER_FILER = 12
CHAT = 96001


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[OwnPostgres]:
    server = OwnPostgres(tmp_path / "pg")
    try:
        yield server
    finally:
        server.cleanup()


async def test_postgres_restart_under_load(own_postgres: OwnPostgres) -> None:
    admin = create_async_engine(own_postgres.admin_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text('CREATE DATABASE "faults"'))
    await admin.dispose()
    url = own_postgres.url("faults")
    await prepare_database(url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    fake = FakeTelegram()
    await fake.start()
    fake.user(CHAT)
    bot = Bot(fake.token, base_url=f"{fake.base_url}/bot")
    await bot.initialize()
    notifier = asyncio.create_task(
        Notifier(bot, sessions, Waker(None), poll_seconds=0.2).run(), name="notifier"
    )
    acknowledged: dict[str, str] = {}  # idempotency key -> ticket number
    failures = 0
    restarted = asyncio.Event()

    async def file_one(filer: int, n: int) -> None:
        nonlocal failures
        key = f"filer-{filer}-{n}"
        deadline = time.monotonic() + 60
        while True:
            try:
                async with sessions() as session, session.begin():
                    resident = await get_or_create_resident(
                        session, channel="telegram", external_id=str(CHAT + filer)
                    )
                    earlier = await ticket_by_key(session, key)
                    if earlier is not None:  # the lost answer was a commit after all
                        acknowledged[key] = earlier.number
                        return
                    ticket = (
                        await workflow.file_ticket(
                            session,
                            resident=resident,
                            request=NewTicket(
                                category_code="repair",
                                description=f"水管漏水 {key}",
                                address="幸福小区1栋101",
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
                    number = ticket.number
                    enqueue(
                        session,
                        Recipient("telegram", str(CHAT), "zh"),
                        "n_claimed",
                        params={"number": number, "organisation": "安心维修队"},
                        ticket=ticket,
                    )
            except Exception:
                failures += 1  # the database is restarting: the caller tries again
                assert time.monotonic() < deadline, "never recovered"
                await asyncio.sleep(0.2)
                continue
            acknowledged[key] = number  # committed: the resident is told this number
            return

    async def filer(index: int) -> None:
        for n in range(PER_FILER):
            await file_one(index, n)
            if n == PER_FILER // 3:
                await restarted.wait()

    async def restart() -> None:
        while len(acknowledged) < FILERS * PER_FILER // 4:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        await asyncio.to_thread(own_postgres.stop)
        await asyncio.sleep(2)
        await asyncio.to_thread(own_postgres.start)
        restarted.set()

    try:
        await asyncio.wait_for(
            asyncio.gather(restart(), *(filer(i) for i in range(FILERS))), timeout=120
        )
        numbers = set(acknowledged.values())
        assert len(numbers) == FILERS * PER_FILER
        async with sessions() as session:
            stored = set(await session.scalars(select(Ticket.number)))
            keys = list(await session.scalars(select(Ticket.idempotency_key)))
            bare_tickets = await session.scalar(
                select(func.count())
                .select_from(Ticket)
                .where(~select(TicketEvent.id).where(TicketEvent.ticket_id == Ticket.id).exists())
            )
            orphan_events = await session.scalar(
                select(func.count())
                .select_from(TicketEvent)
                .where(~select(Ticket.id).where(Ticket.id == TicketEvent.ticket_id).exists())
            )
        assert numbers <= stored  # no acknowledged ticket lost
        assert len(keys) == len(set(keys)) == len(stored)  # no ticket filed twice
        assert (bare_tickets, orphan_events) == (0, 0)  # nothing half-written
        assert failures > 0  # the restart did happen under load
        # The notifier that ran through the restart delivers every ticket's message.
        await fake.wait_until(
            lambda: len(fake.user(CHAT).inbox()) >= len(stored),
            timeout=60,
            what="every notification",
        )
        for _ in range(100):
            async with sessions() as session:
                pending = await session.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.state != "sent")
                )
            if pending == 0:
                break
            await asyncio.sleep(0.1)
        assert pending == 0
        texts = [m.text or "" for m in fake.user(CHAT).inbox()]
        assert all(sum(number in t for t in texts) == 1 for number in stored)  # once each
    finally:
        notifier.cancel()
        await asyncio.gather(notifier, return_exceptions=True)
        await bot.shutdown()
        await fake.stop()
        await engine.dispose()
