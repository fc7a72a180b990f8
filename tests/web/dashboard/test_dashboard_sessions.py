"""Server-side sessions, sign-in, CSRF and the dependencies other pages use."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import httpx
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.models import Organisation, Staff, WebSession, utcnow
from services.parties import Role, create_organisation
from tests.web.conftest import unique
from tests.web.dashboard.conftest import SignIn
from tests.web.dashboard.helpers import PASSWORD, csrf_from, new_staff, sign_in
from web.sessions import (
    SESSION_COOKIE,
    SignedInOrganisation,
    check_csrf,
    set_session_cookie,
    start_session,
)
from web.state import WebState


async def test_a_browser_without_a_session_is_sent_to_the_login_page(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.get("/dashboard", params={"status": "all"})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=%2Fdashboard%3Fstatus%3Dall"
    # htmx's polling gets a full-page redirect instruction instead of a login form.
    polled = await client.get("/dashboard/rows", headers={"HX-Request": "true"})
    assert polled.status_code == 401
    assert polled.headers["HX-Redirect"].startswith("/login?next=")


async def test_sign_in_stores_only_the_hash_of_the_session_id(
    client: httpx.AsyncClient, db: async_sessionmaker[AsyncSession]
) -> None:
    staff = await new_staff(db)
    page = await client.get("/login")
    assert "ro_csrf" in page.headers["set-cookie"]
    answer = await client.post(
        "/login",
        data={"name": staff.name, "password": PASSWORD, "csrf_token": csrf_from(page.text)},
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard"
    cookie = next(
        c for c in answer.headers.get_list("set-cookie") if c.startswith(f"{SESSION_COOKIE}=")
    )
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    assert "Max-Age=43200" in cookie
    session_id = cookie.split(";")[0].split("=", 1)[1]
    async with db() as session:
        row = await session.get(WebSession, hashlib.sha256(session_id.encode()).hexdigest())
        assert row is not None and row.staff_id == staff.id
        assert row.expires_at - row.created_at == timedelta(hours=12)
        assert await session.get(WebSession, session_id) is None


async def test_wrong_password_unknown_name_and_missing_csrf_are_refused(
    client: httpx.AsyncClient, db: async_sessionmaker[AsyncSession]
) -> None:
    staff = await new_staff(db)
    token = csrf_from((await client.get("/login")).text)
    wrong = await client.post(
        "/login", data={"name": staff.name, "password": "nope", "csrf_token": token}
    )
    assert wrong.status_code == 400 and "用户名或密码不正确" in wrong.text
    unknown = await client.post(
        "/login", data={"name": "nobody-here", "password": PASSWORD, "csrf_token": token}
    )
    assert unknown.status_code == 400
    no_csrf = await client.post("/login", data={"name": staff.name, "password": PASSWORD})
    assert no_csrf.status_code == 403
    bad_csrf = await client.post(
        "/login", data={"name": staff.name, "password": PASSWORD, "csrf_token": "forged"}
    )
    assert bad_csrf.status_code == 403
    assert SESSION_COOKIE not in client.cookies


async def test_next_never_leaves_the_site(
    client: httpx.AsyncClient, db: async_sessionmaker[AsyncSession]
) -> None:
    staff = await new_staff(db)
    token = csrf_from((await client.get("/login")).text)
    answer = await client.post(
        "/login",
        data={
            "name": staff.name,
            "password": PASSWORD,
            "csrf_token": token,
            "next": "//evil.example/steal",
        },
    )
    assert answer.headers["location"] == "/dashboard"


async def test_logout_ends_the_session_on_the_server(
    client: httpx.AsyncClient, browser: httpx.AsyncClient, signed_in: SignIn
) -> None:
    _, token = await signed_in()
    stolen = client.cookies[SESSION_COOKIE]
    # A POST without the token does not sign out (CSRF).
    assert (await client.post("/logout")).status_code == 403
    answer = await client.post("/logout", data={"csrf_token": token})
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    browser.cookies.set(SESSION_COOKIE, stolen)
    assert (await browser.get("/dashboard")).status_code == 303


async def test_expired_sessions_and_suspended_staff_lose_access(
    client: httpx.AsyncClient, signed_in: SignIn, db: async_sessionmaker[AsyncSession]
) -> None:
    staff, _ = await signed_in()
    assert (await client.get("/dashboard")).status_code == 200
    async with db() as session, session.begin():
        await session.execute(
            update(WebSession)
            .where(WebSession.staff_id == staff.id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert (await client.get("/dashboard")).status_code == 303
    async with db() as session:
        assert (
            await session.scalar(select(WebSession).where(WebSession.staff_id == staff.id))
        ) is None

    staff, _ = await signed_in()
    async with db() as session, session.begin():
        await session.execute(update(Staff).where(Staff.id == staff.id).values(active=False))
    assert (await client.get("/dashboard")).status_code == 303


async def test_the_cookie_is_secure_over_https(
    web_app: FastAPI, db: async_sessionmaker[AsyncSession]
) -> None:
    staff = await new_staff(db)
    transport = httpx.ASGITransport(app=web_app)
    async with httpx.AsyncClient(transport=transport, base_url="https://web.test") as https:
        await sign_in(https, staff)
        assert https.cookies.jar  # the session cookie came back over https
        cookie = next(c for c in https.cookies.jar if c.name == SESSION_COOKIE)
        assert cookie.secure


async def test_admin_pages_refuse_plain_staff(client: httpx.AsyncClient, signed_in: SignIn) -> None:
    await signed_in(role=Role.STAFF)
    assert (await client.get("/dashboard/staff")).status_code == 403
    assert (await client.get("/dashboard/organisations")).status_code == 403


async def test_language_choice_is_remembered_for_the_staff_member(
    client: httpx.AsyncClient, signed_in: SignIn, db: async_sessionmaker[AsyncSession]
) -> None:
    staff, token = await signed_in(language="zh")
    assert "工单队列" in (await client.get("/dashboard")).text
    assert (await client.post("/lang", data={"to": "en", "next": "/dashboard"})).status_code == 403
    answer = await client.post(
        "/lang", data={"to": "en", "next": "/dashboard", "csrf_token": token}
    )
    assert answer.status_code == 303
    assert "Ticket queue" in (await client.get("/dashboard")).text
    async with db() as session:
        stored = await session.get(Staff, staff.id)
        assert stored is not None and stored.language == "en"
    # The next sign-in starts in English.
    await client.post("/logout", data={"csrf_token": token})
    client.cookies.clear()
    await sign_in(client, staff)
    assert "Ticket queue" in (await client.get("/dashboard")).text


async def test_the_login_page_language_follows_the_switch(client: httpx.AsyncClient) -> None:
    assert "社区工作人员登录" in (await client.get("/login")).text
    answer = await client.get("/lang", params={"to": "en", "next": "/login"})
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    assert "Community staff sign in" in (await client.get("/login")).text
    english = await client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert "Community staff sign in" in english.text


async def test_organisation_sessions_and_csrf_for_other_pages(
    web: WebState, db: async_sessionmaker[AsyncSession]
) -> None:
    """The organisation pages use require_organisation and check_csrf: exercised
    here on a tiny app sharing the web state."""
    app = FastAPI()
    app.state.web = web

    @app.get("/org/home")
    async def home(organisation: SignedInOrganisation) -> JSONResponse:
        return JSONResponse({"id": organisation.id})

    @app.post("/org/act", dependencies=[Depends(check_csrf)])
    async def act(organisation: SignedInOrganisation) -> JSONResponse:
        return JSONResponse({"ok": organisation.id})

    @app.post("/org/enter/{organisation_id}")
    async def enter(organisation_id: int, request: Request) -> JSONResponse:
        async with web.sessionmaker() as session, session.begin():
            organisation = await session.get(Organisation, organisation_id)
            assert organisation is not None
            session_id = await start_session(session, organisation=organisation)
            row = await session.get(WebSession, hashlib.sha256(session_id.encode()).hexdigest())
            assert row is not None
            token = row.csrf_token
        response = JSONResponse({"csrf": token})
        set_session_cookie(response, request, session_id)
        return response

    async with db() as session, session.begin():
        organisation, _ = await create_organisation(
            session, name=unique("org"), categories=["repair"], communities=None
        )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://web.test") as http:
        away = await http.get("/org/home")
        assert away.status_code == 303
        assert away.headers["location"] == "/org/login?next=%2Forg%2Fhome"
        token = (await http.post(f"/org/enter/{organisation.id}")).json()["csrf"]
        assert (await http.get("/org/home")).json() == {"id": organisation.id}
        assert (await http.post("/org/act")).status_code == 403
        assert (await http.post("/org/act", headers={"X-CSRF-Token": "nope"})).status_code == 403
        ok = await http.post("/org/act", headers={"X-CSRF-Token": token})
        assert ok.json() == {"ok": organisation.id}
        form = await http.post("/org/act", data={"csrf_token": token})
        assert form.json() == {"ok": organisation.id}
