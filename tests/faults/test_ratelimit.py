"""Per-resident rate limit: a flood from one resident gets one polite slow-down and
never reaches the engine; other residents are unaffected; with Redis it holds across
workers, and a dead Redis falls back to the in-process limit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.engine_client import EngineClient
from adapters.ratelimit import Decision, RateLimiter
from desk.frontdesk import FrontDesk, Sender
from i18n import t
from services import make_engine, make_sessionmaker, prepare_database
from tests.clock import ManualClock
from tests.e2e.conftest import make_settings, start_bot, stop_bot
from tests.fakes.telegram import FakeTelegram
from tests.faults.servers import FakeEngine, OwnRedis

Sessions = async_sessionmaker[AsyncSession]


def test_bucket_allows_the_limit_then_warns_once_then_drops() -> None:
    clock = ManualClock()
    limiter = RateLimiter(5, clock=clock)
    decisions = [limiter._check_local("a") for _ in range(8)]
    assert decisions == [Decision.ALLOW] * 5 + [Decision.WARN, Decision.DROP, Decision.DROP]
    assert limiter._check_local("b") is Decision.ALLOW  # someone else: unaffected
    clock.now += 12  # 5 per minute: one token every 12 s
    assert limiter._check_local("a") is Decision.ALLOW
    assert limiter._check_local("a") is Decision.WARN  # a new burst is told again
    clock.now += 60
    assert [limiter._check_local("a") for _ in range(5)] == [Decision.ALLOW] * 5


async def test_zero_means_no_limit() -> None:
    limiter = RateLimiter(0)
    assert {await limiter.check("a") for _ in range(500)} == {Decision.ALLOW}


async def test_redis_window_is_shared_by_workers_and_a_dead_redis_falls_back(
    own_redis: OwnRedis,
) -> None:
    clients = [Redis.from_url(own_redis.url, socket_timeout=2, socket_connect_timeout=2)]
    clients.append(Redis.from_url(own_redis.url, socket_timeout=2, socket_connect_timeout=2))
    worker_a, worker_b = (RateLimiter(6, client) for client in clients)
    try:
        decisions = []
        for i in range(9):  # the resident's messages land on alternate workers
            decisions.append(await (worker_a if i % 2 else worker_b).check("telegram:1"))
        assert decisions == [Decision.ALLOW] * 6 + [Decision.WARN, Decision.DROP, Decision.DROP]
        assert await worker_a.check("telegram:2") is Decision.ALLOW
        own_redis.stop()
        # Redis gone: the in-process bucket decides, residents are still served.
        fallback = [await worker_a.check("telegram:3") for _ in range(7)]
        assert fallback == [Decision.ALLOW] * 6 + [Decision.WARN]
    finally:
        for client in clients:
            await client.aclose()


@pytest.fixture
async def fake_engine() -> AsyncIterator[FakeEngine]:
    engine = FakeEngine()
    await engine.start()
    yield engine
    await engine.stop()


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncIterator[tuple[str, Sessions]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'flood.db'}"
    await prepare_database(url)
    engine = make_engine(url)
    yield url, make_sessionmaker(engine)
    await engine.dispose()


async def test_front_desk_slows_a_flood_and_serves_the_others(
    tmp_path: Path, fake_engine: FakeEngine, sqlite: tuple[str, Sessions]
) -> None:
    url, sessions = sqlite
    settings = make_settings(tmp_path, database_url=url, rate_limit_per_minute=10)
    client = EngineClient(f"http://127.0.0.1:{fake_engine.port}")
    desk = FrontDesk(client, sessions, settings, limiter=RateLimiter(10))
    flooder, neighbour = Sender("telegram", "501", client_language="en"), Sender("telegram", "502")
    try:
        replies = [await desk.text(flooder, f"help {i}") for i in range(25)]
        other = await desk.text(neighbour, "我家水管漏水")
    finally:
        await client.close()
    assert len(fake_engine.from_("telegram:501")) == 10  # the rest never reached the engine
    assert all(len(r) == 1 and r[0].text.startswith("echo") for r in replies[:10])
    assert [r.text for r in replies[10]] == [t("abuse_slow_down", "en")]
    assert all(r == [] for r in replies[11:])  # told once, not flooded back
    assert [r.text for r in other] == [f"echo {len(fake_engine.received)}"]


async def test_real_bot_slows_a_flood_down_politely(
    tmp_path: Path, fake_engine: FakeEngine, sqlite: tuple[str, Sessions]
) -> None:
    url, _ = sqlite
    telegram = FakeTelegram()
    await telegram.start()
    settings = make_settings(
        tmp_path,
        database_url=url,
        rate_limit_per_minute=8,
        rasa_port=fake_engine.port,
        telegram_bot_token=telegram.token,
        telegram_api_base_url=telegram.base_url,
        notifier_enabled=False,
    )
    application = await start_bot(settings)
    try:
        flooder = telegram.user(91001, language_code="zh")
        calm = telegram.user(91002, language_code="en")
        for i in range(20):
            await flooder.send_text(f"你好 {i}")
        await telegram.wait_until(
            lambda: not telegram.pending_updates(), timeout=30, what="every update taken"
        )
        received = await flooder.wait_for_messages(9, timeout=30)
        await flooder.assert_no_messages(within=1.0)  # nothing more than that
        texts = [m.text or "" for m in flooder.inbox()]
        assert sum(text.startswith("echo") for text in texts) == 8
        assert texts.count(t("abuse_slow_down", "zh")) == 1
        assert len(received) == 9 and len(fake_engine.from_("telegram:91001")) == 8
        await calm.send_text("hello")
        [reply] = await calm.wait_for_messages(1, timeout=30)
        assert (reply.text or "").startswith("echo")
    finally:
        await stop_bot(application)
        await telegram.stop()
