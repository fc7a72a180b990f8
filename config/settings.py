"""Every setting of the application in one place, read from the environment."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from config import PROJECT_ROOT


class SettingsError(Exception):
    """A setting is missing or malformed; the message says which and how to fix it."""


class Settings(BaseSettings):
    """Environment variables (or a `.env` file in the project root) configure the stack."""

    # An empty variable (FOO= in .env or the shell) means unset, i.e. the default.
    model_config = SettingsConfigDict(
        env_file=PROJECT_ROOT / ".env", extra="ignore", env_ignore_empty=True
    )

    telegram_bot_token: str | None = None
    telegram_api_base_url: str = "https://api.telegram.org"
    database_url: str = ""
    redis_url: str | None = None
    data_dir: Path = PROJECT_ROOT / "data"
    models_dir: Path = PROJECT_ROOT / "models"
    rasa_venv: Path = PROJECT_ROOT / ".venv-rasa"
    rasa_host: str = "127.0.0.1"
    rasa_port: int = Field(default=5005, ge=1, le=65535)
    actions_host: str = "127.0.0.1"
    actions_port: int = Field(default=5055, ge=1, le=65535)
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8000, ge=1, le=65535)
    timezone: str = "Asia/Shanghai"
    engine_timeout_s: float = Field(default=20.0, gt=0)
    # While the engine is not ready (loading its model, restarting), a resident's message
    # is held up to this many seconds, then answered "send it again"; 0 = not held. A
    # message held this long is acknowledged once ("one moment") where the front can.
    engine_wait_s: float = Field(default=90.0, ge=0, le=3600)
    engine_hold_notice_s: float = Field(default=5.0, ge=0)
    max_photo_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    # Signs the web chat's resident cookie; unset: one is generated once and kept in
    # data_dir/web_secret, so residents keep their identity across restarts.
    web_secret: str | None = None
    # The notifier looks at the outbox at least this often (a wake-up makes it sooner),
    # and checks SLAs (escalation, auto-close) this often.
    notifier_enabled: bool = True
    notifier_poll_s: float = Field(default=2.0, gt=0)
    sweep_interval_s: float = Field(default=60.0, gt=0)
    # An emergency (hand-off) ticket no staff member has acknowledged is alerted to
    # staff again this many minutes after filing, and again every this many minutes
    # until someone acknowledges it (the sweep does it; docs/dashboard.md).
    emergency_realert_minutes: int = Field(default=5, ge=1, le=24 * 60)
    handoff_realert_minutes: int = Field(default=30, ge=1, le=24 * 60)
    # Messages (text, buttons, pins…) one resident may send per minute before the bot
    # answers "please slow down" and stops passing them to the engine; 0 = no limit.
    rate_limit_per_minute: int = Field(default=20, ge=0)
    # Failed web sign-ins (staff /login, organisations /org/login) allowed per account
    # name and per client IP in a fixed window of LOGIN_WINDOW_MINUTES; more attempts
    # are refused (429) until the window ends. See docs/dashboard.md.
    login_max_failures: int = Field(default=5, ge=1)
    login_max_failures_per_ip: int = Field(default=30, ge=1)
    login_window_minutes: int = Field(default=15, ge=1, le=24 * 60)
    # The resident's phone and exact address (and location, photo) of a ticket are
    # erased this many days after it ended (closed, rejected, cancelled, merged).
    pii_retention_days: int = Field(default=180, ge=1)
    # With Redis, a conversation the engine keeps (its messages and form state) is
    # forgotten after this many days without a message; without Redis it lives in the
    # engine's memory until the engine restarts.
    conversation_ttl_days: int = Field(default=30, ge=1)
    # How updates reach the bot: long polling (one bot process) or a webhook (any
    # number of bot workers behind a load balancer; see docs/deployment.md).
    bot_mode: Literal["polling", "webhook"] = "polling"
    # The public https URL Telegram posts updates to (the load balancer); its path is
    # where each bot worker serves the webhook.
    webhook_url: str | None = None
    # Telegram sends it in X-Telegram-Bot-Api-Secret-Token; requests without it are refused.
    webhook_secret: str | None = None
    webhook_max_connections: int = Field(default=40, ge=1, le=100)
    bot_host: str = "127.0.0.1"
    bot_port: int = Field(default=8443, ge=1, le=65535)

    @field_validator(
        "telegram_bot_token",
        "redis_url",
        "web_secret",
        "webhook_url",
        "webhook_secret",
        mode="before",
    )
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value in ("", None) else value

    @field_validator("telegram_bot_token")
    @classmethod
    def _token_shape(cls, value: str | None) -> str | None:
        bot_id, _, secret = (value or "").partition(":")
        if value is not None and (not bot_id.isdigit() or len(secret) < 5):
            raise ValueError(
                "TELEGRAM_BOT_TOKEN looks wrong: it should look like 123456789:AA... "
                "as given by @BotFather; unset it to run without Telegram"
            )
        return value

    @field_validator("telegram_api_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if urlsplit(value).scheme not in ("http", "https"):
            raise ValueError(
                "TELEGRAM_API_BASE_URL must be an http(s) URL, e.g. https://api.telegram.org"
            )
        return value.rstrip("/")

    @field_validator("bot_mode", mode="before")
    @classmethod
    def _bot_mode(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in ("polling", "webhook"):
            return value.strip().lower()
        raise ValueError("BOT_MODE must be polling or webhook")

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
            raise ValueError(
                "WEBHOOK_URL must be the public http(s) URL Telegram posts updates to, "
                "e.g. https://bot.example.org/telegram/webhook (no query string)"
            )
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_-]{16,256}", value):
            raise ValueError(
                "WEBHOOK_SECRET must be 16 to 256 characters of A-Z, a-z, 0-9, _ and -, "
                "e.g. the output of: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if value and not value.startswith(("sqlite+aiosqlite:///", "postgresql+asyncpg://")):
            raise ValueError(
                "DATABASE_URL must be sqlite+aiosqlite:///path/to/file.db or "
                "postgresql+asyncpg://user@host/db; unset it to use the default SQLite file"
            )
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        message = (
            "REDIS_URL must be a redis:// URL such as redis://127.0.0.1:6379/0; "
            "unset it to run without Redis"
        )
        parts = urlsplit(value)
        try:
            _ = parts.port
        except ValueError:
            raise ValueError(message) from None
        database = parts.path.lstrip("/")
        if parts.scheme not in ("redis", "rediss") or (database and not database.isdigit()):
            raise ValueError(message)
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"TIMEZONE {value!r} is not a known time zone; use a name such as Asia/Shanghai"
            ) from None
        return value

    @property
    def db_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the data folder."""
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'orders.db'}"

    @property
    def rasa_url(self) -> str:
        return f"http://{self.rasa_host}:{self.rasa_port}"

    @property
    def actions_url(self) -> str:
        return f"http://{self.actions_host}:{self.actions_port}/webhook"

    @property
    def web_url(self) -> str:
        return f"http://{self.web_host}:{self.web_port}"

    @property
    def webhook_path(self) -> str:
        """The path of WEBHOOK_URL: where a bot worker serves the webhook."""
        return urlsplit(self.webhook_url or "").path or "/"

    def webhook_problem(self) -> str | None:
        """Why the bot cannot run in webhook mode with these settings, or None."""
        missing = [
            name
            for name, value in (
                ("TELEGRAM_BOT_TOKEN", self.telegram_bot_token),
                ("WEBHOOK_URL", self.webhook_url),
                ("WEBHOOK_SECRET", self.webhook_secret),
            )
            if not value
        ]
        if missing:
            return f"Webhook mode needs {', '.join(missing)} (see docs/deployment.md)."
        return None

    @property
    def photos_dir(self) -> Path:
        return self.data_dir / "photos"


def load_settings() -> Settings:
    """Read the settings, turning validation errors into one readable sentence each."""
    try:
        return Settings()
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            name = str(error["loc"][0]).upper() if error["loc"] else "settings"
            message = str(error["msg"]).removeprefix("Value error, ")
            lines.append(f"{name}: {message}")
        raise SettingsError("Configuration problem — " + "; ".join(lines)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings of this process, read once."""
    return load_settings()
