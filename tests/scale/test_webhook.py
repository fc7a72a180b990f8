"""bot/webhook.py in process: the secret token check, the update path through the
update processor, health, malformed bodies, and the settings of webhook mode."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from telegram import Update
from telegram.ext import ApplicationBuilder, ContextTypes, TypeHandler

from bot.app import BotApplication
from bot.ordering import PerChatUpdateProcessor
from bot.webhook import SECRET_HEADER, WebhookStats, create_webhook_app, register_webhook
from orders.settings import Settings, SettingsError, load_settings
from tests.fakes.telegram_api import FakeTelegram

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


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    fake = FakeTelegram()
    await fake.start()
    application = (
        ApplicationBuilder()
        .token(fake.token)
        .base_url(f"{fake.base_url}/bot")
        .updater(None)
        .concurrent_updates(PerChatUpdateProcessor(8))
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
    }


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
