"""Real-database fixtures: SQLite files, and PostgreSQL from the first of
TEST_POSTGRES_URL, a server on 127.0.0.1:5432, or a pgserver started here.

Import them from a conftest with `from tests.conftest_db import *`.
"""

from __future__ import annotations

import asyncio
import os
import uuid
import warnings
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from services.db import can_connect, make_engine, prepare_database
from tests.servers import port_open

__all__ = [
    "db_engine",
    "db_url",
    "fresh_db_url",
    "pg_database_url",
    "postgres_url",
    "session",
]

T = TypeVar("T")

LOCAL_PG_USERS = ("postgres", "root")
LOCAL_PG_TEMPLATE = "postgresql+asyncpg://{user}@127.0.0.1:5432/test"


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on a private loop in another thread.

    Sync session fixtures use this: it leaves pytest-asyncio's own loop alone.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _start_pgserver(pgdata: Path) -> tuple[str, Any]:
    """Start a throw-away PostgreSQL with pgserver; return its asyncpg URL and handle."""
    with warnings.catch_warnings():
        # platformdirs warns at import when XDG_RUNTIME_DIR is unset.
        warnings.simplefilter("ignore")
        from pgserver.postgres_server import get_server

        server = get_server(pgdata, cleanup_mode="stop")
        uri = server.get_uri()
    # pgserver gives postgresql://postgres:@/postgres?host=<socket dir>
    url = make_url(uri).set(drivername="postgresql+asyncpg")
    return url.render_as_string(hide_password=False), server


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a PostgreSQL database to administer from (never written to)."""
    env_url = os.environ.get("TEST_POSTGRES_URL")
    if env_url:
        yield env_url
        return
    if port_open("127.0.0.1", 5432):
        for user in LOCAL_PG_USERS:
            url = LOCAL_PG_TEMPLATE.format(user=user)
            if run_async(can_connect(url)):
                yield url
                return
        pytest.fail("127.0.0.1:5432 is open but accepts neither postgres nor root")
    url, server = _start_pgserver(tmp_path_factory.mktemp("pgserver"))
    try:
        yield url
    finally:
        server.cleanup()


async def _create_database(admin_url: str) -> str:
    name = f"ro_test_{uuid.uuid4().hex[:12]}"
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


async def _drop_database(admin_url: str, url: str) -> None:
    name = make_url(url).database
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def pg_database_url(postgres_url: str) -> Iterator[str]:
    """A PostgreSQL database created for this test session and dropped after it."""
    url = run_async(_create_database(postgres_url))
    try:
        yield url
    finally:
        run_async(_drop_database(postgres_url, url))


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated database with reference data, once per backend per session."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "test.db"
        url = f"sqlite+aiosqlite:///{path}"
    else:
        url = request.getfixturevalue("pg_database_url")
    run_async(prepare_database(url))
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty, unmigrated database of its own for one test."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
        return
    admin_url = request.getfixturevalue("postgres_url")
    url = run_async(_create_database(admin_url))
    try:
        yield url
    finally:
        run_async(_drop_database(admin_url, url))


@pytest.fixture(scope="session")
async def db_engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on db_url, shared by the session."""
    engine = make_engine(db_url)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def session(db_engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session inside a transaction that is rolled back after the test.

    The test may use `async with session.begin():`; that becomes a savepoint.
    On SQLite the outer transaction holds the write lock, so a test using this
    fixture must not write to the same database through another connection.
    """
    async with db_engine.connect() as conn:
        outer = await conn.begin()
        db_session = AsyncSession(
            bind=conn, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )
        try:
            yield db_session
        finally:
            await db_session.close()
            await outer.rollback()
