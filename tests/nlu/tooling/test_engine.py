"""The engine's model fingerprint and the configuration files written for it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from config import PROJECT_ROOT
from config.settings import Settings
from nlu.tooling import engine


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the training inputs, which the engine module then reads."""
    shutil.copytree(PROJECT_ROOT / "nlu" / "data", tmp_path / "nlu" / "data")
    shutil.copy(PROJECT_ROOT / "nlu" / "config.yml", tmp_path / "nlu" / "config.yml")
    shutil.copy(PROJECT_ROOT / "domain.yml", tmp_path / "domain.yml")
    components = [tmp_path / path.relative_to(PROJECT_ROOT) for path in engine.RASA_COMPONENTS]
    for source, copy in zip(engine.RASA_COMPONENTS, components, strict=True):
        shutil.copy(source, copy)
    (tmp_path / "requirements").mkdir()
    shutil.copy(
        PROJECT_ROOT / "requirements" / "rasa.lock.txt", tmp_path / "requirements" / "rasa.lock.txt"
    )
    monkeypatch.setattr(engine, "PROJECT_ROOT", tmp_path)
    monkeypatch.setattr(engine, "RASA_CONFIG", tmp_path / "nlu" / "config.yml")
    monkeypatch.setattr(engine, "RASA_DOMAIN", tmp_path / "domain.yml")
    monkeypatch.setattr(engine, "RASA_DATA", tmp_path / "nlu" / "data")
    monkeypatch.setattr(engine, "RASA_LOCK", tmp_path / "requirements" / "rasa.lock.txt")
    monkeypatch.setattr(engine, "RASA_COMPONENTS", components)
    return tmp_path


def _settings(data_dir: Path, **values: Any) -> Settings:
    # `_env_file` is pydantic-settings' init-only argument, not in the signature mypy sees.
    return Settings(_env_file=None, data_dir=data_dir, **values)  # type: ignore[call-arg]


def test_fingerprint_of_the_real_project_is_stable() -> None:
    first = engine.model_fingerprint()
    assert first == engine.model_fingerprint()
    assert len(first) == 16
    int(first, 16)


def test_training_inputs_include_config_domain_lock_and_data() -> None:
    inputs = engine.training_inputs()
    assert engine.RASA_CONFIG in inputs
    assert engine.RASA_DOMAIN in inputs
    assert engine.RASA_LOCK in inputs
    assert PROJECT_ROOT / "nlu" / "linear_intent.py" in inputs
    assert engine.RASA_DATA / "nlu.yml" in inputs
    assert engine.RASA_DATA / "rules.yml" in inputs


def test_copy_has_the_same_fingerprint(project: Path) -> None:
    monkeypatched = engine.model_fingerprint()
    assert monkeypatched == engine.model_fingerprint()


@pytest.mark.parametrize(
    "relative",
    [
        "nlu/data/nlu.yml",
        "nlu/data/rules.yml",
        "domain.yml",
        "nlu/config.yml",
        "nlu/linear_intent.py",
        "nlu/correction_intent.py",
        "nlu/corrections.py",
    ],
)
def test_fingerprint_changes_with_a_training_file(project: Path, relative: str) -> None:
    before = engine.model_fingerprint()
    path = project / relative
    path.write_text(path.read_text(encoding="utf-8") + "\n# changed\n", encoding="utf-8")
    assert engine.model_fingerprint() != before


def test_fingerprint_changes_with_the_engine_lock(project: Path) -> None:
    before = engine.model_fingerprint()
    lock = project / "requirements" / "rasa.lock.txt"
    lock.write_text(lock.read_text() + "\nnewpackage==1.0\n")
    assert engine.model_fingerprint() != before


def test_fingerprint_changes_with_a_new_data_file(project: Path) -> None:
    before = engine.model_fingerprint()
    (project / "nlu" / "data" / "stories.yml").write_text('version: "3.1"\n')
    assert engine.model_fingerprint() != before


def test_fingerprint_ignores_files_that_are_not_training_data(project: Path) -> None:
    before = engine.model_fingerprint()
    (project / "nlu" / "data" / "NOTES.md").write_text("notes\n")
    (project / "nlu" / "data" / "backup.yml~").write_text("old\n")
    assert engine.model_fingerprint() == before


def test_model_path_follows_the_fingerprint(project: Path, tmp_path: Path) -> None:
    settings = _settings(tmp_path / "data", models_dir=tmp_path / "models")
    first = engine.model_path(settings)
    assert first.parent == tmp_path / "models"
    assert first.name == f"orders-{engine.model_fingerprint()}.tar.gz"
    (project / "domain.yml").write_text("changed\n")
    assert engine.model_path(settings) != first


