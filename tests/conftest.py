"""Project-wide test setup."""

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from config.settings import Settings, get_settings
from tests.faults.servers import OwnRedis

os.environ.setdefault("PTB_TIMEDELTA", "true")
# With no engine listening, most tests want "send it again" at once rather than a
# message held for ENGINE_WAIT_S (90 s); the tests of holding set it themselves.
os.environ.setdefault("ENGINE_WAIT_S", "0")


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[OwnRedis]:
    """A Redis server of this test's own, which the test may stop and start again."""
    server = OwnRedis(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


SETTINGS_VARIABLES = [name.upper() for name in Settings.model_fields]


@pytest.fixture
def clean_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Default settings: no variable from the shell, no .env file, nothing cached.

    The packages whose tests read settings use it for every test (their conftest.py).
    """
    for name in SETTINGS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    # load_settings() cannot pass _env_file=None; switch the file off for every reader.
    monkeypatch.setitem(Settings.model_config, "env_file", None)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
