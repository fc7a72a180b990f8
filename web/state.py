"""What every request of the web process shares, created by the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from adapters.engine_client import EngineClient
from adapters.wakeup import Waker
from config.settings import Settings
from desk.frontdesk import FrontDesk
from desk.workdesk import WorkDesk
from web.login_throttle import LoginThrottle


@dataclass(frozen=True)
class WebState:
    """The settings, the database, the notifier's waker, the sign-in throttle, the
    engine's client and the web chat's desks of one web process (built once, at start)."""

    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    waker: Waker
    login_throttle: LoginThrottle
    engine_client: EngineClient
    frontdesk: FrontDesk
    workdesk: WorkDesk


def app_state(app: FastAPI) -> WebState:
    """The app's shared state (only while its lifespan runs)."""
    state = getattr(app.state, "web", None)
    if not isinstance(state, WebState):
        raise RuntimeError("the web app's lifespan has not started")
    return state


def request_state(request: Request) -> WebState:
    """The shared state of the app serving this request (a FastAPI dependency)."""
    return app_state(request.app)
