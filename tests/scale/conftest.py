"""The scaled-out stack as `make up-scaled` runs it (deploy/scaled.py, the same Procfile
and nginx template), on free ports, a fresh PostgreSQL database and Redis, with the
fake Bot API delivering updates by webhook through nginx's round robin."""

# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from config import PROJECT_ROOT
from config.settings import Settings
from nlu.tooling.engine import ensure_model
from tests.conftest_db import pg_database_url, postgres_url  # noqa: F401
from tests.fakes.telegram import FakeTelegram
from tests.servers import redis_server

START_TIMEOUT_S = 240.0
SCALED_SCRIPT = PROJECT_ROOT / "deploy" / "scaled.py"


@dataclass
class Scaled:
    """A running scaled stack and the fake Telegram in front of it."""

    fake: FakeTelegram
    plan: dict[str, Any]
    log: Path
    database_url: str
    secret: str

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def access_log(self) -> str:
        path = Path(self.plan["access_log"])
        return path.read_text(errors="replace") if path.exists() else ""

    async def worker_stats(self) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(timeout=5) as client:
            return [(await client.get(f"{bot}/healthz")).json() for bot in self.plan["bots"]]


def nginx_available() -> bool:
    """Whether to balance with nginx (TEST_SCALE_NGINX=0 forces the direct pairing)."""
    if os.environ.get("TEST_SCALE_NGINX") == "0":
        return False
    return shutil.which("nginx") is not None or Path("/usr/sbin/nginx").exists()


@pytest.fixture(scope="session")
def trained_model() -> Path:
    """Train once (if the data changed) before any Rasa replica starts."""
    return ensure_model(Settings())


@pytest.fixture(scope="session")
def scale_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("scale-redis")) as url:
        yield url


async def _wait_ready(
    process: subprocess.Popen[bytes], run_dir: Path, log: Path, timeout: float
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    plan_file = run_dir / "scaled.json"

    def fail(why: str) -> AssertionError:
        return AssertionError(f"scaled stack {why}:\n{log.read_text(errors='replace')[-6000:]}")

    while not plan_file.exists():
        if process.poll() is not None:
            raise fail("exited before writing its plan")
        if loop.time() > deadline:
            raise fail("wrote no plan")
        await asyncio.sleep(0.2)
    plan: dict[str, Any] = json.loads(plan_file.read_text())
    urls = [f"{u}/status" for u in plan["rasa"]] + [f"{u}/health" for u in plan["actions"]]
    urls += [f"{u}/healthz" for u in plan["bots"] + plan["webs"]]
    if plan["nginx"]:
        urls += [f"{plan['public_url']}/nginx-healthz", f"{plan['rasa_lb']}/status"]
    async with httpx.AsyncClient(timeout=2) as client:
        while urls:
            if process.poll() is not None:
                raise fail("exited while starting")
            if loop.time() > deadline:
                raise fail(f"not ready after {timeout}s (waiting for {urls})")
            still = []
            for url in urls:
                try:
                    response = await client.get(url)
                    ok = response.status_code == 200 and (
                        not url.endswith("/status") or bool(response.json().get("model_file"))
                    )
                except httpx.HTTPError:
                    ok = False
                if not ok:
                    still.append(url)
            urls = still
            if urls:
                await asyncio.sleep(0.5)
    return plan


def _launch(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start the stack in its own process group (honcho and everything it runs)."""
    with log.open("ab") as output:
        return subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="session")
async def scaled(
    tmp_path_factory: pytest.TempPathFactory,
    trained_model: Path,
    pg_database_url: str,  # noqa: F811
    scale_redis: str,
) -> AsyncIterator[Scaled]:
    data_dir = tmp_path_factory.mktemp("scaled")
    # A bot of this run's own: update claims in Redis (bot/dedupe.py) are per bot id and
    # outlive the run, and the fake numbers updates from the same start every time.
    fake = FakeTelegram(token=f"{7_000_000_000 + secrets.randbelow(10**9)}:TEST-TOKEN")
    fake.deliver_webhooks = True
    await fake.start()
    secret = secrets.token_urlsafe(24)
    env = {
        **os.environ,
        "DATA_DIR": str(data_dir),
        "DATABASE_URL": pg_database_url,
        "REDIS_URL": scale_redis,
        "TELEGRAM_BOT_TOKEN": fake.token,
        "TELEGRAM_API_BASE_URL": fake.base_url,
        "WEBHOOK_SECRET": secret,
        "NOTIFIER_POLL_S": "0.5",
        "PTB_TIMEDELTA": "true",
        "PYTHONUNBUFFERED": "1",
    }
    command = [sys.executable, str(SCALED_SCRIPT), "--free-ports"]
    if not nginx_available():
        command.append("--no-nginx")
    log = data_dir / "scaled.log"
    process = _launch(command, env, log)
    try:
        plan = await _wait_ready(process, data_dir / "run", log, START_TIMEOUT_S)
        if not plan["nginx"]:
            # No load balancer here: Telegram's deliveries alternate between the workers.
            path = plan["webhook_url"].split("/", 3)[3]
            fake.webhook_targets = [f"{bot}/{path}" for bot in plan["bots"]]
        await fake.wait_until(lambda: fake.webhook is not None, 30, "setWebhook")
        yield Scaled(fake, plan, log, pg_database_url, secret)
    finally:
        await asyncio.to_thread(_stop, process)
        await fake.stop()
