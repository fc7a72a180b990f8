"""Every test here starts from default settings (tests/conftest.py's clean_settings)."""

import pytest


@pytest.fixture(autouse=True)
def _default_settings(clean_settings: None) -> None:
    """No variable from the shell, no .env file, no cached settings."""
