"""Settings from the environment: defaults, and one readable error per bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import PROJECT_ROOT
from config.settings import Settings, SettingsError, load_settings

# The environment is cleaned and .env switched off by clean_settings (tests/conftest.py).
VARIABLES = [name.upper() for name in Settings.model_fields]


def _from_file(env_file: Path | None) -> Settings:
    """The settings with `env_file` as the .env file (None: no file)."""
    # `_env_file` is pydantic-settings' init-only argument, not in the signature mypy sees.
    return Settings(_env_file=env_file)  # type: ignore[call-arg]


def test_variables_cover_the_readme() -> None:
    assert {"TELEGRAM_BOT_TOKEN", "DATABASE_URL", "REDIS_URL", "RASA_PORT", "TIMEZONE"} <= set(
        VARIABLES
    )


def test_defaults() -> None:
    settings = _from_file(None)
    assert settings.telegram_bot_token is None
    assert settings.redis_url is None
    assert settings.telegram_api_base_url == "https://api.telegram.org"
    assert settings.data_dir == PROJECT_ROOT / "data"
    assert settings.db_url == f"sqlite+aiosqlite:///{PROJECT_ROOT / 'data' / 'orders.db'}"
    assert settings.rasa_url == "http://127.0.0.1:5005"
    assert settings.actions_url == "http://127.0.0.1:5055/webhook"
    assert settings.timezone == "Asia/Shanghai"
    assert settings.photos_dir == PROJECT_ROOT / "data" / "photos"


def test_load_settings_defaults_match() -> None:
    assert load_settings() == _from_file(None)


def test_env_file_is_ignored_when_switched_off(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("RASA_PORT=6006\n")
    assert _from_file(env_file).rasa_port == 6006
    assert load_settings().rasa_port == 5005


def test_empty_line_in_env_file_counts_as_unset(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("RASA_PORT=\nTIMEZONE=\nTELEGRAM_BOT_TOKEN=\n")
    settings = _from_file(env_file)
    assert (settings.rasa_port, settings.timezone) == (5005, "Asia/Shanghai")
    assert settings.telegram_bot_token is None


def test_data_dir_moves_the_default_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    settings = load_settings()
    assert settings.db_url == f"sqlite+aiosqlite:///{tmp_path}/orders.db"


def test_values_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456789:AAbbCCdd")
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", "http://127.0.0.1:8081/")
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://orders@db/orders")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/1")
    monkeypatch.setenv("RASA_PORT", "6005")
    monkeypatch.setenv("ACTIONS_PORT", "6055")
    settings = load_settings()
    assert settings.telegram_bot_token == "123456789:AAbbCCdd"
    assert settings.telegram_api_base_url == "http://127.0.0.1:8081"
    assert settings.db_url == "postgresql+asyncpg://orders@db/orders"
    assert settings.redis_url == "redis://127.0.0.1:6379/1"
    assert settings.rasa_url == "http://127.0.0.1:6005"
    assert settings.actions_url == "http://127.0.0.1:6055/webhook"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TELEGRAM_BOT_TOKEN", "not-a-token"),
        ("TELEGRAM_BOT_TOKEN", "abc:def"),
        ("TELEGRAM_API_BASE_URL", "api.telegram.org"),
        ("DATABASE_URL", "sqlite:///data/orders.db"),
        ("DATABASE_URL", "postgresql://user@host/db"),
        ("DATABASE_URL", "mysql://x"),
        ("REDIS_URL", "http://127.0.0.1:6379"),
        ("REDIS_URL", "127.0.0.1:6379"),
        ("RASA_PORT", "abc"),
        ("RASA_PORT", "0"),
        ("RASA_PORT", "70000"),
        ("ACTIONS_PORT", "-1"),
        ("ENGINE_TIMEOUT_S", "0"),
        ("MAX_PHOTO_BYTES", "lots"),
    ],
)
def test_malformed_setting_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=variable):
        load_settings()


def test_token_error_does_not_echo_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "secret-looking-value")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "secret-looking-value" not in str(caught.value)


def test_every_malformed_setting_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "http://x")
    monkeypatch.setenv("RASA_PORT", "abc")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "REDIS_URL" in str(caught.value)
    assert "RASA_PORT" in str(caught.value)


@pytest.mark.parametrize(
    "variable",
    [
        "TELEGRAM_BOT_TOKEN",
        "DATABASE_URL",
        "REDIS_URL",
        "TELEGRAM_API_BASE_URL",
        "RASA_PORT",
        "ACTIONS_PORT",
        "TIMEZONE",
        "ENGINE_TIMEOUT_S",
        "MAX_PHOTO_BYTES",
    ],
)
def test_empty_string_counts_as_unset(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    monkeypatch.setenv(variable, "")
    field = variable.lower()
    assert getattr(load_settings(), field) == Settings.model_fields[field].default


def test_unknown_timezone_is_a_settings_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIMEZONE", "Mars/Olympus_Mons")
    with pytest.raises(SettingsError, match="TIMEZONE"):
        load_settings()
