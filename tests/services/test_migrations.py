"""Alembic revisions and prepare_database on fresh, empty databases."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import func, inspect, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from services import Category, Community, make_engine, make_sessionmaker, prepare_database
from services.db import alembic_config

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TABLES = {
    "residents",
    "categories",
    "communities",
    "organisations",
    "organisation_categories",
    "organisation_communities",
    "tickets",
    "ticket_events",
    "ticket_number_sequences",
    "ticket_followers",
    "ticket_offers",
    "staff",
    "staff_communities",
    "link_codes",
    "chat_links",
    "outbox",
    "web_sessions",
    "api_keys",
}


async def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda c: inspect(c).get_table_names())
    finally:
        await engine.dispose()
    return set(names) - {"alembic_version"}


async def _alembic(url: str, direction: str, revision: str) -> None:
    def run(connection: Connection) -> None:
        getattr(command, direction)(alembic_config(connection), revision)

    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(run)
    finally:
        await engine.dispose()


async def _reference_counts(url: str) -> tuple[int | None, int | None]:
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            categories = await session.scalar(select(func.count()).select_from(Category))
            communities = await session.scalar(select(func.count()).select_from(Community))
    finally:
        await engine.dispose()
    return categories, communities


async def test_upgrade_downgrade_upgrade(fresh_db_url: str) -> None:
    await _alembic(fresh_db_url, "upgrade", "head")
    assert await _tables(fresh_db_url) == TABLES
    await _alembic(fresh_db_url, "downgrade", "base")
    assert await _tables(fresh_db_url) == set()
    await _alembic(fresh_db_url, "upgrade", "head")
    assert await _tables(fresh_db_url) == TABLES


async def test_schema_matches_models(fresh_db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from services.models import Base

    await _alembic(fresh_db_url, "upgrade", "head")
    engine = make_engine(fresh_db_url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata
                )
            )
    finally:
        await engine.dispose()
    assert diff == []


async def test_prepare_database_from_running_loop_is_repeatable(fresh_db_url: str) -> None:
    await prepare_database(fresh_db_url)
    await prepare_database(fresh_db_url)
    assert await _tables(fresh_db_url) == TABLES
    assert await _reference_counts(fresh_db_url) == (11, 4)


async def test_prepare_database_three_tasks_migrate_once(
    fresh_db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="alembic.runtime.migration")
    await asyncio.gather(*(prepare_database(fresh_db_url) for _ in range(3)))
    upgrades = [r for r in caplog.records if "Running upgrade" in r.getMessage()]
    assert len(upgrades) == len(REVISIONS)  # each revision ran exactly once
    assert await _reference_counts(fresh_db_url) == (11, 4)


REVISIONS = [
    path for path in (Path(__file__).resolve().parents[2] / "migrations" / "versions").glob("0*.py")
]

_CHILD = """
import asyncio, logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(name)s %(message)s")
from services.db import prepare_database
asyncio.run(prepare_database(sys.argv[1]))
"""


async def test_prepare_database_three_processes_migrate_once(
    fresh_db_url: str, tmp_path: Path
) -> None:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-W",
            "error",
            "-c",
            _CHILD,
            fresh_db_url,
            cwd=tmp_path,  # prepare_database must not depend on the cwd
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        for _ in range(3)
    ]
    outputs = [(await p.communicate())[0].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outputs
    assert sum(out.count("Running upgrade") for out in outputs) == len(REVISIONS), outputs
    assert await _tables(fresh_db_url) == TABLES
    assert await _reference_counts(fresh_db_url) == (11, 4)


async def _one_ticket(conn: AsyncConnection, number: str, status: str, now: datetime) -> None:
    """The rows one old ticket needs, written as an older revision's schema holds them."""
    await conn.execute(
        text(
            "INSERT INTO categories (code, name_zh, name_en, needs_review, "
            "sla_claim_hours, sla_done_hours, unit_price, sort_order) "
            "VALUES ('repair', '维修', 'Repair', false, 24, 72, 80, 1) "
            "ON CONFLICT DO NOTHING"
        )
    )
    await conn.execute(
        text(
            "INSERT INTO residents (id, channel, external_id, created_at) "
            "VALUES (1, 'telegram', '42', :now)"
        ),
        {"now": now},
    )
    await conn.execute(
        text(
            "INSERT INTO tickets (id, number, resident_id, category_code, status, "
            "description, language, channel, created_at, updated_at) VALUES "
            "(1, :number, 1, 'repair', :status, '水管漏水', 'zh', 'telegram', :now, :now)"
        ),
        {"number": number, "status": status, "now": now},
    )


async def test_upgrade_keeps_the_tickets_already_filed(fresh_db_url: str) -> None:
    await _alembic(fresh_db_url, "upgrade", "0001_initial")
    now = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    engine = make_engine(fresh_db_url)
    try:
        async with engine.begin() as conn:
            await _one_ticket(conn, "RO-261122-0001", "published", now)
            await conn.execute(
                text(
                    "INSERT INTO ticket_events (ticket_id, actor, to_status, created_at) "
                    "VALUES (1, 'system', 'submitted', :now)"
                ),
                {"now": now},
            )
    finally:
        await engine.dispose()

    await prepare_database(fresh_db_url)

    engine = make_engine(fresh_db_url)
    try:
        async with engine.connect() as conn:
            row = (
                await conn.execute(text("SELECT number, kind, urgent, category_code FROM tickets"))
            ).one()
            events = await conn.scalar(text("SELECT count(*) FROM ticket_events"))
    finally:
        await engine.dispose()
    assert tuple(row) == ("RO-261122-0001", "service", False, "repair")
    assert events == 1


async def test_upgrade_records_who_held_each_ticket_from_the_workflows_own_notes(
    fresh_db_url: str,
) -> None:
    await _alembic(fresh_db_url, "upgrade", "0008_ticket_media_url")
    now = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    engine = make_engine(fresh_db_url)
    try:
        async with engine.begin() as conn:
            for org in (1, 2, 3, 9):
                await conn.execute(
                    text(
                        "INSERT INTO organisations (id, name, active, created_at, language) "
                        "VALUES (:id, :name, true, :now, 'zh')"
                    ),
                    {"id": org, "name": f"org {org}", "now": now},
                )
            await _one_ticket(conn, "RO-261201-0001", "claimed", now)
            for actor, action, to_status, note in (
                ("org:1", "transition", "claimed", None),
                ("staff:1", "transition", "claimed", "assigned to org:2: from org:1 to org:9"),
                ("staff:1", "reassigned", "claimed", "from org:2 to org:3: assigned to org:9"),
                ("staff:1", "note", "claimed", "assigned to org:9"),
            ):
                await conn.execute(
                    text(
                        "INSERT INTO ticket_events (ticket_id, actor, action, to_status, note, "
                        "created_at) VALUES (1, :actor, :action, :to_status, :note, :now)"
                    ),
                    {
                        "actor": actor,
                        "action": action,
                        "to_status": to_status,
                        "note": note,
                        "now": now,
                    },
                )
    finally:
        await engine.dispose()

    await prepare_database(fresh_db_url)

    engine = make_engine(fresh_db_url)
    try:
        async with engine.connect() as conn:
            holders = (
                await conn.scalars(text("SELECT organisation_id FROM ticket_events ORDER BY id"))
            ).all()
    finally:
        await engine.dispose()
    assert holders == [1, 2, 3, None]
