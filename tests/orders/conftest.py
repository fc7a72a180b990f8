"""Fixtures for the orders package tests."""

from __future__ import annotations

import pytest

from orders.settings import Settings

SETTINGS_VARIABLES = [name.upper() for name in Settings.model_fields]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No setting from the developer's shell or the project's .env file."""
    for name in SETTINGS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    # load_settings() cannot pass _env_file=None; switch the file off for every reader.
    monkeypatch.setitem(Settings.model_config, "env_file", None)
