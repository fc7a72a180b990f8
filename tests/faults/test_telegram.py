"""Telegram answering 429, 500 and not answering at all (timeouts), and the bot
process killed (kill -9) while its notifier holds unsent messages.

- The notifier, running for real (its loop, real clock, the real Bot client with a
  short read timeout), delivers each message exactly once through a 429 with
  retry_after, a 500 and a hanging call the client gives up on.
- The real `orders bot` process is killed while Telegram hangs on its first send:
  after a restart every message is delivered, each exactly once (the hung call was
  never accepted: the fake drops a call whose client went away, as Telegram does
  with a request that never completed). Messages the dead process had leased wait
  for the lease (60 s) to end; the test ends the lease instead of waiting it out.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Bot
from telegram.request import HTTPXRequest

from adapters.wakeup import Waker
from bot.notifier import Notifier
from config import PROJECT_ROOT
from services import make_engine, make_sessionmaker, prepare_database
from services.models import OutboxMessage, utcnow
from services.outbox import Recipient, enqueue
from tests.fakes.telegram import FakeTelegram
from tests.servers import free_port

Sessions = async_sessionmaker[AsyncSession]
CHAT = 95001


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[tuple[str, Sessions]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}"
    await prepare_database(url)
    engine = make_engine(url)
    yield url, make_sessionmaker(engine)
    await engine.dispose()


async def _enqueue(sessions: Sessions, numbers: list[str]) -> None:
    async with sessions() as session, session.begin():
        for number in numbers:
            enqueue(
                session,
                Recipient("telegram", str(CHAT), "zh"),
                "n_claimed",
                params={"number": number, "organisation": "安心维修队"},
            )


async def _states(sessions: Sessions) -> list[str]:
    async with sessions() as session:
        return list(await session.scalars(select(OutboxMessage.state)))


def _delivered(fake: FakeTelegram, numbers: list[str]) -> Counter[str]:
    texts = [message.text or "" for message in fake.user(CHAT).inbox()]
    return Counter(number for number in numbers for text in texts if number in text)


async def test_429_500_and_timeouts_are_retried_and_delivered_once(
    db: tuple[str, Sessions],
) -> None:
    _, sessions = db
    fake = FakeTelegram()
    await fake.start()
    fake.user(CHAT)
    bot = Bot(
        fake.token,
        base_url=f"{fake.base_url}/bot",
        request=HTTPXRequest(read_timeout=1.0, connect_timeout=1.0),
    )
    await bot.initialize()
    numbers = [f"RO-261122-{n:04d}" for n in range(1, 5)]
    fake.fail_next("sendMessage", status=429, description="Too Many Requests", retry_after=1)
    fake.fail_next("sendMessage", status=500, description="Internal Server Error")
    fake.delay_next("sendMessage", 30)  # hangs: the client times out after 1 s
    await _enqueue(sessions, numbers)
    task = asyncio.create_task(Notifier(bot, sessions, Waker(None), poll_seconds=0.2).run())
    try:
        await fake.wait_until(
            lambda: sum(_delivered(fake, numbers).values()) >= len(numbers),
            timeout=45,
            what="every message delivered",
        )
        for _ in range(100):
            if set(await _states(sessions)) == {"sent"}:
                break
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await bot.shutdown()
        await fake.stop()
    assert _delivered(fake, numbers) == Counter(numbers)  # each exactly once
    assert set(await _states(sessions)) == {"sent"}
    codes = [error["error_code"] for _, error in fake.errors]
    assert codes == [429, 500]  # and one call that never answered


async def test_bot_killed_with_unsent_messages_sends_them_after_restart(
    db: tuple[str, Sessions], tmp_path: Path
) -> None:
    url, sessions = db
    fake = FakeTelegram()
    await fake.start()
    fake.user(CHAT)
    numbers = [f"RO-261122-{n:04d}" for n in range(11, 16)]
    await _enqueue(sessions, numbers)
    fake.delay_next("sendMessage", 3600)  # Telegram hangs on the first send
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": fake.token,
        "TELEGRAM_API_BASE_URL": fake.base_url,
        "DATABASE_URL": url,
        "DATA_DIR": str(tmp_path),
        "RASA_PORT": str(free_port()),
        "REDIS_URL": "",
        "NOTIFIER_POLL_S": "0.2",
    }
    command = [str(PROJECT_ROOT / ".venv/bin/orders"), "bot"]

    def start(log: str) -> subprocess.Popen[bytes]:
        with (tmp_path / log).open("ab") as output:
            return subprocess.Popen(
                command, cwd=PROJECT_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
            )

    first = start("bot-1.log")
    second: subprocess.Popen[bytes] | None = None
    try:
        await fake.wait_for_call("sendMessage", 1, timeout=60)  # the notifier is mid-send
        assert fake.user(CHAT).inbox() == []
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        assert await _states(sessions) == ["pending"] * len(numbers)  # nothing marked sent
        async with sessions() as session, session.begin():
            # The dead process leased them for 60 s; end the lease rather than wait it out.
            await session.execute(
                update(OutboxMessage).values(next_attempt_at=utcnow() - timedelta(seconds=1))
            )
        second = start("bot-2.log")
        await fake.wait_until(
            lambda: sum(_delivered(fake, numbers).values()) >= len(numbers),
            timeout=60,
            what="every message delivered after the restart",
        )
        for _ in range(100):
            if set(await _states(sessions)) == {"sent"}:
                break
            await asyncio.sleep(0.05)
        assert _delivered(fake, numbers) == Counter(numbers)  # each exactly once
        assert set(await _states(sessions)) == {"sent"}
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        await fake.stop()
