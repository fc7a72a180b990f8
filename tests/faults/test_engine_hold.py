"""A resident's message while the engine is not ready is held, not dropped.

The real front desk and engine client, against a stand-in for Rasa's REST channel
(tests/faults/servers.py FakeEngine) that starts late on the port the front desk uses,
answers 503 first, or answers too slowly:

- a message sent before anything listens is answered once the engine listens;
- two messages of one resident held together reach the engine in the order sent;
- the wait is bounded (ENGINE_WAIT_S), then the resident is asked to send it again;
- a 503 (nothing processed) is sent again; a timeout after sending is not (the engine may
  have taken the turn), so no turn happens twice;
- a long wait is acknowledged once ("one moment") where the front can push a message.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from adapters.engine_client import EngineClient
from adapters.ratelimit import RateLimiter
from desk.frontdesk import FrontDesk, Reply, Sender
from i18n import t
from services import make_engine, make_sessionmaker, prepare_database
from tests.e2e.conftest import make_settings
from tests.faults.servers import FakeEngine
from tests.servers import free_port

RETRY = t("engine_unavailable", "zh")


@asynccontextmanager
async def front_desk(
    tmp_path: Path,
    port: int,
    *,
    engine_timeout: float = 20.0,
    notices: list[str] | None = None,
    **over: object,
) -> AsyncIterator[FrontDesk]:
    """A front desk on its own database whose engine is expected on `port`."""
    settings = make_settings(tmp_path, rasa_port=port, **over)
    await prepare_database(settings.db_url)
    database = make_engine(settings.db_url)
    client = EngineClient(settings.rasa_url, timeout=engine_timeout)

    async def notice(sender: Sender, reply: Reply) -> None:
        assert notices is not None
        notices.append(reply.text)

    desk = FrontDesk(
        client,
        make_sessionmaker(database),
        settings,
        limiter=RateLimiter(0),
        hold_notice=notice if notices is not None else None,
    )
    try:
        yield desk
    finally:
        await client.close()
        await database.dispose()


def texts(replies: list[Reply]) -> list[str]:
    return [reply.text for reply in replies]


async def test_a_message_sent_before_the_engine_listens_is_answered_when_it_does(
    tmp_path: Path,
) -> None:
    port = free_port()
    engine = FakeEngine()
    async with front_desk(tmp_path, port, engine_wait_s=30) as desk:
        sender = Sender("telegram", "81001")
        held = asyncio.create_task(desk.text(sender, "我家水管漏水了"))
        await asyncio.sleep(2)
        assert not held.done(), "answered before any engine listened"
        await engine.start(port)
        try:
            replies = await asyncio.wait_for(held, 15)
        finally:
            await engine.stop()
    assert texts(replies) == ["echo 1"]
    assert engine.from_("telegram:81001") == ["我家水管漏水了"]  # delivered once


async def test_held_messages_of_one_resident_keep_their_order(tmp_path: Path) -> None:
    port = free_port()
    engine = FakeEngine()
    async with front_desk(tmp_path, port, engine_wait_s=30) as desk:
        sender = Sender("telegram", "81002")
        first = asyncio.create_task(desk.text(sender, "我家水管漏水了"))
        # Retried on their own, the second would try at 1.9 s and 2.9 s, the first at
        # 1.5 s and 3.5 s: with the engine up at 2 s, the second would arrive first.
        await asyncio.sleep(1.4)
        second = asyncio.create_task(desk.text(sender, "幸福小区2栋302"))
        await asyncio.sleep(0.6)
        await engine.start(port)
        try:
            await asyncio.wait_for(asyncio.gather(first, second), 20)
        finally:
            await engine.stop()
    assert engine.from_("telegram:81002") == ["我家水管漏水了", "幸福小区2栋302"]


async def test_the_wait_is_bounded_then_the_resident_is_asked_to_send_again(
    tmp_path: Path,
) -> None:
    async with front_desk(tmp_path, free_port(), engine_wait_s=1.5) as desk:
        started = time.monotonic()
        replies = await desk.text(Sender("telegram", "81003"), "我家水管漏水了")
        waited = time.monotonic() - started
    assert texts(replies) == [RETRY]
    assert 1.5 <= waited < 10, waited


async def test_a_503_before_processing_is_sent_again(tmp_path: Path) -> None:
    engine = FakeEngine()
    engine.unavailable = 2  # e.g. a balancer with no replica up yet
    await engine.start()
    try:
        async with front_desk(tmp_path, engine.port, engine_wait_s=30) as desk:
            replies = await desk.text(Sender("telegram", "81004"), "我家水管漏水了")
    finally:
        await engine.stop()
    assert texts(replies) == ["echo 1"]
    assert engine.answered_503 == 2 and len(engine.received) == 1


async def test_a_timeout_after_sending_is_not_sent_again(tmp_path: Path) -> None:
    engine = FakeEngine()
    engine.delay_s = 3  # the engine took the message but answers after the client gave up
    await engine.start()
    try:
        async with front_desk(tmp_path, engine.port, engine_timeout=1, engine_wait_s=30) as desk:
            started = time.monotonic()
            replies = await desk.text(Sender("telegram", "81005"), "我家水管漏水了")
            waited = time.monotonic() - started
        await asyncio.sleep(3)
    finally:
        await engine.stop()
    assert texts(replies) == [RETRY] and waited < 5
    assert engine.from_("telegram:81005") == ["我家水管漏水了"]  # one turn, not two


async def test_a_long_wait_is_acknowledged_once(tmp_path: Path) -> None:
    port = free_port()
    engine = FakeEngine()
    notices: list[str] = []
    async with front_desk(
        tmp_path, port, notices=notices, engine_wait_s=30, engine_hold_notice_s=0.5
    ) as desk:
        held = asyncio.create_task(desk.text(Sender("telegram", "81006"), "我家水管漏水了"))
        await asyncio.sleep(4)
        await engine.start(port)
        try:
            replies = await asyncio.wait_for(held, 15)
        finally:
            await engine.stop()
    assert notices == [t("engine_hold", "zh")]
    assert texts(replies) == ["echo 1"]
