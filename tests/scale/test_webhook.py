"""bot/webhook.py in process: the secret token check, the update path through the
update processor, redelivered updates handled once (one worker, and two real bot workers
sharing Redis), health, malformed bodies, and the settings of webhook mode."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from telegram import Update
from telegram.ext import (
    ApplicationBuilder,
    BaseUpdateProcessor,
    ContextTypes,
    SimpleUpdateProcessor,
    TypeHandler,
)

from bot.app import BotApplication, build_application
from bot.ordering import PerChatUpdateProcessor
from bot.webhook import SECRET_HEADER, WebhookStats, create_webhook_app, register_webhook
from config.settings import Settings, SettingsError, load_settings
from services import prepare_database
from tests.e2e.conftest import make_settings
from tests.fakes.telegram import FakeTelegram
from tests.faults.servers import FakeEngine
from tests.servers import redis_server

SECRET = "s3cret-token_for-tests-0123456789"


def settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path,
        "telegram_bot_token": "123456:TEST-TOKEN",
        "webhook_url": "https://bot.example.org/telegram/webhook",
        "webhook_secret": SECRET,
        "bot_port": 8101,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


class Setup:
    def __init__(self, fake: FakeTelegram, client: httpx.AsyncClient, stats: WebhookStats):
        self.fake = fake
        self.client = client
        self.stats = stats
        self.seen: list[int] = []


@asynccontextmanager
async def bare_worker(
    tmp_path: Path,
    processor: BaseUpdateProcessor | None = None,
    then: Callable[[], Awaitable[None]] | None = None,
) -> AsyncIterator[Setup]:
    """A webhook worker whose PTB application has one handler that records the update
    id (then awaits `then`), against the fake Bot API."""
    fake = FakeTelegram()
    await fake.start()
    application = (
        ApplicationBuilder()
        .token(fake.token)
        .base_url(f"{fake.base_url}/bot")
        .updater(None)
        .concurrent_updates(processor or PerChatUpdateProcessor(8))
        .build()
    )
    stats = WebhookStats()
    app = create_webhook_app(
        cast(BotApplication, application),
        settings(tmp_path, telegram_api_base_url=fake.base_url),
        stats=stats,
        manage_lifecycle=False,
    )
    transport = httpx.ASGITransport(app=app)
    client = httpx.AsyncClient(transport=transport, base_url="http://worker")
    result = Setup(fake, client, stats)

    async def record(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert isinstance(update, Update)
        result.seen.append(update.update_id)
        if then is not None:
            await then()

    application.add_handler(TypeHandler(Update, record))
    await application.initialize()
    await application.start()
    try:
        yield result
    finally:
        await client.aclose()
        await application.stop()
        await application.shutdown()
        await fake.stop()


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    async with bare_worker(tmp_path) as result:
        yield result


def update(update_id: int = 1) -> dict[str, Any]:
    user = {"id": 42, "is_bot": False, "first_name": "R"}
    return {
        "update_id": update_id,
        "message": {
            "message_id": 1,
            "from": user,
            "chat": {"id": 42, "type": "private", "first_name": "R"},
            "date": 1_760_000_000,
            "text": "hello",
        },
    }


async def test_requests_without_the_secret_are_refused_and_dropped(setup: Setup) -> None:
    path = "/telegram/webhook"
    for headers in ({}, {SECRET_HEADER: "wrong"}, {SECRET_HEADER: SECRET + "x"}):
        response = await setup.client.post(path, json=update(), headers=headers)
        assert response.status_code == 403
    assert setup.seen == [] and setup.stats.rejected == 3 and setup.stats.handled == 0

    response = await setup.client.post(path, json=update(7), headers={SECRET_HEADER: SECRET})
    assert response.status_code == 200
    assert setup.seen == [7], "answered only once handled"
    assert setup.stats.handled == 1

    health = await setup.client.get("/healthz")
    assert health.status_code == 200
    assert health.json() | {"worker": ""} == {
        "status": "ok",
        "worker": "",
        "handled": 1,
        "rejected": 3,
        "invalid": 0,
        "duplicates": 0,
        "failed": 0,
    }


async def test_a_redelivered_update_is_answered_at_once_and_handled_once(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.webhook")
    path, good = "/telegram/webhook", {SECRET_HEADER: SECRET}
    for _ in range(3):  # the first delivery, then Telegram's re-sends
        assert (await setup.client.post(path, json=update(7), headers=good)).status_code == 200
    assert (await setup.client.post(path, json=update(8), headers=good)).status_code == 200
    assert setup.seen == [7, 8]
    assert (setup.stats.handled, setup.stats.duplicates) == (2, 2)
    health = (await setup.client.get("/healthz")).json()
    assert (health["handled"], health["duplicates"]) == (2, 2)
    duplicates = [r.getMessage() for r in caplog.records if "duplicate" in r.getMessage()]
    assert duplicates == ["bot.update_duplicate id=7 worker=127.0.0.1:8101"] * 2
    assert not any("hello" in r.getMessage() for r in caplog.records), "no message text"


async def test_a_copy_arriving_while_the_first_is_handled_is_not_handled(tmp_path: Path) -> None:
    """What happens when the engine is slow: Telegram re-sends before the first answer."""
    started, release = asyncio.Event(), asyncio.Event()

    async def slow() -> None:
        started.set()
        await release.wait()

    path, good = "/telegram/webhook", {SECRET_HEADER: SECRET}
    async with bare_worker(tmp_path, then=slow) as worker:
        first = asyncio.create_task(worker.client.post(path, json=update(9), headers=good))
        await asyncio.wait_for(started.wait(), 10)
        copy = await asyncio.wait_for(worker.client.post(path, json=update(9), headers=good), 5)
        assert copy.status_code == 200 and not first.done(), "the copy is answered at once"
        release.set()
        assert (await first).status_code == 200
        assert worker.seen == [9]
        assert (worker.stats.handled, worker.stats.duplicates) == (1, 1)


class FailsAfterHandling(SimpleUpdateProcessor):
    """Handles the update, then fails (something after the engine turn went wrong)."""

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        await coroutine
        raise RuntimeError("failed after handling")


async def test_a_failed_update_keeps_its_claim(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path, good = "/telegram/webhook", {SECRET_HEADER: SECRET}
    async with bare_worker(tmp_path, FailsAfterHandling(8)) as worker:
        with caplog.at_level(logging.ERROR, logger="bot.webhook"):
            failed = await worker.client.post(path, json=update(11), headers=good)
        # Telegram re-sends after the 500; the copy is answered 200 and not handled again.
        retried = await worker.client.post(path, json=update(11), headers=good)
        assert (failed.status_code, retried.status_code) == (500, 200)
        assert worker.seen == [11]
        assert (worker.stats.handled, worker.stats.failed, worker.stats.duplicates) == (0, 1, 1)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == [
        "bot.update_failed id=11 worker=127.0.0.1:8101"
    ]


@pytest.fixture(scope="module")
def shared_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("webhook-redis")) as url:
        yield url


async def test_two_real_bot_workers_sharing_redis_handle_a_redelivered_update_once(
    tmp_path: Path, shared_redis: str
) -> None:
    """The real resident bot (engine client, front desk, rate limit, Waker's Redis) as two
    webhook workers; the same update posted to both reaches the engine once."""
    engine = FakeEngine()
    await engine.start()
    # A bot of its own: Redis outlives test runs, and the fake numbers updates from the
    # same start every time.
    fake = FakeTelegram(token=f"{7_000_000_000 + secrets.randbelow(10**9)}:TEST-TOKEN")
    await fake.start()
    database = f"sqlite+aiosqlite:///{tmp_path / 'orders.db'}"
    await prepare_database(database)
    workers: list[tuple[BotApplication, WebhookStats, httpx.AsyncClient]] = []
    try:
        for port in (8101, 8102):
            worker_settings = make_settings(
                tmp_path,
                database_url=database,
                redis_url=shared_redis,
                rasa_port=engine.port,
                telegram_bot_token=fake.token,
                telegram_api_base_url=fake.base_url,
                notifier_enabled=False,
                bot_mode="webhook",
                webhook_url="https://bot.example.org/telegram/webhook",
                webhook_secret=SECRET,
                bot_port=port,
            )
            application = build_application(worker_settings, polling=False)
            await application.initialize()
            assert application.post_init is not None
            await application.post_init(application)
            await application.start()
            stats = WebhookStats()
            app = create_webhook_app(
                application, worker_settings, stats=stats, manage_lifecycle=False
            )
            transport = httpx.ASGITransport(app=app)
            client = httpx.AsyncClient(transport=transport, base_url=f"http://bot{port}")
            workers.append((application, stats, client))

        resident = fake.user(6_000_000_000 + secrets.randbelow(10**9), language_code="en")
        await resident.send_text("My kitchen tap is leaking")
        [body] = fake.pending_updates()  # what Telegram posts (and re-posts)
        headers = {SECRET_HEADER: SECRET}
        for _, _, client in (*workers, *workers):  # A, B, A, B
            response = await client.post("/telegram/webhook", json=body, headers=headers)
            assert response.status_code == 200
        [reply] = await resident.wait_for_messages(1, timeout=30)
        await resident.assert_no_messages(within=1.0)
        assert reply.text == "echo 1"
        assert engine.from_(f"telegram:{resident.chat_id}") == ["My kitchen tap is leaking"]
        assert [(s.handled, s.duplicates) for _, s, _ in workers] == [(1, 1), (0, 2)]
        health = [(await c.get("/healthz")).json() for _, _, c in workers]
        assert [(h["handled"], h["duplicates"]) for h in health] == [(1, 1), (0, 2)]
    finally:
        for application, _, client in workers:
            await client.aclose()
            await application.stop()
            await application.shutdown()
            assert application.post_shutdown is not None
            await application.post_shutdown(application)
        await fake.stop()
        await engine.stop()


async def test_malformed_and_oversized_bodies(setup: Setup) -> None:
    path = "/telegram/webhook"
    good = {SECRET_HEADER: SECRET}
    for body in (b"not json", b"[1, 2]", b'{"no": "update_id"}'):
        response = await setup.client.post(path, content=body, headers=good)
        assert response.status_code == 400, body
    huge = b'{"update_id": 1, "x": "' + b"a" * (1024 * 1024) + b'"}'
    assert (await setup.client.post(path, content=huge, headers=good)).status_code == 413
    assert (await setup.client.get(path, headers=good)).status_code == 405
    assert setup.seen == [] and setup.stats.invalid == 4


async def test_register_webhook_sends_url_secret_and_keeps_pending(
    setup: Setup, tmp_path: Path
) -> None:
    application = ApplicationBuilder().token(setup.fake.token).updater(None)
    bot_app = application.base_url(f"{setup.fake.base_url}/bot").build()
    await bot_app.initialize()
    try:
        await register_webhook(cast(BotApplication, bot_app), settings(tmp_path))
    finally:
        await bot_app.shutdown()
    [call] = setup.fake.calls_of("setWebhook")
    assert call["url"] == "https://bot.example.org/telegram/webhook"
    assert call["secret_token"] == SECRET
    assert call["drop_pending_updates"] is False
    assert "message" in call["allowed_updates"] and "callback_query" in call["allowed_updates"]


def test_webhook_settings_are_validated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name, value, needle in (
        ("BOT_MODE", "push", "BOT_MODE must be polling or webhook"),
        ("WEBHOOK_SECRET", "short", "WEBHOOK_SECRET must be 16 to 256"),
        ("WEBHOOK_SECRET", "has spaces in it, sixteen+", "WEBHOOK_SECRET must be"),
        ("WEBHOOK_URL", "ftp://example.org/hook", "WEBHOOK_URL must be"),
        ("BOT_PORT", "70000", "BOT_PORT"),
    ):
        with monkeypatch.context() as patch:
            patch.setenv(name, value)
            with pytest.raises(SettingsError, match=needle):
                load_settings()
    monkeypatch.setenv("BOT_MODE", "Webhook")
    monkeypatch.setenv("WEBHOOK_URL", "https://bot.example.org/tg/hook")
    loaded = load_settings()
    assert (loaded.bot_mode, loaded.webhook_path) == ("webhook", "/tg/hook")
    assert loaded.webhook_problem() is not None  # no token, no secret
    assert settings(tmp_path).webhook_problem() is None
