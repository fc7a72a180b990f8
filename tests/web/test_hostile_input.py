"""Rule 2 of issue 11: no input reaches a 500, on SQLite and on PostgreSQL.

PostgreSQL refuses what SQLite stores (NUL characters in text, integers past int4,
years past 9999 after a timezone shift), so each case runs on both databases. First
the requests the outside test reported, each with the error shape its part of the app
documents; then a table of hostile values over every route of the app, GET and POST,
as a stranger, a signed-in staff member and a signed-in organisation (cookies and
CSRF tokens as a browser has them), and with Bearer tokens.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from config.settings import Settings
from i18n import t
from services.parties import Role
from tests.servers import free_port
from tests.web.conftest import Party, file, make_org, make_staff
from tests.web.dashboard.helpers import new_staff, sign_in
from web.app import create_app
from web.chat_identity import CSRF_HEADER
from web.edge import Part, part_of

Sessions = async_sessionmaker[AsyncSession]
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
NUL = "\x00"


@dataclass
class Browsers:
    """A stranger, a staff member (admin) and an organisation, each a cookie jar."""

    stranger: httpx.AsyncClient
    staff: httpx.AsyncClient
    staff_csrf: str
    organisation: httpx.AsyncClient
    organisation_csrf: str
    organisation_party: Party
    staff_party: Party


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://web.test")


async def _login_form_token(client: httpx.AsyncClient, path: str) -> str:
    page = await client.get(path)
    assert page.status_code == 200, page.text
    found = CSRF.search(page.text)
    assert found
    return found.group(1)


@asynccontextmanager
async def _browsers(app: FastAPI, db: Sessions) -> AsyncIterator[Browsers]:
    async with _client(app) as stranger, _client(app) as staff, _client(app) as org:
        member = await new_staff(db, role=Role.ADMIN)
        staff_csrf = await sign_in(staff, member)
        party = await make_org(db)
        token = await _login_form_token(org, "/org/login")
        answer = await org.post(
            "/org/login", data={"csrf_token": token, "token": party.token, "next": "/org"}
        )
        assert answer.status_code == 303, answer.text
        org_csrf = await _login_form_token(org, "/org")
        yield Browsers(stranger, staff, staff_csrf, org, org_csrf, party, await make_staff(db))


@pytest.fixture
async def browsers(web_app: FastAPI, db: Sessions) -> AsyncIterator[Browsers]:
    async with _browsers(web_app, db) as signed_in:
        yield signed_in


def assert_open311_error(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body, list) and body, body
    assert body[0]["code"] == status and body[0]["description"], body


def assert_api_error(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body.get("error"), str) and body.get("message"), body


def assert_page(response: httpx.Response, status: int, key: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert t(key, "zh") in response.text or t(key, "en") in response.text, response.text


# --- what the outside test reported --------------------------------------------------------


OPEN311_GETS = [
    ("/open311/v2/requests.json", {"service_code": NUL}, 400),
    ("/open311/v2/requests.json", {"service_request_id": NUL}, 400),
    ("/open311/v2/requests/%00.json", {}, 404),
    ("/open311/v2/services/%00.json", {}, 404),
    ("/open311/v2/requests.json", {"end_date": "9999-12-31T23:59:59-14:00"}, 400),
    ("/open311/v2/requests.json", {"start_date": "0001-01-01T00:00:00+14:00"}, 400),
]


@pytest.mark.parametrize(("path", "params", "status"), OPEN311_GETS)
async def test_open311_refuses_nul_and_far_dates_in_its_format(
    client: httpx.AsyncClient, path: str, params: dict[str, str], status: int
) -> None:
    answer = await client.get(path, params=params)
    assert_open311_error(answer, status)
    if "date" in next(iter(params), ""):
        assert next(iter(params)) in answer.json()[0]["description"]


async def test_open311_xml_errors_stay_xml(client: httpx.AsyncClient) -> None:
    answer = await client.get("/open311/v2/requests.xml", params={"service_code": NUL})
    assert answer.status_code == 400
    assert answer.text.startswith("<?xml") and "<errors>" in answer.text


@pytest.mark.parametrize("path", ["/login", "/org/login"])
async def test_sign_in_with_nul_in_the_name_is_a_page_not_a_crash(
    client: httpx.AsyncClient, path: str
) -> None:
    token = await _login_form_token(client, path)
    answer = await client.post(
        path, data={"csrf_token": token, "name": "a\x00b", "password": "whatever"}
    )
    assert_page(answer, 400, "edge_bad_input")
    # The same form as multipart/form-data (which the routes read as well).
    multipart = await client.post(
        path,
        data={"csrf_token": token, "name": "a\x00b", "password": "whatever"},
        files={"unused": ("a.txt", b"x")},
    )
    assert_page(multipart, 400, "edge_bad_input")


async def test_chat_press_with_nul_is_refused_in_json(client: httpx.AsyncClient) -> None:
    answer = await client.post(
        "/chat/api/press", json={"payload": "r:rate:\u0000:1"}, headers={CSRF_HEADER: "1"}
    )
    assert_api_error(answer, 422)
    assert answer.json()["error"] == "invalid_request"
    assert answer.json()["problems"] == [
        {"where": "body.payload", "problem": "contains control characters (such as NUL)"}
    ]
    shown = answer.json()["replies"][0]["text"]
    assert shown in (t("edge_bad_input", "zh"), t("edge_bad_input", "en"))


@pytest.mark.parametrize(
    "payload",
    [
        "r:rate:RO-261122-0001:99999999999",
        "r:rate:RO-261122-0001:" + "9" * 400,
        "s:assign:RO-261122-0001:99999999999",
        "s:assign:RO-261122-0001:-1",
        "o:claim:" + "R" * 500,
        "t:cancel:RO-261122-00019999999999999",
        "l:99999999999",
    ],
)
async def test_chat_buttons_with_forged_numbers_are_answered(
    client: httpx.AsyncClient, payload: str
) -> None:
    answer = await client.post(
        "/chat/api/press", json={"payload": payload}, headers={CSRF_HEADER: "1"}
    )
    assert answer.status_code < 500, answer.text


async def test_dashboard_refuses_nul_far_dates_and_huge_ids(browsers: Browsers) -> None:
    staff = browsers.staff
    for params in ({"q": NUL}, {"category": NUL}):
        assert_page(await staff.get("/dashboard/rows", params=params), 400, "edge_bad_input")
        assert_page(await staff.get("/dashboard", params=params), 400, "edge_bad_input")
    for params in ({"from": "9999-12-31"}, {"to": "0001-01-01"}):
        for page in ("/dashboard/charts", "/dashboard/settlement", "/dashboard/settlement.csv"):
            assert_page(await staff.get(page, params=params), 400, "edge_bad_date")
    assert_page(await staff.get("/dashboard/organisations/2147483648"), 404, "dash_err_not_found")
    assert_page(await staff.get("/dashboard/organisations/0"), 404, "dash_err_not_found")
    answer = await staff.post(
        "/dashboard/categories/%00",
        data={"csrf_token": browsers.staff_csrf, "sla_claim_hours": "1", "sla_done_hours": "2"},
    )
    assert_page(answer, 404, "dash_err_not_found")
    answer = await staff.post(
        "/dashboard/categories/repair",
        data={"csrf_token": browsers.staff_csrf, "sla_claim_hours": "1\x00", "sla_done_hours": "2"},
    )
    assert_page(answer, 400, "edge_bad_input")


async def test_json_api_refuses_nul_in_the_ticket_number(
    client: httpx.AsyncClient, db: Sessions
) -> None:
    org = await make_org(db)
    answer = await client.get("/api/tickets/RO-%00", headers=org.headers)
    assert_api_error(answer, 404)
    answer = await client.get("/api/tickets/RO-%1B", headers=org.headers)
    assert_api_error(answer, 404)


async def test_tabs_and_newlines_in_bodies_still_pass(
    client: httpx.AsyncClient, db: Sessions
) -> None:
    number = await file(db, category="legal_aid")
    staff = await make_staff(db)
    answer = await client.post(
        f"/api/tickets/{number}/reject",
        json={"reason": "不受理\r\n\t请拨打12345"},
        headers=staff.headers,
    )
    assert answer.status_code == 200, answer.text


# --- every route, every hostile value -------------------------------------------------------

# Characters PostgreSQL refuses or nobody types, integers past int4 and int8, dates past
# year 9999 once shifted to UTC, digits of another script, a huge text, an injection.
HOSTILE = (
    NUL,
    "\x1b[2J\x07",
    "2147483648",
    "-2147483649",
    "9" * 30,
    "٢١٤٧٤٨٣٦٤٨",
    "9999-12-31",
    "0001-01-01",
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00+14:00",
    "x" * 3000,
)
# Values without control characters, tried one parameter at a time (a refused first
# parameter would hide what a later one does), over the declared parameters and those
# of PAGE_QUERY that reach the database.
ONE_AT_A_TIME = ("2147483648", "9999-12-31", "9999-12-31T23:59:59-14:00")
ONE_AT_A_TIME_PAGE_QUERY = ("q", "category", "community", "organisation", "from", "to", "page")
# Query parameters pages read from request.query_params rather than declare.
PAGE_QUERY = (
    "q",
    "category",
    "status",
    "community",
    "organisation",
    "from",
    "to",
    "page",
    "sort",
    "attention",
    "error",
    "done",
    "next",
    "ok",
    "number",
    "changed",
)
# Form fields pages read from request.form() rather than declare.
PAGE_FIELDS = (
    "name",
    "password",
    "token",
    "next",
    "reason",
    "reason_text",
    "note",
    "organisation_id",
    "into",
    "sla_claim_hours",
    "sla_done_hours",
    "unit_price",
    "needs_review",
    "contact",
    "categories",
    "communities",
    "all_communities",
    "language",
    "role",
    "to",
    "current_password",
    "new_password",
    "confirm",
)
JSON_FIELDS = (
    "text",
    "reply_to",
    "payload",
    "reason",
    "note",
    "organisation_id",
    "latitude",
    "longitude",
)
JSON_NUMBERS = (2**31, -(2**31) - 1, 2**63, 10**30)
# Readiness answers 503 while the engine is down, as it is here.
MAY_BE_UNAVAILABLE = {"/readyz"}
# Routes the fuzz leaves alone: signing out would end the staff browser's session.
SKIPPED = {("POST", "/logout")}


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    query: tuple[str, ...]
    declared_query: tuple[str, ...]
    fields: tuple[str, ...]
    path_params: tuple[str, ...]


def app_routes(app: FastAPI) -> list[Route]:
    """Every route of the app with what it reads (declared, or known for pages)."""
    found = []
    for context in iter_route_contexts(app.routes):
        dependant = getattr(context, "dependant", None)
        if dependant is None or context.path_format is None:
            continue
        path = context.path_format
        page = part_of(path) is Part.PAGE
        declared_query = tuple(p.alias for p in dependant.query_params)
        query = declared_query + (PAGE_QUERY if page else ())
        declared = tuple(
            p.alias for p in dependant.body_params if type(p.field_info).__name__ == "Form"
        )
        fields = declared + (PAGE_FIELDS if page else ())
        params = tuple(p.alias for p in dependant.path_params)
        for method in sorted(context.methods or ()):
            if (method, path) not in SKIPPED:
                found.append(Route(method, path, query, declared_query, fields, params))
    return found


@dataclass
class Fuzzer:
    """Sends each case as the party that can get past the route's door."""

    browsers: Browsers
    chat: httpx.AsyncClient
    real: dict[str, str]
    api_key: str
    failures: list[str]
    sent: int = 0

    def _client(self, path: str) -> tuple[httpx.AsyncClient, dict[str, str], dict[str, str]]:
        """The client, extra headers and extra form fields of a path."""
        b = self.browsers
        if path.startswith("/api/"):
            party = b.staff_party if self.sent % 2 else b.organisation_party
            return b.stranger, party.headers, {}
        if path.startswith("/chat"):
            return self.chat, {CSRF_HEADER: "1"}, {}
        if path.startswith("/org"):
            return b.organisation, {}, {"csrf_token": b.organisation_csrf}
        if path.startswith("/open311"):
            return b.stranger, {}, {"api_key": self.api_key}
        if path.startswith(("/dashboard", "/login", "/lang")):
            return b.staff, {}, {"csrf_token": b.staff_csrf}
        return b.stranger, {}, {}

    def _url(self, route: Route, hostile: dict[str, str]) -> str:
        path = route.path
        for name in route.path_params:
            value = hostile.get(name, self.real.get(name, "x"))
            path = path.replace("{" + name + "}", quote(value, safe=""))
        return path

    async def send(
        self,
        route: Route,
        *,
        path: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
        form: dict[str, str] | None = None,
        body: object = None,
    ) -> None:
        client, headers, extra_fields = self._client(route.path)
        url = self._url(route, path or {})
        self.sent += 1
        what = f"{route.method} {url} query={query!r:.80} form={form!r:.80} json={body!r:.80}"
        try:
            if body is not None:
                answer = await client.request(
                    route.method, url, params=query, json=body, headers=headers
                )
            elif form is not None:
                data = {**form, **extra_fields}
                answer = await client.request(
                    route.method, url, params=query, data=data, headers=headers
                )
            else:
                answer = await client.request(route.method, url, params=query, headers=headers)
        except Exception as exc:  # the app raised: that is the 500 the test looks for
            self.failures.append(f"{what} -> raised {exc!r:.300}")
            return
        if answer.status_code >= 500 and route.path not in MAY_BE_UNAVAILABLE:
            self.failures.append(f"{what} -> {answer.status_code} {answer.text[:200]}")


