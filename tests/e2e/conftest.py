"""End-to-end fixtures: the real engine, action server and database, and the real
PTB Application talking to a fake Bot API server over loopback HTTP."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import BotApplication, build_application
from config.settings import Settings
from nlu.tooling.engine import ensure_model
from services import make_engine, make_sessionmaker, prepare_database
from tests.fakes.telegram import FakeTelegram
from tests.servers import action_server, free_port, process, rasa_server, stack_env


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    """Settings for a test stack: its own data folder, database and free ports."""
    values: dict[str, object] = {
        "data_dir": data_dir,
        "database_url": f"sqlite+aiosqlite:///{data_dir / 'orders.db'}",
        "rasa_port": free_port(),
        "actions_port": free_port(),
        "telegram_bot_token": None,
        "redis_url": None,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A running engine + action server on a fresh database."""
    data_dir = tmp_path_factory.mktemp("stack")
    settings = make_settings(data_dir)
    asyncio.run(prepare_database(settings.db_url))
    model = ensure_model(settings, log=data_dir / "train.log")
    with (
        action_server(settings, data_dir / "actions.log"),
        rasa_server(settings, model, data_dir / "rasa.log"),
    ):
        yield settings


@pytest.fixture(scope="session")
async def db(stack: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on the stack's database, to read what the processes stored."""
    engine = make_engine(stack.db_url)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def start_bot(settings: Settings) -> BotApplication:
    """Build and start the real bot the way `run_polling` does, without its signal handling."""
    application = build_application(settings)
    await application.initialize()
    assert application.post_init is not None and application.updater is not None
    await application.post_init(application)
    await application.updater.start_polling(poll_interval=0, timeout=1)
    await application.start()
    return application


async def stop_bot(application: BotApplication) -> None:
    """Stop polling, the application and its resources."""
    assert application.updater is not None
    await application.updater.stop()
    await application.stop()
    await application.shutdown()
    assert application.post_shutdown is not None
    await application.post_shutdown(application)


@pytest.fixture(scope="session")
async def telegram(stack: Settings) -> AsyncIterator[FakeTelegram]:
    """A fake Bot API with the real resident bot polling it."""
    fake = FakeTelegram()
    await fake.start()
    settings = stack.model_copy(
        update={"telegram_bot_token": fake.token, "telegram_api_base_url": fake.base_url}
    )
    application = await start_bot(settings)
    yield fake
    await stop_bot(application)
    await fake.stop()


# Browser tests drive Debian's Chromium (`make test` installs it): Playwright's own
# browser download does not work offline.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def web_url(stack: Settings) -> Iterator[str]:
    """A real web process (`orders web`) on a free port, on the stack's settings."""
    port = free_port()
    env = {
        **os.environ,
        **stack_env(stack),
        "WEB_HOST": "127.0.0.1",
        "WEB_PORT": str(port),
        "REDIS_URL": stack.redis_url or "",
    }
    env.pop("TELEGRAM_BOT_TOKEN", None)
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "app.cli", "web"]
    with process(command, env, stack.data_dir / "web.log", f"{url}/healthz", timeout=60):
        yield url


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """A headless Chromium shared by the browser tests."""
    assert Path(CHROMIUM).exists(), "the browser tests need Debian's chromium: run make test"  # noqa: ASYNC240
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()
