"""Shared pieces of the benchmarks: a PostgreSQL to run on, fresh databases, latency
statistics, a pacer for an offered rate, and CPU accounting per process."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from nlu.tooling.evaluate import percentile as nearest_rank
from services.db import can_connect
from tests.servers import port_open

LOCAL_PG = "postgresql+asyncpg://{user}@127.0.0.1:5432/postgres"


# --- PostgreSQL ----------------------------------------------------------------------------


@contextmanager
def postgres_admin_url(workdir: Path) -> Iterator[str]:
    """An administrative URL: BENCH_POSTGRES_URL, the server on 127.0.0.1:5432 (trust
    auth as postgres or root), else a pgserver started under `workdir`."""
    configured = os.environ.get("BENCH_POSTGRES_URL")
    if configured:
        yield configured
        return
    if port_open("127.0.0.1", 5432):
        for user in ("postgres", "root"):
            url = LOCAL_PG.format(user=user)
            if asyncio.run(can_connect(url)):
                yield url
                return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgserver.postgres_server import get_server

        server = get_server(workdir / "pgdata", cleanup_mode="stop")
        uri = server.get_uri()
    pg_url = make_url(uri).set(drivername="postgresql+asyncpg")
    try:
        yield pg_url.render_as_string(hide_password=False)
    finally:
        server.cleanup()


def database_url(admin_url: str, name: str) -> str:
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


async def database_exists(admin_url: str, name: str) -> bool:
    engine = create_async_engine(admin_url)
    try:
        async with engine.connect() as conn:
            found = await conn.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
            )
    finally:
        await engine.dispose()
    return found is not None


async def create_database(admin_url: str, name: str | None = None) -> str:
    """Create a database (a fresh random name unless given); return its URL."""
    name = name or f"ro_bench_{uuid.uuid4().hex[:10]}"
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()
    return database_url(admin_url, name)


async def drop_database(admin_url: str, url: str) -> None:
    name = make_url(url).database
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await engine.dispose()


def postgres_pids() -> list[int]:
    """Every PostgreSQL process of the machine (server and backends)."""
    pids = []
    for proc in psutil.process_iter(["name"]):
        name = proc.info.get("name") or ""
        if name.startswith("postgres") or name == "postmaster":
            pids.append(proc.pid)
    return pids


# --- statistics ----------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), nearest rank; nan for no values."""
    return nearest_rank(list(values), q) if values else float("nan")


def summary(latencies_s: Sequence[float], elapsed_s: float, *, unit: str = "s") -> dict[str, Any]:
    """Count, throughput and p50/p95/p99/max of a list of latencies in seconds."""
    scale = 1000.0 if unit == "ms" else 1.0
    out: dict[str, Any] = {
        "count": len(latencies_s),
        "elapsed_s": round(elapsed_s, 3),
        "throughput_per_s": round(len(latencies_s) / elapsed_s, 2) if elapsed_s > 0 else 0.0,
    }
    for q in (50, 95, 99):
        out[f"p{q}_{unit}"] = round(percentile(latencies_s, q) * scale, 4)
    out[f"max_{unit}"] = round(max(latencies_s) * scale, 4) if latencies_s else float("nan")
    return out


class Pacer:
    """Hands out send slots at a fixed offered rate (messages per second), shared by
    every simulated user: the load is offered at that rate whatever the replies do,
    as long as enough users are waiting to send."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def slot(self) -> None:
        if self.interval <= 0:
            return
        loop = asyncio.get_running_loop()
        async with self._lock:
            now = loop.time()
            at = max(now, self._next)
            self._next = at + self.interval
        delay = at - now
        if delay > 0:
            await asyncio.sleep(delay)


# --- CPU -----------------------------------------------------------------------------------


@dataclass
class CpuMeter:
    """CPU seconds used by named groups of processes over a window."""

    groups: dict[str, list[int]] = field(default_factory=dict)
    _start: dict[str, float] = field(default_factory=dict)
    _t0: float = 0.0

    @staticmethod
    def _cpu(pids: Sequence[int]) -> float:
        total = 0.0
        for pid in pids:
            try:
                times = psutil.Process(pid).cpu_times()
            except psutil.Error:
                continue
            total += times.user + times.system
        return total

    def add(self, name: str, pid: int, *, children: bool = True) -> None:
        """Count this process (and, by default, its children now) as `name`."""
        pids = [pid]
        if children:
            try:
                pids += [c.pid for c in psutil.Process(pid).children(recursive=True)]
            except psutil.Error:
                pass
        self.groups.setdefault(name, []).extend(pids)

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._start = {name: self._cpu(pids) for name, pids in self.groups.items()}

    def stop(self) -> dict[str, Any]:
        """CPU seconds and mean cores used per group since start()."""
        wall = time.monotonic() - self._t0
        out: dict[str, Any] = {"wall_s": round(wall, 2)}
        total = 0.0
        for name, pids in self.groups.items():
            used = max(0.0, self._cpu(pids) - self._start.get(name, 0.0))
            total += used
            out[name] = {"cpu_s": round(used, 2), "cores": round(used / wall, 3) if wall else 0}
        out["total_cores"] = round(total / wall, 3) if wall else 0
        return out
