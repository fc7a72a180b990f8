"""Whether the parts a resident's message needs all answer: the database, the engine
with its model loaded, and the action server.

Liveness (`/healthz`: this process runs and its own database answers) and readiness
(`/readyz`: a resident would be answered now) differ for the 20 to 60 s the engine takes
to load its model after a start, and whenever the engine or the action server is down.
The web process and each webhook bot worker answer both (docs/deployment.md).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from config.settings import Settings

CHECK_TIMEOUT_S = 3.0
OK = "ok"


@dataclass(frozen=True)
class Readiness:
    """Each part's state: "ok", or a word that says what is wrong."""

    database: str
    engine: str
    actions: str

    @property
    def ready(self) -> bool:
        return self.database == OK and self.engine == OK and self.actions == OK

    def as_dict(self) -> dict[str, str]:
        return {"database": self.database, "engine": self.engine, "actions": self.actions}

    @property
    def not_ready(self) -> list[str]:
        """The parts that are not ready, by name."""
        return [part for part, state in self.as_dict().items() if state != OK]


async def _database(database: AsyncEngine) -> str:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S), database.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception:  # any failure to reach the database means "not ready"
        return "unavailable"
    return OK


async def _engine(client: httpx.AsyncClient, settings: Settings) -> str:
    try:
        response = await client.get(f"{settings.rasa_url}/status")
    except httpx.HTTPError:
        return "unavailable"
    if response.status_code != 200:
        return "no_model" if response.status_code == 409 else "unavailable"
    try:
        model = response.json().get("model_file")
    except (ValueError, AttributeError):
        return "unavailable"
    return OK if model else "no_model"


async def _actions(client: httpx.AsyncClient, settings: Settings) -> str:
    try:
        response = await client.get(settings.actions_url.removesuffix("/webhook") + "/health")
    except httpx.HTTPError:
        return "unavailable"
    return OK if response.status_code == 200 else "unavailable"


async def check_readiness(settings: Settings, database: AsyncEngine) -> Readiness:
    """The database, the engine (a model loaded) and the action server, checked at once."""
    async with httpx.AsyncClient(timeout=CHECK_TIMEOUT_S) as client:
        db, engine, actions = await asyncio.gather(
            _database(database), _engine(client, settings), _actions(client, settings)
        )
    return Readiness(database=db, engine=engine, actions=actions)


async def wait_until_ready(
    settings: Settings, database: AsyncEngine, *, timeout_s: float, interval_s: float = 0.5
) -> Readiness:
    """Check until every part is ready or `timeout_s` has passed; the last answer."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        readiness = await check_readiness(settings, database)
        if readiness.ready or asyncio.get_running_loop().time() >= deadline:
            return readiness
        await asyncio.sleep(interval_s)
