"""bot/dedupe.py: each update id is claimed once, in process and across workers sharing a
real Redis; a dead Redis falls back to the in-process memory and comes back."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Iterator

import pytest
from redis.asyncio import Redis

from bot.dedupe import REDIS_RETRY_S, TTL_S, UpdateDeduper, bot_id_of
from tests.clock import ManualClock
from tests.faults.servers import OwnRedis
from tests.servers import redis_server


def fresh_bot_id() -> str:
    """A bot of this test's own: the shared Redis outlives test runs."""
    return str(7_000_000_000 + secrets.randbelow(1_000_000_000))


def client(url: str) -> Redis:
    return Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("dedupe-redis")) as url:
        yield url


def test_bot_id_is_the_token_prefix() -> None:
    assert bot_id_of("123456789:AAbbCC-dd") == "123456789"
    assert UpdateDeduper("42").key(100_000_001) == "orders:update:42:100000001"


async def test_in_process_each_id_is_claimed_once() -> None:
    dedupe = UpdateDeduper("1")
    assert [await dedupe.claim(i) for i in (7, 8, 7, 9, 8, 7)] == [
        True,
        True,
        False,
        True,
        False,
        False,
    ]
    # Copies arriving at once: exactly one is processed.
    claims = await asyncio.gather(*(dedupe.claim(10) for _ in range(20)))
    assert claims.count(True) == 1


async def test_in_process_memory_is_bounded_in_time_and_size() -> None:
    clock = ManualClock()
    dedupe = UpdateDeduper("1", ttl_s=100, max_local=3, clock=clock)
    assert await dedupe.claim(1)
    clock.now += 99
    assert not await dedupe.claim(1)
    clock.now += 2  # 24 h in production: Telegram has given up on it by then
    assert await dedupe.claim(1)
    for update_id in (2, 3, 4):
        assert await dedupe.claim(update_id)
    assert len(dedupe._seen) == 3
    assert await dedupe.claim(1), "the oldest id was forgotten to make room"
    assert not await dedupe.claim(4)


async def test_workers_sharing_redis_claim_each_update_once(redis_url: str) -> None:
    bot = fresh_bot_id()
    clients = [client(redis_url), client(redis_url)]
    worker_a, worker_b = (UpdateDeduper(bot, c) for c in clients)
    other_bot = UpdateDeduper(fresh_bot_id(), clients[0])
    try:
        assert await worker_a.claim(100_000_001)
        assert not await worker_b.claim(100_000_001), "the copy reached the other worker"
        assert not await worker_a.claim(100_000_001)
        assert await worker_b.claim(100_000_002)
        assert not await worker_a.claim(100_000_002)
        assert await other_bot.claim(100_000_001), "update ids are per bot"
        ttl = await clients[0].ttl(worker_a.key(100_000_001))
        assert TTL_S - 10 <= ttl <= TTL_S
        assert await clients[0].get(worker_a.key(100_000_001)) == b"1"
        # Copies reaching both workers at the same moment: one of them processes it.
        claims = await asyncio.gather(
            *(w.claim(100_000_003) for w in (worker_a, worker_b) for _ in range(5))
        )
        assert claims.count(True) == 1
    finally:
        for c in clients:
            await c.aclose()


async def test_the_redis_client_may_come_later(redis_url: str) -> None:
    """The webhook app is built before post_init creates the Waker's client."""
    shared: list[Redis] = []
    bot = fresh_bot_id()
    late = UpdateDeduper(bot, lambda: shared[0] if shared else None)
    assert await late.claim(1)  # no Redis yet: in process
    shared.append(client(redis_url))
    try:
        assert await late.claim(2)
        assert not await UpdateDeduper(bot, shared[0]).claim(2)
    finally:
        await shared[0].aclose()


async def test_a_dead_redis_falls_back_to_memory_and_is_used_again(
    own_redis: OwnRedis, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock()
    clients = [client(own_redis.url), client(own_redis.url)]
    bot = fresh_bot_id()
    worker_a, worker_b = (UpdateDeduper(bot, c, clock=clock) for c in clients)
    caplog.set_level(logging.INFO, logger="bot.dedupe")
    try:
        assert await worker_a.claim(1)
        own_redis.stop()
        # Residents are still served: new updates are processed, copies at one worker
        # are still caught, and the outage is logged once, not per update.
        claims = [await worker_a.claim(i) for i in range(2, 52)]
        assert claims == [True] * 50
        assert not await worker_a.claim(2) and not await worker_a.claim(1)
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and "fallback=local" in warnings[0].getMessage()

        own_redis.start()  # same port, its data kept (append-only file)
        assert await worker_a.claim(60)  # in memory only until the retry time
        assert await worker_b.claim(60), "not in Redis: worker A did not ask it"
        clock.now += REDIS_RETRY_S
        assert await worker_a.claim(61)
        assert not await worker_b.claim(61), "Redis is shared again"
        assert not await worker_b.claim(1), "claims made before the outage survived it"
        assert any(r.getMessage() == "bot.dedupe_redis_available" for r in caplog.records)
    finally:
        for c in clients:
            await c.aclose()
