"""The Rasa engine as processes: its model (trained when the data changed), its
configuration files, and the commands that start the engine and the action server."""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import yaml

from config import PROJECT_ROOT
from config.settings import Settings

RASA_CONFIG = PROJECT_ROOT / "nlu" / "config.yml"
RASA_DOMAIN = PROJECT_ROOT / "domain.yml"
RASA_DATA = PROJECT_ROOT / "nlu" / "data"
RASA_LOCK = PROJECT_ROOT / "requirements" / "rasa.lock.txt"
# Custom pipeline components (run inside the engine): their code is part of the model.
RASA_COMPONENTS = [
    PROJECT_ROOT / "nlu" / name
    for name in ("linear_intent.py", "correction_intent.py", "corrections.py")
]


class EngineError(Exception):
    """The engine cannot be prepared (missing environment, failed training)."""


def training_inputs() -> list[Path]:
    """Every file whose content decides the trained model."""
    data = sorted(p for p in RASA_DATA.rglob("*") if p.suffix in (".yml", ".yaml"))
    return [RASA_CONFIG, RASA_DOMAIN, RASA_LOCK, *RASA_COMPONENTS, *data]


def model_fingerprint() -> str:
    """A hash of config, domain, training data and engine versions."""
    digest = hashlib.sha256()
    for path in training_inputs():
        digest.update(str(path.relative_to(PROJECT_ROOT)).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def model_path(settings: Settings) -> Path:
    """Where the model for the current training inputs lives."""
    return settings.models_dir / f"orders-{model_fingerprint()}.tar.gz"


def rasa_executable(settings: Settings) -> Path:
    """The engine environment's `rasa` command, or a clear error."""
    rasa = settings.rasa_venv / "bin" / "rasa"
    if not rasa.exists():
        raise EngineError(
            f"The Rasa engine environment is missing ({settings.rasa_venv}); "
            "run `make install` to create it."
        )
    return rasa


def engine_env() -> dict[str, str]:
    """Environment for engine processes: the project on the path, quiet TensorFlow."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(PROJECT_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
    env.setdefault("RASA_TELEMETRY_ENABLED", "false")
    # Rasa 3.6's dependencies warn on every start under Python 3.11; keep logs readable.
    env.setdefault("PYTHONWARNINGS", "ignore")
    return env


def ensure_model(settings: Settings, *, log: Path | None = None) -> Path:
    """The trained model for the current inputs, training it first if there is none."""
    target = model_path(settings)
    if target.exists():
        return target
    settings.models_dir.mkdir(parents=True, exist_ok=True)
    lock_path = settings.models_dir / ".train.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one trainer at a time; the others reuse its model
        if target.exists():
            return target
        print(
            f"Training the Rasa model ({target.name}); this takes about a minute…",
            file=sys.stderr,
            flush=True,
        )
        command = [
            str(rasa_executable(settings)),
            "train",
            "--config",
            str(RASA_CONFIG),
            "--domain",
            str(RASA_DOMAIN),
            "--data",
            str(RASA_DATA),
            "--out",
            str(settings.models_dir),
            "--fixed-model-name",
            target.name.removesuffix(".tar.gz"),
        ]
        output = log.open("ab") if log else None
        try:
            result = subprocess.run(
                command,
                cwd=PROJECT_ROOT,
                env=engine_env(),
                check=False,
                stdout=output or sys.stderr,
                stderr=subprocess.STDOUT,
            )
        finally:
            if output:
                output.close()
        if result.returncode != 0 or not target.exists():
            raise EngineError(f"Rasa training failed (exit code {result.returncode}).")
        prune_models(settings, keep=KEEP_MODELS)
    return target


# Models kept in models_dir after a training: the new one and the previous ones, which
# replicas started before the training may still be loading.
KEEP_MODELS = 3


def prune_models(settings: Settings, *, keep: int) -> list[Path]:
    """Delete all but the `keep` newest models; return what was deleted."""
    models = sorted(
        settings.models_dir.glob("orders-*.tar.gz"), key=lambda p: p.stat().st_mtime, reverse=True
    )
    for old in models[keep:]:
        old.unlink(missing_ok=True)
    return models[keep:]


def write_engine_config(settings: Settings) -> tuple[Path, Path]:
    """Write endpoints.yml and credentials.yml for the engine; return their paths."""
    run_dir = settings.data_dir / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    endpoints: dict[str, object] = {"action_endpoint": {"url": settings.actions_url}}
    if settings.redis_url:
        redis = _redis_fields(settings.redis_url)
        endpoints["tracker_store"] = {
            "type": "redis",
            "key_prefix": "orders",
            **redis,
            # Seconds; Rasa renews it on every save, so it counts from the last message.
            "record_exp": settings.conversation_ttl_days * 86400,
        }
        endpoints["lock_store"] = {"type": "redis", "key_prefix": "orders", **redis}
    endpoints_file = run_dir / f"endpoints-{settings.rasa_port}.yml"
    credentials_file = run_dir / "credentials.yml"
    endpoints_file.write_text(yaml.safe_dump(endpoints, sort_keys=False))
    credentials_file.write_text(yaml.safe_dump({"nlu.channels.OrdersInput": None}))
    return endpoints_file, credentials_file


def _redis_fields(url: str) -> dict[str, object]:
    """Rasa 3.6 wants host/port/db/password fields, not a redis:// URL."""
    parts = urlsplit(url)
    fields: dict[str, object] = {
        "url": parts.hostname or "127.0.0.1",
        "port": parts.port or 6379,
        "db": int(parts.path.lstrip("/") or 0),
        "use_ssl": parts.scheme == "rediss",
    }
    if parts.password:
        fields["password"] = unquote(parts.password)
    return fields


def rasa_command(settings: Settings, model: Path) -> list[str]:
    """The command that serves the model over HTTP on loopback."""
    endpoints, credentials = write_engine_config(settings)
    return [
        str(rasa_executable(settings)),
        "run",
        "--enable-api",
        "--interface",
        settings.rasa_host,
        "--port",
        str(settings.rasa_port),
        "--model",
        str(model),
        "--endpoints",
        str(endpoints),
        "--credentials",
        str(credentials),
    ]


def write_actions_config(settings: Settings) -> Path:
    """Write the action server's endpoints file and return its path. rasa_sdk reads only
    `tracing` from it (none is configured); without a file it looks for ./endpoints.yml
    and logs an error on every start."""
    run_dir = settings.data_dir / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    endpoints_file = run_dir / f"actions-endpoints-{settings.actions_port}.yml"
    endpoints_file.write_text(yaml.safe_dump({}))
    return endpoints_file


def actions_command(settings: Settings) -> list[str]:
    """The command that serves the custom actions (application environment)."""
    return [
        sys.executable,
        "-m",
        "rasa_sdk",
        "--actions",
        "nlu.actions",
        "--port",
        str(settings.actions_port),
        "--endpoints",
        str(write_actions_config(settings)),
    ]


def actions_env(settings: Settings) -> dict[str, str]:
    """The action server binds to loopback like the engine."""
    env = engine_env()
    env["SANIC_HOST"] = settings.actions_host
    return env
