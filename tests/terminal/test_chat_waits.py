"""`orders chat` shows its prompt only once a message can be answered (issue 12): while
the stack is still starting (the engine loading its model) it waits and says so, and a
stack already starting on the ports is waited for, never started a second time."""

from __future__ import annotations

import io
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from app import supervisor
from config.settings import Settings
from i18n import t
from services import prepare_database
from terminal.chat import chat


class StartingStack:
    """A fake engine and action server that listen at once but are ready only later,
    like a stack whose engine is still loading its model."""

    def __init__(self) -> None:
        self.ready_at: float | None = None
        stack = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                ready = stack.ready_at is not None and time.monotonic() >= stack.ready_at
                if self.path == "/status":
                    body: dict[str, Any] = {"model_file": "orders-x.tar.gz"} if ready else {}
                    self._answer(200 if ready else 409, body)
                elif self.path == "/health":
                    self._answer(200, {"status": "ok"})
                else:
                    self._answer(404, {})

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.engine = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.actions = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._threads = [
            threading.Thread(target=server.serve_forever, daemon=True)
            for server in (self.engine, self.actions)
        ]

    def ready_in(self, seconds: float) -> None:
        self.ready_at = time.monotonic() + seconds

    def __enter__(self) -> StartingStack:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for server in (self.engine, self.actions):
            server.shutdown()
            server.server_close()


@pytest.fixture
def starting() -> Iterator[StartingStack]:
    with StartingStack() as stack:
        yield stack


def _settings(tmp_path: Path, stack: StartingStack) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=tmp_path,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'orders.db'}",
        rasa_host="127.0.0.1",
        rasa_port=stack.engine.server_address[1],
        actions_host="127.0.0.1",
        actions_port=stack.actions.server_address[1],
        redis_url=None,
    )


class TimedOutput(io.StringIO):
    """Output that remembers when the first prompt was written."""

    def __init__(self) -> None:
        super().__init__()
        self.prompt_at: float | None = None

    def write(self, text: str) -> int:
        if "you> " in text and self.prompt_at is None:
            self.prompt_at = time.monotonic()
        return super().write(text)


async def test_the_prompt_waits_for_the_engine_to_load_its_model(
    tmp_path: Path, starting: StartingStack
) -> None:
    settings = _settings(tmp_path, starting)
    await prepare_database(settings.db_url)
    starting.ready_in(1.5)
    out = TimedOutput()
    await chat(settings, "me", io.StringIO("/quit\n"), out, ready_timeout_s=30)
    assert starting.ready_at is not None and out.prompt_at is not None
    assert out.prompt_at >= starting.ready_at
    text = out.getvalue()
    assert text.index(t("chat_starting", "zh")) < text.index(t("chat_intro", "zh", user="me"))
    assert t("chat_starting", "en") in text


async def test_a_stack_that_never_gets_ready_gives_no_prompt(
    tmp_path: Path, starting: StartingStack
) -> None:
    settings = _settings(tmp_path, starting)
    await prepare_database(settings.db_url)
    out = TimedOutput()
    await chat(settings, "me", io.StringIO("hello\n"), out, ready_timeout_s=1)
    assert out.prompt_at is None
    log = tmp_path / "logs" / "stack.log"
    assert t("chat_not_ready", "zh", minutes=1, log=log) in out.getvalue()
    assert t("chat_not_ready", "en", minutes=1, log=log) in out.getvalue()


def test_a_stack_still_starting_is_waited_for_not_started_again(
    tmp_path: Path, starting: StartingStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path, starting)
    started: list[list[str]] = []

    def popen(command: list[str], **_: object) -> subprocess.Popen[bytes]:
        started.append(command)
        raise AssertionError("a second stack was started on the same ports")

    monkeypatch.setattr(subprocess, "Popen", popen)  # the module app.supervisor calls
    monkeypatch.setattr(supervisor, "check_served_model", lambda *_, **__: None)
    starting.ready_in(1.5)
    with supervisor.running_stack(settings, with_bot=True, log=tmp_path / "stack.log"):
        assert supervisor.stack_ready(settings)
    assert started == []