def _read(path: Path) -> dict[str, object]:
    data: dict[str, object] = yaml.safe_load(path.read_text())
    return data


def test_engine_config_without_redis(tmp_path: Path) -> None:
    settings = _settings(tmp_path, actions_port=6055)
    endpoints, credentials = engine.write_engine_config(settings)
    assert endpoints.parent == tmp_path / "run"
    assert _read(endpoints) == {"action_endpoint": {"url": "http://127.0.0.1:6055/webhook"}}
    assert _read(credentials) == {"nlu.channels.OrdersInput": None}


def test_engine_config_with_redis_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://:secret@host:6380/2")
    settings = _settings(tmp_path)
    endpoints, _ = engine.write_engine_config(settings)
    config = _read(endpoints)
    expected = {
        "type": "redis",
        "key_prefix": "orders",
        "url": "host",
        "port": 6380,
        "db": 2,
        "password": "secret",
        "use_ssl": False,
    }
    assert config["tracker_store"] == {**expected, "record_exp": 30 * 86400}
    assert config["lock_store"] == expected
    assert config["action_endpoint"] == {"url": settings.actions_url}
    assert "redis://" not in endpoints.read_text()


def test_redis_defaults_and_tls(tmp_path: Path) -> None:
    settings = _settings(tmp_path, redis_url="rediss://cache.example", conversation_ttl_days=2)
    store = _read(engine.write_engine_config(settings)[0])["tracker_store"]
    assert store == {
        "type": "redis",
        "key_prefix": "orders",
        "url": "cache.example",
        "port": 6379,
        "db": 0,
        "use_ssl": True,
        "record_exp": 2 * 86400,
    }


def test_redis_password_is_url_decoded(tmp_path: Path) -> None:
    settings = _settings(tmp_path, redis_url="redis://user:p%40ss%3Aword@10.0.0.5:6379/0")
    store = _read(engine.write_engine_config(settings)[0])["lock_store"]
    assert isinstance(store, dict)
    assert store["password"] == "p@ss:word"
    assert store["url"] == "10.0.0.5"


def test_endpoints_file_is_per_engine_port(tmp_path: Path) -> None:
    first, _ = engine.write_engine_config(_settings(tmp_path, rasa_port=6001))
    second, _ = engine.write_engine_config(_settings(tmp_path, rasa_port=6002))
    assert first != second
    assert first.exists() and second.exists()


def test_the_action_server_reads_its_own_endpoints_file(tmp_path: Path) -> None:
    # Without --endpoints, rasa_sdk looks for ./endpoints.yml and logs "Failed to read
    # endpoint configuration" on every start.
    settings = _settings(tmp_path, actions_port=6055)
    command = engine.actions_command(settings)
    endpoints = Path(command[command.index("--endpoints") + 1])
    assert endpoints == tmp_path / "run" / "actions-endpoints-6055.yml"
    assert _read(endpoints) == {}


def test_rasa_executable_missing_is_a_clear_error(tmp_path: Path) -> None:
    settings = _settings(tmp_path, rasa_venv=tmp_path / "no-venv")
    with pytest.raises(engine.EngineError, match="make install"):
        engine.rasa_executable(settings)


def test_engine_env_puts_the_project_on_the_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    env = engine.engine_env()
    assert env["PYTHONPATH"].split(":")[:2] == [str(PROJECT_ROOT), "/elsewhere"]
    assert env["RASA_TELEMETRY_ENABLED"] == "false"


def test_prune_keeps_the_newest_models(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "data", models_dir=tmp_path / "models")
    settings.models_dir.mkdir()
    for age, name in enumerate(["orders-d", "orders-c", "orders-b", "orders-a"]):
        path = settings.models_dir / f"{name}.tar.gz"
        path.write_bytes(b"model")
        os.utime(path, (1_000_000 - age * 10, 1_000_000 - age * 10))
    (settings.models_dir / "notes.txt").write_text("kept\n")
    deleted = engine.prune_models(settings, keep=3)
    assert [p.name for p in deleted] == ["orders-a.tar.gz"]
    assert sorted(p.name for p in settings.models_dir.iterdir()) == [
        "notes.txt",
        "orders-b.tar.gz",
        "orders-c.tar.gz",
        "orders-d.tar.gz",
    ]
