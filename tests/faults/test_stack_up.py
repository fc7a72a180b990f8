"""`orders up` as operators run it, with parts failing (issue 11, rule 4).

- Telegram does not answer at start (TELEGRAM_API_BASE_URL on a closed port): the
  engine, the action server and the web process serve anyway (`/readyz` 200) and the bot
  keeps trying; once a Bot API listens there, the bot connects and answers a resident.
- The web process is killed (kill -9): the supervisor starts it again and it serves;
  the engine, never stopped, keeps its process.
- SIGTERM stops every process, and `orders up` exits 0.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from config import PROJECT_ROOT
from nlu.tooling.engine import ensure_model
from services import prepare_database
from tests.e2e.conftest import make_settings
from tests.fakes.telegram import FakeTelegram
from tests.faults.stack import one
from tests.servers import free_port, stack_env


def _read(log: Path) -> str:
    return log.read_text(errors="replace")


def _launch(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`orders up` in its own process group, its output into `log`."""
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "app.cli", "up"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _pids(log: Path, name: str) -> list[int]:
    text = _read(log)
    return [int(pid) for pid in re.findall(rf"\| {name} started, pid (\d+)", text)]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def _until(what: str, check: Callable[[], Awaitable[bool]], log: Path, limit: float) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"{what} not within {limit}s:\n{_read(log)[-6000:]}")


async def test_up_serves_without_telegram_restarts_a_killed_web_and_stops_cleanly(
    tmp_path: Path,
) -> None:
    telegram_port = free_port()
    fake = FakeTelegram()
    settings = make_settings(tmp_path, web_port=free_port())
    await prepare_database(settings.db_url)
    await asyncio.to_thread(ensure_model, settings)
    web = settings.web_url
    log = tmp_path / "up.log"
    env = {
        **os.environ,
        **stack_env(settings),
        "WEB_HOST": settings.web_host,
        "WEB_PORT": str(settings.web_port),
        "REDIS_URL": "",
        "TELEGRAM_BOT_TOKEN": fake.token,
        "TELEGRAM_API_BASE_URL": f"http://127.0.0.1:{telegram_port}",  # nothing listens
        "NOTIFIER_POLL_S": "0.5",
        "ENGINE_WAIT_S": "120",
    }
    up = _launch(env, log)
    try:
        async with httpx.AsyncClient(timeout=5) as http:

            async def ready() -> bool:
                assert up.poll() is None, f"orders up stopped:\n{_read(log)[-4000:]}"
                try:
                    return (await http.get(f"{web}/readyz")).status_code == 200
                except httpx.HTTPError:
                    return False

            # The engine, the actions and the web process serve although Telegram does not.
            await _until("/readyz 200 without Telegram", ready, log, limit=300)
            assert (await http.get(f"{web}/healthz")).status_code == 200
            text = _read(log)
            assert "bot.telegram_unreachable" in text, text[-4000:]
            assert up.poll() is None
            for name in ("rasa", "actions", "web", "bot"):
                assert len(_pids(log, name)) == 1, f"{name} was restarted:\n{text[-4000:]}"
                assert f"{name} stopped" not in text, text[-4000:]

            # Telegram answers now: the bot, still retrying, connects and serves a resident.
            await fake.start(telegram_port)
            user = fake.user(96001, first_name="王阿姨", language_code="zh")
            await user.send_text("我家厨房水管漏水了")
            assert "地址" in ((await one(user, wait=150)).text or "")

            # kill -9 the web process: it is started again; the engine keeps running.
            [rasa] = _pids(log, "rasa")
            [first_web] = _pids(log, "web")
            os.kill(first_web, signal.SIGKILL)

            async def web_back() -> bool:
                if len(_pids(log, "web")) < 2:
                    return False
                try:
                    return (await http.get(f"{web}/healthz")).status_code == 200
                except httpx.HTTPError:
                    return False

            await _until("the web process restarted", web_back, log, limit=60)
            text = _read(log)
            assert "web stopped (killed by SIGKILL); restarting in 1 s" in text
            assert _pids(log, "rasa") == [rasa] and _alive(rasa)
            assert (await http.get(f"{settings.rasa_url}/status")).status_code == 200
            assert (await http.get(f"{web}/readyz")).status_code == 200
            await user.send_text("幸福小区2栋302")
            assert "时间" in ((await one(user, wait=60)).text or "")  # the form went on

        # SIGTERM (as systemd or `docker stop` send): every process stops, exit code 0.
        children = [pid for name in ("rasa", "actions", "web", "bot") for pid in _pids(log, name)]
        up.send_signal(signal.SIGTERM)
        assert up.wait(timeout=40) == 0
        text = _read(log)
        assert "every process has stopped" in text
        await asyncio.sleep(0.5)
        assert [pid for pid in children if _alive(pid)] == []
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()
        for pid in [pid for name in ("rasa", "actions", "web", "bot") for pid in _pids(log, name)]:
            if _alive(pid):
                os.killpg(pid, signal.SIGKILL)
        await fake.stop()
