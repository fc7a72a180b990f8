"""Schemathesis against the whole app's OpenAPI schema (JSON API, Open311 and whatever
else the web process serves), in process over ASGI on an SQLite database and on a
PostgreSQL one (which refuses NUL characters and integers past int4 that SQLite
stores), both with the reference data: no request the schema allows may end in a
server error (5xx).

The examples per operation are bounded so that the run takes seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from starlette.types import Receive, Scope, Send

from services.api_clients import create_api_key
from services.db import make_engine, make_sessionmaker, prepare_database
from services.parties import Role, create_organisation, create_staff
from tests.conftest_db import run_async
from tests.web.conftest import unique, web_settings
from web.app import create_app

MAX_EXAMPLES = 12
# Readiness includes the engine, which these tests do not start.
NOT_READY_IS_503 = {"/readyz"}
PLACEHOLDER_URL = "sqlite+aiosqlite:///never-opened.db"


@dataclass(frozen=True)
class Secrets:
    api_key: str
    organisation_token: str
    staff_token: str


async def _seed(url: str) -> Secrets:
    """Reference data (migrations), an organisation, a staff member and an API key."""
    await prepare_database(url)
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            _, organisation = await create_organisation(
                session, name=unique("fuzz org"), categories=["repair"], communities=None
            )
            _, staff = await create_staff(
                session, name=unique("fuzz admin"), role=Role.ADMIN, communities=[]
            )
            _, secret = await create_api_key(session, name=unique("fuzz client"))
    finally:
        await engine.dispose()
    return Secrets(secret, organisation.token, staff.token)


class DeferredApp:
    """An ASGI app that forwards to the app the fixture creates: the schema is read at
    import (pytest collects one test per operation), the database exists only later."""

    def __init__(self) -> None:
        self.app: FastAPI | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None, "the secrets fixture has not run"
        await self.app(scope, receive, send)


deferred = DeferredApp()
# create_app touches no database; only the lifespan (first request) opens one.
schema = schemathesis.openapi.from_dict(create_app(web_settings(PLACEHOLDER_URL)).openapi())
schema.app = deferred


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def secrets(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Secrets]:
    """The app on a fresh migrated SQLite file, or on the session's PostgreSQL database;
    yields valid credentials of each kind."""
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("schemathesis") / "fuzz.db"
        url = f"sqlite+aiosqlite:///{path}"
    else:
        url = request.getfixturevalue("pg_database_url")
    seeded = run_async(_seed(url))
    deferred.app = create_app(web_settings(url))
    try:
        yield seeded
    finally:
        # Runs the app's lifespan shutdown (engine disposed) in schemathesis' loop thread.
        asgi.shutdown_lifespans()
        deferred.app = None


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_errors(case: schemathesis.Case[Any], secrets: Secrets) -> None:
    # Half the Open311 filings carry a valid key, so the fuzzer gets past the 403, and
    # two thirds of the JSON API calls a valid organisation or staff token.
    if isinstance(case.body, dict) and "api_key" in case.body and len(str(case.body)) % 2:
        case.body["api_key"] = secrets.api_key
    headers = {}
    choice = len(case.formatted_path) % 3
    if case.path.startswith("/api/") and choice:
        token = secrets.organisation_token if choice == 1 else secrets.staff_token
        headers["Authorization"] = f"Bearer {token}"
    if case.path in NOT_READY_IS_503:
        # No engine runs here, so readiness truthfully answers 503 "not_ready".
        response = case.call(headers=headers)
        if response.status_code >= 500:
            assert response.status_code == 503 and response.json()["error"] == "not_ready"
        return
    case.call_and_validate(headers=headers, checks=[not_a_server_error])
