"""Fifty organisations claim one ticket at once through two real web processes on
one PostgreSQL database: exactly one wins, across processes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from config import PROJECT_ROOT
from services.db import make_engine, make_sessionmaker, prepare_database
from services.parties import create_organisation
from services.tickets import get_ticket
from services.workflow import ticket_events
from tests.servers import free_port
from tests.web.conftest import Party, file, unique

CLAIMERS = 50
START_TIMEOUT_S = 60.0


@contextmanager
def web_processes(database_url: str, logs: Path, count: int = 2) -> Iterator[list[str]]:
    """`orders web` processes (what `orders up` runs) on free ports, started together;
    yields their base URLs once every /healthz answers 200."""
    processes: list[tuple[subprocess.Popen[bytes], Path]] = []
    urls = []
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "WEB_PORT", "WEB_HOST")}
    try:
        for index in range(count):
            port = free_port()
            log = logs / f"web{index}.log"
            with log.open("wb") as output:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "app.cli", "web"],
                    cwd=PROJECT_ROOT,
                    env={
                        **env,
                        "DATABASE_URL": database_url,
                        "DATA_DIR": str(logs),
                        "WEB_HOST": "127.0.0.1",
                        "WEB_PORT": str(port),
                    },
                    stdout=output,
                    stderr=subprocess.STDOUT,
                )
            processes.append((proc, log))
            urls.append(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + START_TIMEOUT_S
        waiting = set(range(count))
        while waiting:
            for index in sorted(waiting):
                proc, log = processes[index]
                if proc.poll() is not None:
                    raise RuntimeError(f"web process exited early:\n{log.read_text()[-3000:]}")
                try:
                    if httpx.get(f"{urls[index]}/healthz", timeout=1.0).status_code == 200:
                        waiting.discard(index)
                except httpx.HTTPError:
                    pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"web processes not ready after {START_TIMEOUT_S}s")
            time.sleep(0.1)
        yield urls
    finally:
        for proc, _ in processes:
            proc.terminate()
        for proc, _ in processes:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def server_logs(folder: Path) -> list[str]:
    return [log.read_text() for log in sorted(folder.glob("web*.log"))]


async def make_orgs(db: async_sessionmaker[AsyncSession], count: int) -> list[Party]:
    async with db() as session, session.begin():
        made = []
        for _ in range(count):
            organisation, credentials = await create_organisation(
                session, name=unique("racer"), categories=["repair"], communities=None
            )
            made.append(Party(organisation.id, organisation.name, credentials.token))
        return made


async def claimed_events(db: async_sessionmaker[AsyncSession], number: str) -> int:
    async with db() as session:
        events = await ticket_events(session, number)
    return sum(1 for e in events if e.action == "transition" and e.to_status == "claimed")


@pytest.mark.timeout(180)
@pytest.mark.parametrize("fresh_db_url", ["postgresql"], indirect=True)
async def test_fifty_claims_through_two_processes_have_exactly_one_winner(
    fresh_db_url: str, tmp_path: Path
) -> None:
    began = time.monotonic()
    await prepare_database(fresh_db_url)  # what `orders up` does before starting processes
    engine = make_engine(fresh_db_url)
    try:
        db = make_sessionmaker(engine)
        organisations = await make_orgs(db, CLAIMERS)
        number = await file(db)

        with web_processes(fresh_db_url, tmp_path) as urls:
            limits = httpx.Limits(max_connections=CLAIMERS * 2, max_keepalive_connections=CLAIMERS)
            async with httpx.AsyncClient(timeout=30.0, limits=limits) as http:
                # Open connections (HTTP and each server's database pool) before the race.
                warm = await asyncio.gather(*(http.get(f"{u}/healthz") for u in urls * 10))
                assert {r.status_code for r in warm} == {200}

                burst = time.monotonic()
                responses = await asyncio.gather(
                    *(
                        http.post(f"{urls[i % 2]}/api/tickets/{number}/claim", headers=org.headers)
                        for i, org in enumerate(organisations)
                    )
                )
                burst_s = time.monotonic() - burst

                statuses = sorted(r.status_code for r in responses)
                assert statuses == [200] + [409] * (CLAIMERS - 1), [r.text for r in responses]
                winner_index = next(i for i, r in enumerate(responses) if r.status_code == 200)
                winner = organisations[winner_index]
                won = responses[winner_index].json()
                assert won["status"] == "claimed"
                assert won["organisation"] == {"id": winner.id, "name": winner.name}
                assert won["phone"] is not None  # the holder sees the contact
                for response in responses:
                    if response.status_code == 409:
                        assert response.json()["error"] == "already_taken"
                        assert response.json()["holder"] == winner.name
                        assert "phone" not in response.json()

                assert await claimed_events(db, number) == 1
                async with db() as session:
                    ticket = await get_ticket(session, number)
                assert (ticket.status, ticket.organisation_id) == ("claimed", winner.id)

                # The winner presses again, through the other process this time.
                other = urls[(winner_index + 1) % 2]
                again = await http.post(
                    f"{other}/api/tickets/{number}/claim", headers=winner.headers
                )
                assert again.status_code == 200
                assert again.json() == won
                assert await claimed_events(db, number) == 1
        for text in server_logs(tmp_path):
            assert "Traceback" not in text, text[-3000:]
            assert "POST /api/tickets" in text  # both processes took claims
    finally:
        await engine.dispose()
    print(
        f"\nclaim race: {CLAIMERS} claims in {burst_s:.2f}s; test {time.monotonic() - began:.1f}s"
    )
