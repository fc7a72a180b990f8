"""Changing one's own password: staff on /dashboard/password, organisations on
/org/password, against the real app on SQLite and PostgreSQL. The old password stops
working, the new one works, every other session of the account ends while the
current one continues; wrong current password, mismatch, too short, the name as
password and a missing CSRF token are refused with sentences in zh and en."""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from i18n import t
from services.models import Organisation, Staff, WebSession
from services.parties import MIN_PASSWORD_LENGTH, verify_password
from tests.web.conftest import make_org
from tests.web.dashboard.helpers import PASSWORD, WebStaff, new_staff, sign_in

Sessions = async_sessionmaker[AsyncSession]
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
NEW = "a brand new passphrase"
Browser = Callable[[], AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def browser(web_app: FastAPI) -> Browser:
    """Open another browser (its own cookies) at an IP address of its own, so the
    sign-in throttle's per-IP counts of other tests never meet these."""

    @asynccontextmanager
    async def open_one() -> AsyncIterator[httpx.AsyncClient]:
        ip = f"10.{secrets.randbelow(256)}.{secrets.randbelow(256)}.{1 + secrets.randbelow(254)}"
        transport = httpx.ASGITransport(app=web_app, client=(ip, 50_000))
        async with httpx.AsyncClient(transport=transport, base_url="http://web.test") as client:
            yield client

    return open_one


def csrf_of(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, page.text
    return found.group(1)


async def change_staff_password(
    client: httpx.AsyncClient, current: str, new: str, confirm: str | None = None
) -> httpx.Response:
    page = await client.get("/dashboard/password")
    assert page.status_code == 200, page.text
    return await client.post(
        "/dashboard/password",
        data={
            "csrf_token": csrf_of(page),
            "current_password": current,
            "new_password": new,
            "confirm": new if confirm is None else confirm,
        },
    )


async def staff_password_works(browser: Browser, staff: WebStaff, password: str) -> bool:
    async with browser() as client:
        form = await client.get("/login")
        answer = await client.post(
            "/login",
            data={"name": staff.name, "password": password, "csrf_token": csrf_of(form)},
        )
        assert answer.status_code in (303, 400), answer.text
        return answer.status_code == 303


async def sessions_of(db: Sessions, *, staff_id: int = 0, organisation_id: int = 0) -> int:
    async with db() as session:
        query = select(func.count()).select_from(WebSession)
        if staff_id:
            query = query.where(WebSession.staff_id == staff_id)
        else:
            query = query.where(WebSession.organisation_id == organisation_id)
        return int(await session.scalar(query) or 0)


# --- staff --------------------------------------------------------------------------------


async def test_staff_change_their_password_and_other_sessions_end(
    browser: Browser, db: Sessions
) -> None:
    staff = await new_staff(db)
    async with browser() as here, browser() as phone:
        await sign_in(here, staff)
        await sign_in(phone, staff)
        dashboard = await here.get("/dashboard")
        assert 'href="/dashboard/password"' in dashboard.text
        assert t("account_password_link", "zh") in dashboard.text

        changed = await change_staff_password(here, PASSWORD, NEW)
        assert changed.status_code == 303
        assert changed.headers["location"] == "/dashboard/password?changed=1"
        shown = await here.get(changed.headers["location"])
        assert t("account_password_changed", "zh") in shown.text

        assert (await here.get("/dashboard")).status_code == 200  # this browser continues
        assert (await phone.get("/dashboard")).status_code == 303  # the other one is out
        assert await sessions_of(db, staff_id=staff.id) == 1
    assert not await staff_password_works(browser, staff, PASSWORD)
    assert await staff_password_works(browser, staff, NEW)
    async with db() as session:
        stored = await session.get(Staff, staff.id)
        assert stored is not None and stored.password_hash is not None
        assert stored.password_hash.startswith("$argon2")
        assert verify_password(stored.password_hash, NEW)


@pytest.mark.parametrize("language", ["zh", "en"])
async def test_staff_mistakes_are_refused_with_a_sentence(
    browser: Browser, db: Sessions, language: str
) -> None:
    staff = await new_staff(db, language=language)
    async with browser() as client:
        await sign_in(client, staff)
        wrong = await change_staff_password(client, "not my password", NEW)
        assert wrong.status_code == 400
        assert t("account_password_wrong_current", language) in wrong.text
        mismatch = await change_staff_password(client, PASSWORD, NEW, NEW + "!")
        assert mismatch.status_code == 400
        assert t("account_password_mismatch", language) in mismatch.text
        short = await change_staff_password(client, PASSWORD, "short")
        assert short.status_code == 400
        assert t("account_password_too_short", language, count=MIN_PASSWORD_LENGTH) in short.text
        as_name = await change_staff_password(client, PASSWORD, f" {staff.name.upper()} ")
        assert as_name.status_code == 400
        assert t("account_password_same_as_name", language) in as_name.text
        assert (await client.get("/dashboard")).status_code == 200
    assert await staff_password_works(browser, staff, PASSWORD)  # unchanged


async def test_staff_password_change_needs_the_csrf_token(browser: Browser, db: Sessions) -> None:
    staff = await new_staff(db)
    async with browser() as client:
        await sign_in(client, staff)
        fields = {"current_password": PASSWORD, "new_password": NEW, "confirm": NEW}
        assert (await client.post("/dashboard/password", data=fields)).status_code == 403
        forged = await client.post("/dashboard/password", data={**fields, "csrf_token": "forged"})
        assert forged.status_code == 403
    assert await staff_password_works(browser, staff, PASSWORD)


async def test_guessing_the_current_password_is_throttled_like_a_sign_in(
    browser: Browser, db: Sessions
) -> None:
    staff = await new_staff(db, language="en")
    async with browser() as client:
        await sign_in(client, staff)
        for _ in range(5):
            assert (await change_staff_password(client, "guess-guess", NEW)).status_code == 400
        refused = await change_staff_password(client, PASSWORD, NEW)
        assert refused.status_code == 429 and "Retry-After" in refused.headers
        assert "Too many failed sign-ins" in refused.text
    async with db() as session:
        stored = await session.get(Staff, staff.id)
        assert stored is not None and verify_password(stored.password_hash, PASSWORD)


async def test_the_password_page_needs_a_staff_session(client: httpx.AsyncClient) -> None:
    answer = await client.get("/dashboard/password")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login?next=")


# --- organisations ------------------------------------------------------------------------


async def org_sign_in(client: httpx.AsyncClient, **fields: str) -> httpx.Response:
    form = await client.get("/org/login")
    return await client.post("/org/login", data={"csrf_token": csrf_of(form), **fields})


async def set_org_password(
    client: httpx.AsyncClient, new: str, confirm: str | None = None, **fields: str
) -> httpx.Response:
    page = await client.get("/org/password")
    assert page.status_code == 200, page.text
    return await client.post(
        "/org/password",
        data={
            "csrf_token": csrf_of(page),
            "new_password": new,
            "confirm": new if confirm is None else confirm,
            **fields,
        },
    )


async def test_an_organisation_sets_then_changes_its_password(
    browser: Browser, db: Sessions
) -> None:
    organisation = await make_org(db)
    first = "first organisation password"
    async with browser() as office, browser() as laptop:
        assert (await org_sign_in(office, token=organisation.token)).status_code == 303
        home = await office.get("/org")
        assert 'href="/org/password"' in home.text
        # Signed in with the token and no password yet: no current password asked.
        page = await office.get("/org/password")
        assert t("account_password_set_title", "zh") in page.text
        assert 'name="current_password"' not in page.text
        saved = await set_org_password(office, first)
        assert saved.status_code == 303 and saved.headers["location"] == "/org/password?ok=set"
        assert t("org_page_ok_password", "zh") in (await office.get(saved.headers["location"])).text

        assert (
            await org_sign_in(laptop, name=organisation.name, password=first)
        ).status_code == 303
        # Now a password is set: the current one is asked.
        page = await office.get("/org/password")
        assert 'name="current_password"' in page.text
        wrong = await set_org_password(office, NEW, current_password="not the password")
        assert wrong.status_code == 400
        assert t("account_password_wrong_current", "zh") in wrong.text
        missing = await set_org_password(office, NEW)
        assert missing.status_code == 400
        changed = await set_org_password(office, NEW, current_password=first)
        assert changed.status_code == 303
        assert changed.headers["location"] == "/org/password?ok=changed"
        assert (
            t("account_password_changed", "zh")
            in (await office.get("/org/password?ok=changed")).text
        )
        assert (await office.get("/org")).status_code == 200  # this browser continues
        assert (await laptop.get("/org")).status_code == 303  # the other one is out
        assert await sessions_of(db, organisation_id=organisation.id) == 1

    async with browser() as other:
        old = await org_sign_in(other, name=organisation.name, password=first)
        assert old.status_code == 400
        assert (await org_sign_in(other, name=organisation.name, password=NEW)).status_code == 303


async def test_a_forgotten_organisation_password_is_replaced_with_the_token(
    browser: Browser, db: Sessions
) -> None:
    organisation = await make_org(db)
    async with browser() as client:
        await org_sign_in(client, token=organisation.token)
        assert (await set_org_password(client, "forgotten password 1")).status_code == 303
        replaced = await set_org_password(client, NEW, current_password=organisation.token)
        assert replaced.status_code == 303
    async with db() as session:
        stored = await session.get(Organisation, organisation.id)
        assert stored is not None and verify_password(stored.password_hash, NEW)


async def test_organisation_mistakes_in_english_and_csrf(browser: Browser, db: Sessions) -> None:
    organisation = await make_org(db)
    async with browser() as client:
        await org_sign_in(client, token=organisation.token)
        # The session speaks the organisation's language (zh) until switched.
        home = await client.get("/org")
        switched = await client.post("/lang", data={"csrf_token": csrf_of(home), "to": "en"})
        assert switched.status_code == 303
        mismatch = await set_org_password(client, NEW, NEW + "?")
        assert mismatch.status_code == 400
        assert "The two new passwords differ." in mismatch.text
        short = await set_org_password(client, "tiny")
        assert short.status_code == 400
        assert t("account_password_too_short", "en", count=MIN_PASSWORD_LENGTH) in short.text
        as_name = await set_org_password(client, organisation.name.upper())
        assert as_name.status_code == 400
        assert "The new password must not be the same as the name." in as_name.text
        no_csrf = await client.post("/org/password", data={"new_password": NEW, "confirm": NEW})
        assert no_csrf.status_code == 403
    async with db() as session:
        stored = await session.get(Organisation, organisation.id)
        assert stored is not None and stored.password_hash is None
