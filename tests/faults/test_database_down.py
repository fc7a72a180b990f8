"""The database is down: every route of the web process answers 503 with Retry-After
in the shape of its part of the app (Open311's list, the JSON API's error, the web
chat's reply, a page with a sentence), never a 500; when the database is back the same
process serves again.

Two outages: a PostgreSQL of the test's own, stopped after the browsers signed in
(connections in the pool die, new ones are refused), and a database URL whose port
nobody listens on.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from config.settings import Settings
from i18n import t
from services import make_engine, make_sessionmaker, prepare_database
from services.api_clients import create_api_key
from tests.faults.servers import OwnPostgres
from tests.servers import free_port
from tests.web.conftest import file
from tests.web.test_hostile_input import (
    CSRF,
    Browsers,
    _browsers,
    _client,
    app_routes,
)
from web.app import create_app
from web.chat_identity import CSRF_HEADER
from web.edge import RETRY_AFTER_S


def _settings(url: str, data_dir: Path) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=data_dir,
        database_url=url,
        redis_url=None,
        rasa_port=free_port(),
        engine_wait_s=0,
    )


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[OwnPostgres]:
    server = OwnPostgres(tmp_path / "pg")
    try:
        yield server
    finally:
        server.cleanup()


def unavailable(answer: httpx.Response) -> None:
    """503 with Retry-After."""
    assert answer.status_code == 503, (answer.request.url, answer.status_code, answer.text[:300])
    assert answer.headers["retry-after"] == str(RETRY_AFTER_S)


def unavailable_json(answer: httpx.Response) -> None:
    unavailable(answer)
    assert answer.json()["error"] == "database_unavailable", answer.text


def unavailable_open311(answer: httpx.Response) -> None:
    unavailable(answer)
    body = answer.json()
    assert body[0]["code"] == 503 and body[0]["description"], body


def unavailable_page(answer: httpx.Response) -> None:
    unavailable(answer)
    assert answer.headers["content-type"].startswith("text/html")
    assert t("edge_unavailable", "zh") in answer.text or t("edge_unavailable", "en") in answer.text


async def the_named_routes_are_unavailable(
    browsers: Browsers, chat: httpx.AsyncClient, number: str, api_key: str
) -> None:
    stranger = browsers.stranger
    unavailable_open311(await stranger.get("/open311/v2/requests.json"))
    unavailable_open311(await stranger.get(f"/open311/v2/requests/{number}.json"))
    unavailable_open311(await stranger.get("/open311/v2/services.json"))
    xml = await stranger.get("/open311/v2/services.xml")
    unavailable(xml)
    assert "<errors>" in xml.text
    unavailable_open311(
        await stranger.post(
            "/open311/v2/requests.json",
            data={"api_key": api_key, "service_code": "repair", "address_string": "幸福小区3栋"},
        )
    )
    organisation = browsers.organisation_party.headers
    unavailable_json(await stranger.get(f"/api/tickets/{number}", headers=organisation))
    unavailable_json(await stranger.post(f"/api/tickets/{number}/claim", headers=organisation))
    unavailable_json(await stranger.get("/api/organisations", headers=browsers.staff_party.headers))
    unavailable_json(await stranger.get("/healthz"))
    unavailable_page(await browsers.staff.get("/dashboard"))
    unavailable_page(await browsers.staff.get(f"/dashboard/tickets/{number}"))
    unavailable_page(await browsers.organisation.get("/org"))
    unavailable_page(
        await browsers.organisation.post(
            f"/org/tickets/{number}/claim", data={"csrf_token": browsers.organisation_csrf}
        )
    )
    tickets = await chat.get("/chat/api/tickets", headers={CSRF_HEADER: "1"})
    unavailable_json(tickets)
    assert tickets.json()["replies"][0]["text"] in {
        t("edge_unavailable", "zh"),
        t("edge_unavailable", "en"),
    }


async def no_route_answers_a_500(app: FastAPI, browsers: Browsers, number: str) -> None:
    """Every route, plainly called, answers below 500 or 503 with Retry-After."""
    for route in app_routes(app):
        path = route.path
        for name in route.path_params:
            value = {"format": "json", "code": "repair", "action": "claim"}.get(name, number)
            path = path.replace("{" + name + "}", value)
        if path.startswith("/api/"):
            client, headers = browsers.stranger, browsers.staff_party.headers
        elif path.startswith("/org"):
            client, headers = browsers.organisation, {}
        elif path.startswith("/chat"):
            client, headers = browsers.stranger, {CSRF_HEADER: "1"}
        else:
            client, headers = browsers.staff, {}
        data = {"csrf_token": browsers.staff_csrf} if route.method != "GET" else None
        answer = await client.request(route.method, path, headers=headers, data=data)
        if answer.status_code >= 500 and path != "/readyz":
            unavailable(answer)


async def test_postgres_stopped_then_started(own_postgres: OwnPostgres, tmp_path: Path) -> None:
    admin = create_async_engine(own_postgres.admin_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text('CREATE DATABASE "down"'))
    await admin.dispose()
    url = own_postgres.url("down")
    await prepare_database(url)
    engine = make_engine(url)
    db = make_sessionmaker(engine)
    app = create_app(_settings(url, tmp_path))
    try:
        number = await file(db)
        async with db() as session, session.begin():
            _, api_key = await create_api_key(session, name="outage client")
        async with (
            app.router.lifespan_context(app),
            _browsers(app, db) as browsers,
            _client(app) as chat,
        ):
            organisation = browsers.organisation_party.headers
            assert (
                await browsers.stranger.get(f"/api/tickets/{number}", headers=organisation)
            ).status_code == 200
            own_postgres.stop()
            await the_named_routes_are_unavailable(browsers, chat, number, api_key)
            await no_route_answers_a_500(app, browsers, number)
            own_postgres.start()
            back = await browsers.stranger.get(f"/api/tickets/{number}", headers=organisation)
            assert back.status_code == 200, back.text
            page = await browsers.staff.get("/dashboard")
            assert page.status_code == 200 and CSRF.search(page.text)
    finally:
        await engine.dispose()


async def test_a_database_nobody_listens_on(tmp_path: Path) -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nothing"
    app = create_app(_settings(url, tmp_path))
    async with app.router.lifespan_context(app), _client(app) as client:
        unavailable_open311(await client.get("/open311/v2/requests.json"))
        unavailable_json(
            await client.get("/api/tickets/RO-261122-0001", headers={"Authorization": "Bearer x"})
        )
        client.cookies.set("ro_session", "a" * 43)
        unavailable_page(await client.get("/dashboard"))
        unavailable_json(
            await client.post("/chat/api/press", json={"payload": "x"}, headers={CSRF_HEADER: "1"})
        )


async def test_a_database_that_accepts_and_never_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A listening socket nobody serves: the TCP connect succeeds and PostgreSQL's
    # greeting never comes (a hung server, a black-holed route). The request is
    # answered 503 when the connect timeout ends, not held until the client gives up.
    import socket
    import time

    import services.db

    monkeypatch.setattr(services.db, "CONNECT_TIMEOUT_S", 1)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"postgresql+asyncpg://postgres@127.0.0.1:{silent.getsockname()[1]}/nothing"
        app = create_app(_settings(url, tmp_path))
        async with app.router.lifespan_context(app), _client(app) as client:
            started = time.monotonic()
            unavailable_open311(await client.get("/open311/v2/requests.json"))
            assert time.monotonic() - started < 8
