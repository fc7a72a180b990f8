"""Starting the stack: migrate, train if needed, then run every process under one
supervisor (app/restarter.py: a crashed process is restarted, the others keep
serving) in the foreground, or in the background for `orders chat`."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from app.restarter import Program, supervise
from config import PROJECT_ROOT
from config.settings import Settings
from nlu.tooling.engine import (
    actions_command,
    actions_env,
    engine_env,
    ensure_model,
    model_path,
    rasa_command,
)
from services import prepare_database

READY_TIMEOUT_S = 900.0


def prepare(settings: Settings) -> Path:
    """Migrate the database (once, under a lock) and make sure a model exists."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(prepare_database(settings.db_url))
    return ensure_model(settings)


def run_foreground(settings: Settings, *, with_bot: bool = True, with_web: bool = True) -> int:
    """Run rasa, actions, web and (with a token) the bot until Ctrl-C or SIGTERM,
    restarting any of them that stops."""
    model = prepare(settings)
    cli = [sys.executable, "-m", "app.cli"]
    programs = [
        Program("rasa", rasa_command(settings, model), engine_env(), PROJECT_ROOT),
        Program("actions", actions_command(settings), actions_env(settings), PROJECT_ROOT),
    ]
    if with_web:
        programs.append(Program("web", [*cli, "web"], dict(os.environ), PROJECT_ROOT))
    if with_bot and settings.telegram_bot_token:
        programs.append(Program("bot", [*cli, "bot"], dict(os.environ), PROJECT_ROOT))
    elif with_bot:
        print(
            "TELEGRAM_BOT_TOKEN is not set, so the Telegram front is off; the engine and "
            "actions run. Talk to the bot in a terminal with: .venv/bin/orders chat --user me",
            flush=True,
        )
    return supervise(programs)


def stack_ready(settings: Settings) -> bool:
    """Whether the engine (with a model) and the action server both answer."""
    try:
        status = httpx.get(f"{settings.rasa_url}/status", timeout=2.0)
        health = httpx.get(settings.actions_url.replace("/webhook", "/health"), timeout=2.0)
    except httpx.HTTPError:
        return False
    return (
        status.status_code == 200
        and bool(status.json().get("model_file"))
        and (health.status_code == 200)
    )


def stack_listening(settings: Settings) -> bool:
    """Whether something accepts connections on the engine's or the action server's
    port: a stack that is starting (loading its model) or restarting a process."""
    for host, port in (
        (settings.rasa_host, settings.rasa_port),
        (settings.actions_host, settings.actions_port),
    ):
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return True
        except OSError:
            continue
    return False


def _wait_until_ready(
    settings: Settings, process: subprocess.Popen[bytes] | None, log: Path
) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not stack_ready(settings):
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"The stack stopped while starting; see {log}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"The stack did not become ready; see {log}")
        time.sleep(0.5)


class StaleEngine(RuntimeError):
    """The running engine serves another model than the current training data's."""


def served_model(settings: Settings) -> str | None:
    """The file name of the model the running engine serves, if it says."""
    try:
        model_file = httpx.get(f"{settings.rasa_url}/status", timeout=2.0).json().get("model_file")
    except (httpx.HTTPError, ValueError):
        return None
    return Path(str(model_file)).name if model_file else None


def check_served_model(settings: Settings, *, exact: bool) -> None:
    """A running engine left from before the training data changed would answer with an
    older model: StaleEngine when the answers must come from the current model (classify,
    evaluate-nlu), else a warning on stderr."""
    served, expected = served_model(settings), model_path(settings).name
    if served == expected:
        return
    message = (
        f"The engine at {settings.rasa_url} serves {served or 'an unknown model'}, not "
        f"{expected} (the model of the current training data). Stop that stack, or set "
        "RASA_PORT and ACTIONS_PORT to free ports so that a new one is started."
    )
    if exact:
        raise StaleEngine(message)
    print(f"Warning: {message}", file=sys.stderr, flush=True)


@contextmanager
def running_stack(
    settings: Settings, *, with_bot: bool, log: Path, exact_model: bool = False
) -> Iterator[None]:
    """Use the running stack, or start one in the background and stop it afterwards.
    A running stack with another model is refused (`exact_model`) or warned about."""
    if stack_ready(settings):
        check_served_model(settings, exact=exact_model)
        yield
        return
    if stack_listening(settings):
        # A stack is starting (another `orders up`) or restarting its engine: wait for
        # it, rather than start a second one on the same ports.
        _wait_until_ready(settings, None, log)
        check_served_model(settings, exact=exact_model)
        yield
        return
    log.parent.mkdir(parents=True, exist_ok=True)
    # The terminal chat and classify need no web process (nor a free WEB_PORT).
    command = [sys.executable, "-m", "app.cli", "up", "--no-web"]
    command += [] if with_bot else ["--no-bot"]
    with log.open("ab") as output:
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_until_ready(settings, process, log)
        yield
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
