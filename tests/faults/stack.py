"""A whole stack of a fault test's own: its Redis (Rasa's tracker and lock stores,
wake-ups, rate limit), its SQLite database, the real action server and Rasa engine,
the real bot against a fake Bot API; the engine and Redis can be killed and
restarted while the bot runs."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from config.settings import Settings
from nlu.tooling.engine import ensure_model
from services import Ticket, make_engine, make_sessionmaker, prepare_database
from services.models import OutboxMessage
from tests.e2e.conftest import make_settings, start_bot, stop_bot
from tests.fakes.telegram import BotMessage, FakeTelegram, FakeUser
from tests.faults.servers import OwnRedis
from tests.servers import action_server, rasa_server


@dataclass
class Stack:
    settings: Settings
    model: Path
    redis: OwnRedis
    telegram: FakeTelegram
    db: async_sessionmaker[AsyncSession]
    folder: Path
    _engines: ExitStack = field(default_factory=ExitStack)
    _engine_process: subprocess.Popen[bytes] | None = None
    _starts: int = 0

    async def start_engine(self) -> None:
        self._starts += 1
        log = self.folder / f"rasa-{self._starts}.log"
        context = rasa_server(self.settings, self.model, log)
        self._engine_process = await asyncio.to_thread(self._engines.enter_context, context)

    def kill_engine(self) -> None:
        """kill -9: no goodbye, as when the machine or the container dies."""
        assert self._engine_process is not None
        self._engine_process.kill()
        self._engine_process.wait()

    async def tickets(self) -> int:
        async with self.db() as session:
            return int(await session.scalar(select(func.count()).select_from(Ticket)) or 0)

    async def outbox_states(self) -> list[str]:
        async with self.db() as session:
            return list(await session.scalars(select(OutboxMessage.state)))

    def logs(self) -> str:
        return "\n".join(
            path.read_text(errors="replace") for path in sorted(self.folder.glob("*.log"))
        )


async def one(user: FakeUser, wait: float = 60) -> BotMessage:
    """The next single message the bot sends this user."""
    [message] = await user.wait_for_messages(1, timeout=wait)
    return message


@asynccontextmanager
async def running_stack(folder: Path, **overrides: object) -> AsyncIterator[Stack]:
    redis = OwnRedis(folder / "redis")
    redis.start()
    telegram = FakeTelegram()
    await telegram.start()
    settings = make_settings(
        folder,
        redis_url=redis.url,
        telegram_bot_token=telegram.token,
        telegram_api_base_url=telegram.base_url,
        notifier_poll_s=0.5,
        **overrides,
    )
    await prepare_database(settings.db_url)
    model = await asyncio.to_thread(ensure_model, settings)
    database = make_engine(settings.db_url)
    stack = Stack(settings, model, redis, telegram, make_sessionmaker(database), folder)
    try:
        with action_server(settings, folder / "actions.log"):
            await stack.start_engine()
            application = await start_bot(settings)
            try:
                yield stack
            finally:
                await stop_bot(application)
                await asyncio.to_thread(stack._engines.close)
    finally:
        await telegram.stop()
        await database.dispose()
        redis.stop()
