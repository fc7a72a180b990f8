"""Every setting of the application in one place, read from the environment."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from orders import PROJECT_ROOT


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
    max_photo_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    # Signs the web chat's resident cookie; unset: one is generated once and kept in
    # data_dir/web_secret, so residents keep their identity across restarts.
    web_secret: str | None = None
    # The notifier looks at the outbox at least this often (a wake-up makes it sooner),
    # and checks SLAs (escalation, auto-close) this often.
    notifier_enabled: bool = True
    notifier_poll_s: float = Field(default=2.0, gt=0)
    sweep_interval_s: float = Field(default=60.0, gt=0)

    @field_validator("telegram_bot_token", "redis_url", "web_secret", mode="before")
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
