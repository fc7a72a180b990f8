"""`orders chat` says it trains the model only when it will (issue 12)."""

from __future__ import annotations

import socket
from pathlib import Path

from app.cli import chat_notice
from config.settings import Settings
from i18n import t
from nlu.tooling.engine import model_path


def _closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _settings(models: Path) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        models_dir=models,
        rasa_host="127.0.0.1",
        rasa_port=_closed_port(),
        actions_port=_closed_port(),
    )


def test_training_is_announced_only_without_a_model(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    assert chat_notice(settings) == "chat_starting_training"
    model_path(settings).write_bytes(b"a model")
    assert chat_notice(settings) == "chat_starting"
    for language in ("zh", "en"):
        assert "训练" not in t("chat_starting", language)
        assert "train" not in t("chat_starting", language)
    assert "训练" in t("chat_starting_training", "zh")
