"""Project-wide test setup."""

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

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
