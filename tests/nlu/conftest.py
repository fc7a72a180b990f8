"""Fixtures for the custom action tests: the domain, trackers and a real database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from config import PROJECT_ROOT
from config.settings import get_settings
from nlu.actions import common
from services import make_engine, make_sessionmaker, prepare_database


@pytest.fixture(autouse=True)
def _default_settings(clean_settings: None) -> None:
    """Default settings for every action: no shell variables, no .env file, no cache."""


@pytest.fixture(scope="session")
def domain() -> dict[str, object]:
    """domain.yml as plain YAML, the way rasa-sdk receives it."""
    with (PROJECT_ROOT / "domain.yml").open(encoding="utf-8") as handle:
        data: dict[str, object] = yaml.safe_load(handle)
    return data


@pytest.fixture(scope="module")
async def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated SQLite database with reference data, shared by a test module."""
    path: Path = tmp_path_factory.mktemp("actions") / "orders.db"
    url = f"sqlite+aiosqlite:///{path}"
    await prepare_database(url)
    return url


@pytest.fixture
async def database(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Point the actions at the test database; yield a sessionmaker to inspect it."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    monkeypatch.setattr(common, "_sessionmaker", None)
    engine = make_engine(database_url)
    try:
        yield make_sessionmaker(engine)
    finally:
        if common._sessionmaker is not None:
            await common._sessionmaker.kw["bind"].dispose()
        await engine.dispose()
