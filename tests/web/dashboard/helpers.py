"""Helpers of the dashboard tests: staff members with web passwords, signing in
through the login form like a browser, reading CSRF tokens from pages."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.models import Community
from services.parties import Role, create_staff
from tests.web.conftest import unique

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class WebStaff:
    id: int
    name: str
    password: str


def csrf_from(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = _CSRF.search(html)
    assert found, "no csrf_token field on the page"
    return found.group(1)


async def community_ids(db: async_sessionmaker[AsyncSession], *names: str) -> list[int]:
    async with db() as session:
        rows = await session.scalars(select(Community).where(Community.name_zh.in_(names)))
        found = {c.name_zh: c.id for c in rows}
    return [found[name] for name in names]


async def new_staff(
    db: async_sessionmaker[AsyncSession],
    *,
    role: Role = Role.STAFF,
    communities: Sequence[str] = ("幸福里社区",),
    language: str = "zh",
) -> WebStaff:
    ids = await community_ids(db, *communities)
    async with db() as session, session.begin():
        staff, _ = await create_staff(
            session,
            name=unique("web-staff"),
            role=role,
            communities=ids,
            password=PASSWORD,
            language=language,
        )
        return WebStaff(staff.id, staff.name, PASSWORD)


async def sign_in(client: httpx.AsyncClient, staff: WebStaff, next_path: str = "/dashboard") -> str:
    """Sign in through the form like a browser; returns the session's CSRF token."""
    page = await client.get("/login", params={"next": next_path})
    assert page.status_code == 200, page.text
    answer = await client.post(
        "/login",
        data={
            "name": staff.name,
            "password": staff.password,
            "next": next_path,
            "csrf_token": csrf_from(page.text),
        },
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == next_path
    dashboard = await client.get("/dashboard")
    assert dashboard.status_code == 200, dashboard.text
    return csrf_from(dashboard.text)
