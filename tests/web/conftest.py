"""Fixtures of the web tests: the app on a real database (SQLite and PostgreSQL),
an HTTP client talking to it in process, and helpers that create organisations,
staff and tickets the way the CLI and the chat do."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from config.settings import Settings
from services.api_clients import create_api_key
from services.db import make_sessionmaker
from services.parties import Role, create_organisation, create_staff
from services.tickets import NewTicket, get_or_create_resident
from services.workflow import file_ticket
from tests.conftest_db import *  # noqa: F403
from web.app import create_app
from web.state import WebState, app_state

# An address of 幸福里社区 (see services/reference/communities.yml).
ADDRESS = "幸福小区3栋2单元501"
PHONE = "+8613812345678"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def web_settings(database_url: str) -> Settings:
    """Settings of a test web app: this database, no Redis, no .env file."""
    return Settings(_env_file=None, database_url=database_url, redis_url=None)  # type: ignore[call-arg]


@pytest.fixture(scope="session")
async def web_app(db_url: str) -> AsyncIterator[FastAPI]:
    """The web app with its lifespan running (ASGITransport does not run lifespans)."""
    app = create_app(web_settings(db_url))
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
def web(web_app: FastAPI) -> WebState:
    return app_state(web_app)


@pytest.fixture
async def client(web_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=web_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://web.test") as http:
        yield http


@pytest.fixture(scope="session")
def db(db_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that commit, on the database the app uses."""
    return make_sessionmaker(db_engine)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass(frozen=True)
class Party:
    id: int
    name: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)


async def make_org(
    db: async_sessionmaker[AsyncSession],
    *,
    categories: Sequence[str] = ("repair", "legal_aid"),
    communities: Sequence[int] | None = None,
) -> Party:
    """An organisation (serving every community unless told otherwise) and its token."""
    async with db() as session, session.begin():
        organisation, credentials = await create_organisation(
            session, name=unique("org"), categories=categories, communities=communities
        )
        return Party(organisation.id, organisation.name, credentials.token)


async def make_staff(
    db: async_sessionmaker[AsyncSession],
    *,
    role: Role = Role.ADMIN,
    communities: Sequence[int] = (),
) -> Party:
    async with db() as session, session.begin():
        staff, credentials = await create_staff(
            session, name=unique("staff"), role=role, communities=communities
        )
        return Party(staff.id, staff.name, credentials.token)


async def file(
    db: async_sessionmaker[AsyncSession],
    *,
    category: str = "repair",
    address: str | None = ADDRESS,
    phone: str | None = PHONE,
    description: str = "厨房水管漏水",
) -> str:
    """A resident's ticket, filed and routed as the chat files it; returns its number."""
    async with db() as session, session.begin():
        resident = await get_or_create_resident(
            session, channel="cli", external_id=unique("resident")
        )
        ticket = (
            await file_ticket(
                session,
                resident=resident,
                request=NewTicket(
                    category_code=category,
                    description=description,
                    address=address,
                    latitude=31.2050,
                    longitude=121.4350,
                    preferred_time_text="明天下午三点",
                    preferred_time_at=None,
                    phone=phone,
                    photo_path=None,
                    language="zh",
                    idempotency_key=None,
                ),
            )
        ).ticket
        return ticket.number


@pytest.fixture
async def api_key(db: async_sessionmaker[AsyncSession]) -> str:
    """A new Open311 API key's secret."""
    async with db() as session, session.begin():
        _, secret = await create_api_key(session, name=unique("client"))
    return secret