@pytest.fixture
async def fuzz_app(db_url: str, tmp_path: Path) -> AsyncIterator[FastAPI]:
    """An app of the fuzz's own (its sign-in throttle fills up; no engine listens)."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=tmp_path,
        database_url=db_url,
        redis_url=None,
        rasa_port=free_port(),
        engine_wait_s=0,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


async def test_no_hostile_value_on_any_route_reaches_a_server_error(
    fuzz_app: FastAPI, db: Sessions, api_key: str
) -> None:
    async with _browsers(fuzz_app, db) as browsers, _client(fuzz_app) as chat:
        number = await file(db)
        victim = await make_org(db)  # admin pages may suspend it
        real = {
            "number": number,
            "service_request_id": number,
            "service_code": "repair",
            "code": "repair",
            "format": "json",
            "organisation_id": str(victim.id),
            "action": "release",
            "rest": "nothing",
        }
        fuzzer = Fuzzer(browsers, chat, real, api_key, failures=[])
        routes = app_routes(fuzz_app)
        assert len(routes) > 50
        for route in routes:
            reads_body = route.method != "GET"
            for value in HOSTILE:
                for name in route.path_params:
                    await fuzzer.send(route, path={name: value})
                everything = {name: value for name in route.query}
                if not reads_body:
                    await fuzzer.send(route, query=everything)
                    if value in ONE_AT_A_TIME:
                        for name in route.query:
                            if name in route.declared_query or name in ONE_AT_A_TIME_PAGE_QUERY:
                                await fuzzer.send(route, query={name: value})
                    continue
                await fuzzer.send(route, form={name: value for name in route.fields})
                if route.path.startswith(("/api/", "/chat/api/")):
                    await fuzzer.send(route, body={name: value for name in JSON_FIELDS})
            if reads_body and route.path.startswith(("/api/", "/chat/api/")):
                for number_value in JSON_NUMBERS:
                    await fuzzer.send(route, body={name: number_value for name in JSON_FIELDS})
                await fuzzer.send(route, body={"text": "[" * 5000 + "]" * 5000})
    assert not fuzzer.failures, "\n".join(fuzzer.failures[:40])
