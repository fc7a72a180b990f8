"""Readiness told truthfully, and a message sent before the engine is ready answered
after it is (issue 11, item 12).

- The real web process (`orders web`) with the real action server and no engine yet:
  `/healthz` (liveness) is 200, `/readyz` is 503 naming the engine. A resident's web chat
  message sent then is held; the real Rasa engine starts on its port later and the
  resident gets its real answer (not "send it again"); `/readyz` is 200 afterwards.
- A webhook bot worker (`orders bot --webhook`) whose Bot API does not answer listens
  anyway, answers `/healthz` and `/readyz` 503 while it keeps trying, and registers its
  webhook once the Bot API answers; `/readyz` still names the engine that is not there.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from pathlib import Path

import httpx

from config import PROJECT_ROOT
from i18n import t
from nlu.tooling.engine import ensure_model
from services import prepare_database
from tests.e2e.conftest import make_settings
from tests.fakes.telegram import FakeTelegram
from tests.servers import action_server, free_port, process, rasa_server, stack_env

CHAT_HEADERS = {"X-Orders-Chat": "1"}


async def _until(what: str, check: Callable[[], Awaitable[bool]], limit: float) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.3)
    raise AssertionError(f"{what} not within {limit}s")


async def test_readyz_names_the_engine_and_a_message_waits_for_it(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, web_port=free_port())
    await prepare_database(settings.db_url)
    model = await asyncio.to_thread(ensure_model, settings)
    env = {
        **os.environ,
        **stack_env(settings),
        "WEB_HOST": settings.web_host,
        "WEB_PORT": str(settings.web_port),
        "REDIS_URL": "",
        "ENGINE_WAIT_S": "300",
    }
    env.pop("TELEGRAM_BOT_TOKEN", None)
    web = settings.web_url
    command = [sys.executable, "-m", "app.cli", "web"]
    with ExitStack() as servers:
        await asyncio.to_thread(
            servers.enter_context, action_server(settings, tmp_path / "actions.log")
        )
        await asyncio.to_thread(
            servers.enter_context,
            process(command, env, tmp_path / "web.log", f"{web}/healthz", timeout=60),
        )
        async with httpx.AsyncClient(base_url=web, headers=CHAT_HEADERS, timeout=400) as http:
            assert (await http.get("/healthz")).status_code == 200  # alive
            not_ready = await http.get("/readyz")
            assert not_ready.status_code == 503
            body = not_ready.json()
            assert body["error"] == "not_ready" and body["status"] == "not_ready"
            assert body["checks"] == {"database": "ok", "engine": "unavailable", "actions": "ok"}
            assert "engine" in body["message"]

            held = asyncio.create_task(
                http.post("/chat/api/message", json={"text": "我家厨房水管漏水了"})
            )
            await asyncio.sleep(3)
            assert not held.done(), "answered before the engine was there"
            await asyncio.to_thread(
                servers.enter_context, rasa_server(settings, model, tmp_path / "rasa.log")
            )
            answer = await asyncio.wait_for(held, 120)
            assert answer.status_code == 200
            replies = [reply["text"] for reply in answer.json()["replies"]]
            assert t("engine_unavailable", "zh") not in replies
            assert any("地址" in reply for reply in replies), replies  # the form began

            ready = await http.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json() == {
                "status": "ready",
                "checks": {"database": "ok", "engine": "ok", "actions": "ok"},
            }


def _start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "app.cli", "bot", "--webhook"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


async def test_a_webhook_worker_waits_for_telegram_and_tells_it_is_not_ready(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path)
    await prepare_database(settings.db_url)
    telegram_port, bot_port = free_port(), free_port()
    fake = FakeTelegram()
    env = {
        **os.environ,
        **stack_env(settings),
        "REDIS_URL": "",
        "TELEGRAM_BOT_TOKEN": fake.token,
        "TELEGRAM_API_BASE_URL": f"http://127.0.0.1:{telegram_port}",  # nothing listens yet
        "BOT_MODE": "webhook",
        "BOT_PORT": str(bot_port),
        "WEBHOOK_URL": "https://bot.example.org/telegram/webhook",
        "WEBHOOK_SECRET": "s" * 32,
        "NOTIFIER_POLL_S": "0.5",
    }
    worker = _start_worker(env, tmp_path / "bot.log")
    url = f"http://127.0.0.1:{bot_port}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=5) as http:

            async def listening() -> bool:
                try:
                    await http.get("/healthz")
                except httpx.HTTPError:
                    return False
                return True

            await _until("the worker listens", listening, 60)
            await asyncio.sleep(3)  # a few attempts at Telegram fail meanwhile
            assert worker.poll() is None, "the worker gave up on Telegram"
            assert (await http.get("/healthz")).status_code == 503
            waiting = await http.get("/readyz")
            assert waiting.status_code == 503
            assert waiting.json()["checks"]["telegram"] == "connecting"

            await fake.start(telegram_port)

            async def registered() -> bool:
                return fake.webhook is not None

            await _until("the webhook registered", registered, 90)
            assert fake.webhook is not None
            assert fake.webhook["url"] == env["WEBHOOK_URL"]

            async def alive() -> bool:
                return (await http.get("/healthz")).status_code == 200

            await _until("/healthz 200", alive, 10)
            checks = (await http.get("/readyz")).json()["checks"]
            assert checks["telegram"] == "ok" and checks["database"] == "ok"
            assert checks["engine"] == "unavailable"  # no engine in this test
    finally:
        worker.terminate()
        try:
            # uvicorn re-raises the SIGTERM it handled once it has shut down cleanly.
            assert worker.wait(timeout=20) in (0, -15)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
            await fake.stop()
