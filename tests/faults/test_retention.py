"""Residents' phone, exact address, location and photo are erased from tickets that
ended more than PII_RETENTION_DAYS ago (DESIGN: 180), on SQLite and PostgreSQL; the
community stays and the description keeps its words with phone, flat and name masked;
the purge is idempotent and logs counts only; the notifier runs it on its sweep timer
and `orders purge` runs it by hand."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Bot

from adapters.wakeup import Waker
from bot.notifier import Notifier
from config import PROJECT_ROOT
from services import make_engine, make_sessionmaker, prepare_database, workflow
from services.models import OutboxMessage, Ticket, utcnow
from services.privacy import mask_text
from services.retention import purge_pii
from tests.services.helpers import NOW, PHONE, XINGFULI, file, make_org, resident

DAY = timedelta(days=1)


async def _ended_ticket(
    session: AsyncSession, photos: Path, *, days_ago: int, claimed: bool = True
) -> Ticket:
    """A ticket filed, claimed (the organisation's card carries the phone), with a pin
    and a photo, then cancelled `days_ago` days before NOW."""
    who = await resident(session)
    org = await make_org(session, now=NOW - 400 * DAY)
    filed_at = NOW - (days_ago + 3) * DAY
    ticket = await file(session, who, now=filed_at)
    ticket.description += "，我叫王芳，电话13966667777，住3栋2单元501室"
    ticket.preferred_time_text = "明天上午，先打13966667777"
    ticket.rating_comment = "谢谢，我是王芳，下次还打13966667777"
    ticket.latitude, ticket.longitude = 31.23041, 121.47372
    ticket.transcript = [
        {"from": "resident", "text": "我是王芳，电话13966667777"},
        {"from": "assistant", "text": "好的"},
    ]
    ticket.photo_path = f"{ticket.number}.jpg"
    (photos / ticket.photo_path).write_bytes(b"\xff\xd8photo")
    await session.flush()
    if claimed:
        await workflow.claim(
            session, number=ticket.number, organisation=org.organisation, now=filed_at
        )
    return await workflow.cancel(
        session, number=ticket.number, resident=who, now=NOW - days_ago * DAY
    )


async def test_purge_erases_old_ended_tickets_only(
    session: AsyncSession, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    caplog.set_level(logging.INFO)
    async with session.begin():
        old = await _ended_ticket(session, photos, days_ago=181)
        recent = await _ended_ticket(session, photos, days_ago=179)
        still_open = await file(session, await resident(session), now=NOW - 900 * DAY)
        community, description = old.community_id, old.description
        assert community is not None

        result = await purge_pii(session, now=NOW, retention_days=180, photos_dir=photos)
        assert result.tickets >= 1 and result.photos >= 1 and result.messages >= 1

        rows = {
            t.id: t
            for t in await session.scalars(
                select(Ticket)
                .where(Ticket.id.in_([old.id, recent.id, still_open.id]))
                .execution_options(populate_existing=True)
            )
        }
        erased = rows[old.id]
        assert (erased.phone, erased.address, erased.latitude, erased.longitude) == (None,) * 4
        assert erased.photo_path is None and not (photos / f"{old.number}.jpg").exists()
        assert erased.community_id == community
        assert "13966667777" not in erased.description and "501" not in erased.description
        assert "王芳" not in erased.description
        assert erased.description == mask_text(description, keep_building=False)
        assert erased.preferred_time_text == "明天上午，先打139****7777"
        assert erased.rating_comment is not None
        assert "13966667777" not in erased.rating_comment and "王芳" not in erased.rating_comment
        assert erased.status == "cancelled"
        assert erased.transcript is not None and erased.transcript[1] == {
            "from": "assistant",
            "text": "好的",
        }
        said = erased.transcript[0]["text"]
        assert "13966667777" not in said and "王芳" not in said, said
        kept = rows[recent.id]
        assert (kept.phone, kept.address, kept.photo_path) == (
            PHONE,
            XINGFULI,
            f"{recent.number}.jpg",
        )
        assert (photos / f"{recent.number}.jpg").exists()
        assert rows[still_open.id].phone == PHONE  # open tickets are never purged

        cards = list(
            await session.scalars(select(OutboxMessage).where(OutboxMessage.ticket_id == old.id))
        )
        assert cards and not any(
            PHONE in str(card.params) or XINGFULI in str(card.params) for card in cards
        )
        recent_cards = await session.scalars(
            select(OutboxMessage.params).where(OutboxMessage.ticket_id == recent.id)
        )
        assert any(PHONE in str(params) for params in recent_cards)

        again = await purge_pii(session, now=NOW, retention_days=180, photos_dir=photos)
        assert again.tickets == 0  # idempotent
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert "retention.purged" in logged
    assert PHONE not in logged and XINGFULI not in logged and old.number not in logged


async def test_the_notifier_purges_on_its_sweep_timer(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'sweep.db'}"
    await prepare_database(url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    photos = tmp_path / "photos"
    photos.mkdir()
    try:
        async with sessions() as session, session.begin():
            old = await _ended_ticket(session, photos, days_ago=31, claimed=False)
        clock = [NOW - DAY]
        notifier = Notifier(
            Bot("123456:never-called"),
            sessions,
            Waker(None),
            clock=lambda: clock[0],
            pii_retention_days=30,
            photos_dir=photos,
        )
        await notifier.sweep_if_due()  # 30 days after the end: not yet
        async with sessions() as session:
            assert (await session.get(Ticket, old.id)).phone == PHONE  # type: ignore[union-attr]
        clock[0] = NOW + timedelta(hours=2)  # the next hourly purge, 31 days after the end
        await notifier.sweep_if_due()
        async with sessions() as session:
            purged = await session.get(Ticket, old.id)
            assert purged is not None and purged.phone is None and purged.address is None
        assert not list(photos.iterdir())
    finally:
        await engine.dispose()


def test_orders_purge_command(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"

    async def seed() -> int:
        await prepare_database(url)
        engine = make_engine(url)
        try:
            async with make_sessionmaker(engine)() as session, session.begin():
                # Ended 200 days before the real today: due with the default 180.
                photos = tmp_path / "photos"
                photos.mkdir(exist_ok=True)
                ticket = await _ended_ticket(session, photos, days_ago=0)
                ticket.closed_at = utcnow() - 200 * DAY
                return ticket.id
        finally:
            await engine.dispose()

    ticket_id = asyncio.run(seed())
    env = {**os.environ, "DATABASE_URL": url, "DATA_DIR": str(tmp_path)}
    env.pop("PII_RETENTION_DAYS", None)
    done = subprocess.run(
        [str(PROJECT_ROOT / ".venv/bin/orders"), "purge"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "1" in done.stdout.splitlines()[-1] and "Erased" in done.stdout
    assert PHONE not in done.stdout + done.stderr

    async def read() -> Ticket | None:
        engine = make_engine(url)
        try:
            async with make_sessionmaker(engine)() as session:
                return await session.get(Ticket, ticket_id)
        finally:
            await engine.dispose()

    ticket = asyncio.run(read())
    assert ticket is not None and ticket.phone is None and ticket.address is None
    assert not list((tmp_path / "photos").iterdir())
