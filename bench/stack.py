"""The whole resident stack for the load benchmarks, as real processes: the Rasa
engine, the action server and the Telegram bot (`orders bot`, long polling), on a
fresh PostgreSQL database, against a fake Bot API served from this process."""

# Benchmark plumbing: explicit timeouts, and process start-up / log reads on failure
# are fine on the driver's loop.
# ruff: noqa: ASYNC109, ASYNC220, ASYNC240

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import CpuMeter, create_database, drop_database, postgres_pids
from config import PROJECT_ROOT
from config.settings import Settings
from nlu.tooling.engine import ensure_model
from services import prepare_database
from tests.fakes.telegram import BotMessage, FakeTelegram, FakeUser, JSONDict
from tests.servers import action_server, free_port, rasa_server, stack_env


class BenchTelegram(FakeTelegram):
    """The fake Bot API with a fast path for load: each chat's bot messages go into a
    queue stamped with their arrival time, and callback answers resolve futures, so a
    simulated user waits on its own chat instead of every user waking on every call."""

    def __init__(self) -> None:
        super().__init__()
        self.inboxes: defaultdict[int, asyncio.Queue[tuple[float, BotMessage]]] = defaultdict(
            asyncio.Queue
        )
        self.answers: dict[str, asyncio.Future[float]] = {}

    def _notify(self) -> None:
        pass  # nobody here waits on "anything changed"

    def _store_bot_message(
        self,
        user: FakeUser,
        params: JSONDict,
        message: JSONDict,
        markup: JSONDict | None,
        kind: str,
    ) -> JSONDict:
        result = super()._store_bot_message(user, params, message, markup, kind)
        stored = self._bot_messages[user.chat_id][-1]
        self.inboxes[user.chat_id].put_nowait((time.perf_counter(), stored))
        return result

    async def _answer_callback_query(self, params: JSONDict) -> bool:
        result = await super()._answer_callback_query(params)
        future = self.answers.pop(str(params.get("callback_query_id") or ""), None)
        if future is not None and not future.done():
            future.set_result(time.perf_counter())
        return result

    def expect_answer(self, query_id: str) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.answers[query_id] = future
        return future

    def push_callback(self, user: FakeUser, message: BotMessage, data: str) -> str:
        """A button press as an update (like FakeUser.press, without its checks)."""
        query_id = str(next(self._query_ids))
        self._queries[query_id] = user.user_id
        self._push_update(
            {
                "callback_query": {
                    "id": query_id,
                    "from": user.as_user(),
                    "chat_instance": str(-(7_000_000_000_000_000_000 + user.chat_id)),
                    "message": dict(message.raw),
                    "data": data,
                }
            }
        )
        return query_id


async def next_message(
    fake: BenchTelegram, chat_id: int, timeout: float = 60.0
) -> tuple[float, BotMessage]:
    """The next bot message to this chat and when it arrived."""
    return await asyncio.wait_for(fake.inboxes[chat_id].get(), timeout)


@dataclass
class Stack:
    settings: Settings
    fake: BenchTelegram
    rasa: subprocess.Popen[bytes]
    actions: subprocess.Popen[bytes]
    bot: subprocess.Popen[bytes]
    logs: Path

    def cpu_meter(self) -> CpuMeter:
        meter = CpuMeter()
        meter.add("rasa", self.rasa.pid)
        meter.add("actions", self.actions.pid)
        meter.add("bot", self.bot.pid)
        meter.add("driver_and_fake_api", os.getpid(), children=False)
        for pid in postgres_pids():
            meter.add("postgres_machine_wide", pid, children=False)
        return meter


@asynccontextmanager
async def bot_process(settings: Settings, log: Path) -> AsyncIterator[subprocess.Popen[bytes]]:
    """`orders bot` (long polling the fake) until the block ends."""
    env = {
        **os.environ,
        **stack_env(settings),
        "TELEGRAM_BOT_TOKEN": settings.telegram_bot_token or "",
        "TELEGRAM_API_BASE_URL": settings.telegram_api_base_url,
        "LOG_LEVEL": "WARNING",
    }
    env.pop("REDIS_URL", None)
    with log.open("ab") as output:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "bot"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def wait_bot_ready(fake: BenchTelegram, proc: subprocess.Popen[bytes], log: Path) -> None:
    """The bot is up once it polls for updates."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the bot exited:\n{log.read_text()[-4000:]}")
        if any(method == "getUpdates" for method, _ in fake.calls):
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"the bot did not poll within 120 s:\n{log.read_text()[-4000:]}")


@asynccontextmanager
async def running_stack(admin_url: str, workdir: Path) -> AsyncIterator[Stack]:
    """Fresh database, engine, actions, fake Bot API and bot; all torn down after."""
    db_url = await create_database(admin_url)
    try:
        await prepare_database(db_url)
        fake = BenchTelegram()
        await fake.start()
        settings = Settings(
            data_dir=workdir,
            database_url=db_url,
            rasa_port=free_port(),
            actions_port=free_port(),
            telegram_bot_token=fake.token,
            telegram_api_base_url=fake.base_url,
            redis_url=None,
        )
        model = await asyncio.to_thread(ensure_model, settings, log=workdir / "train.log")
        async with AsyncExitStack() as stack:
            actions = stack.enter_context(action_server(settings, workdir / "actions.log"))
            rasa = stack.enter_context(rasa_server(settings, model, workdir / "rasa.log"))
            bot = await stack.enter_async_context(bot_process(settings, workdir / "bot.log"))
            await wait_bot_ready(fake, bot, workdir / "bot.log")
            try:
                yield Stack(settings, fake, rasa, actions, bot, workdir)
            finally:
                await stack.aclose()
                await fake.stop()
    finally:
        await drop_database(admin_url, db_url)


def describe(result: dict[str, Any]) -> str:
    keys = ("count", "throughput_per_s", "p50_s", "p95_s", "p99_s", "errors")
    return ", ".join(f"{k}={result[k]}" for k in keys if k in result)
