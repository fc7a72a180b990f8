"""Fixtures of the dashboard tests: a second browser, and a client signed in as a
new staff member."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.parties import Role
from tests.web.dashboard.helpers import WebStaff, new_staff, sign_in


@pytest.fixture
async def browser(web_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A second cookie jar (another person's browser)."""
    transport = httpx.ASGITransport(app=web_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://web.test") as http:
        yield http


SignIn = Callable[..., Awaitable[tuple[WebStaff, str]]]


@pytest.fixture
def signed_in(client: httpx.AsyncClient, db: async_sessionmaker[AsyncSession]) -> SignIn:
    """Create a staff member and sign `client` in as them: (staff, csrf token)."""

    async def make(
        role: Role = Role.ADMIN, communities: Sequence[str] = ("幸福里社区",), language: str = "zh"
    ) -> tuple[WebStaff, str]:
        staff = await new_staff(db, role=role, communities=communities, language=language)
        return staff, await sign_in(client, staff)

    return make
