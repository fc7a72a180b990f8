"""Engines, sessions and the once-per-start database preparation."""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, make_url, text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from services.reference import load_reference_data

# migrations/ is a top-level package installed next to services/ (editable or
# not), so find it from here rather than from the current directory.
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

# Key of the PostgreSQL advisory lock that serialises migrations ("ROMI").
MIGRATION_LOCK_KEY = 0x524F4D49


def _sqlite_file(url: URL) -> Path | None:
    """Return the database file of an SQLite URL, None for in-memory databases."""
    db = url.database
    if not db or db == ":memory:" or db.startswith("file:"):
        return None
    return Path(db).expanduser()


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take BEGIN away from the driver so the "begin" hook below emits it;
    # otherwise SAVEPOINT and transactional reads do not work on SQLite.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _on_sqlite_connect_for_migrations(dbapi_connection: Any, record: Any) -> None:
    # Alembic's batch mode rebuilds a table (copy, DROP, rename); with foreign keys
    # enforced the DROP of a referenced table fails once it has rows. The pragma is
    # a no-op inside a transaction, so it is set here, before any BEGIN.
    _on_sqlite_connect(dbapi_connection, record)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=OFF")
    cursor.close()


def _on_sqlite_begin(connection: Connection) -> None:
    # IMMEDIATE takes the write lock up front, waiting up to busy_timeout. A
    # deferred transaction that reads and then writes fails at once with
    # SQLITE_BUSY when another process committed in between, which several
    # processes filing tickets would hit.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


CONNECT_TIMEOUT_S = 10


def make_engine(url: str, *, for_migrations: bool = False) -> AsyncEngine:
    """Create an async engine; SQLite gets WAL, a busy timeout and foreign keys
    (enforced, except on the engine that runs migrations). Errors never carry the
    statement's parameters (a resident's phone or address would end up in the logs)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = _sqlite_file(parsed)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, hide_parameters=True)
        on_connect = _on_sqlite_connect_for_migrations if for_migrations else _on_sqlite_connect
        event.listen(engine.sync_engine, "connect", on_connect)
        event.listen(engine.sync_engine, "begin", _on_sqlite_begin)
        return engine
    # A server that does not answer (a dropped packet, not a refused connection) fails
    # the connect within CONNECT_TIMEOUT_S, so a request is answered 503 instead of
    # hanging until the client gives up.
    connect_args = {"timeout": CONNECT_TIMEOUT_S} if parsed.get_driver_name() == "asyncpg" else {}
    return create_async_engine(
        url, pool_pre_ping=True, hide_parameters=True, connect_args=connect_args
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Return a session factory whose objects stay usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(connection: Connection | None = None) -> Config:
    """Return an Alembic config for migrations/, optionally bound to a connection."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _upgrade_head(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")


def _lock_file(path: Path) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _unlock_file(fd: int) -> None:
    # Closing the descriptor releases the flock.
    os.close(fd)


@asynccontextmanager
async def _migration_lock(engine: AsyncEngine) -> AsyncIterator[None]:
    """Hold a lock shared by every process that prepares this database."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        path = _sqlite_file(url)
        if path is None:  # in-memory: private to this process, nothing to share
            yield
            return
        # flock, not lockf: flock locks belong to the open file, so two tasks
        # of one process exclude each other too.
        fd = await asyncio.to_thread(_lock_file, path.with_name(path.name + ".migrate.lock"))
        try:
            yield
        finally:
            _unlock_file(fd)
        return
    if url.get_backend_name() == "postgresql":
        async with engine.connect() as conn:
            lock_conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await lock_conn.execute(
                text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
            try:
                yield
            finally:
                await lock_conn.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY}
                )
        return
    raise ValueError(f"unsupported database backend: {url.get_backend_name()}")


async def prepare_database(url: str) -> None:
    """Migrate the database to head and load reference data, once across processes."""
    engine = make_engine(url, for_migrations=True)
    try:
        async with _migration_lock(engine):
            async with engine.begin() as conn:
                await conn.run_sync(_upgrade_head)
            async with make_sessionmaker(engine)() as session, session.begin():
                await load_reference_data(session)
    finally:
        await engine.dispose()


async def can_connect(url: str) -> bool:
    """True when a database answers at `url` (used to find a PostgreSQL to run on)."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True
    except Exception:  # any failure to connect is "no database here"
        return False
    finally:
        await engine.dispose()
