"""Project-wide test setup."""

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.faults.servers import OwnRedis

os.environ.setdefault("PTB_TIMEDELTA", "true")


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[OwnRedis]:
    """A Redis server of this test's own, which the test may stop and start again."""
    server = OwnRedis(tmp_path / "redis")
    server.start()
    yield server
    server.stop()
