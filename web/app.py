"""The web process: a FastAPI app with the JSON API and the health check.

It never migrates: migrations run once before the processes start (`orders up`,
services.db.prepare_database). Run it with `orders web` (uvicorn on WEB_HOST:WEB_PORT).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text

from adapters.engine_client import EngineClient
from adapters.wakeup import Waker
from config.settings import Settings
from desk.frontdesk import FrontDesk
from desk.workdesk import WorkDesk
from services.db import make_engine, make_sessionmaker
from web import api
from web.chat import router as chat_router
from web.dashboard import router as dashboard_router
from web.edge import RETRY_AFTER_S, install_edge
from web.errors import error_response, install_error_handlers
from web.limits import BodyLimit
from web.login_throttle import LoginThrottle
from web.logredact import redact_root_handlers, uvicorn_log_config
from web.open311.routes import router as open311_router
from web.orgpages import router as orgpages_router
from web.readiness import router as readiness_router
from web.state import WebState, request_state

logger = logging.getLogger(__name__)

# The API takes small JSON bodies only (a reason, a note, an id).
MAX_BODY_BYTES = 64 * 1024
HEALTH_TIMEOUT_S = 5.0
STATIC_DIR = Path(__file__).with_name("static")


def create_app(settings: Settings, *, clock: Callable[[], float] = time.time) -> FastAPI:
    """The web app on the settings' database; its lifespan opens and closes the
    database engine and the notifier's waker. `clock` (wall-clock seconds) drives the
    sign-in throttle's windows (tests move it)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.db_url)
        waker = Waker(settings.redis_url)
        # Failed sign-ins, shared by every web worker through the Waker's Redis.
        throttle = LoginThrottle(
            per_account=settings.login_max_failures,
            per_ip=settings.login_max_failures_per_ip,
            window_s=settings.login_window_minutes * 60,
            redis=waker.redis,
            clock=clock,
        )
        sessionmaker = make_sessionmaker(engine)
        engine_client = EngineClient(settings.rasa_url, timeout=settings.engine_timeout_s)
        app.state.web = WebState(
            settings=settings,
            engine=engine,
            sessionmaker=sessionmaker,
            waker=waker,
            login_throttle=throttle,
            engine_client=engine_client,
            frontdesk=FrontDesk(engine_client, sessionmaker, settings, waker),
            workdesk=WorkDesk(sessionmaker, waker),
        )
        try:
            yield
        finally:
            del app.state.web
            await engine_client.close()
            await waker.close()
            await engine.dispose()

    app = FastAPI(
        title="Resident Orders",
        summary="Organisations and staff carry residents' tickets to the end.",
        version="1",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    # Control characters, huge ids and outages (web/edge.py), inside the body limit.
    install_edge(app)
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    # Routers, one per part of the web process (JSON API, Open311, dashboard, web chat,
    # organisation pages); each part adds its own line here.
    app.include_router(api.router)
    app.include_router(api.organisations_router)
    app.include_router(open311_router)
    app.include_router(chat_router)
    app.include_router(orgpages_router)
    app.include_router(dashboard_router)
    app.include_router(readiness_router)

    @app.get("/healthz", tags=["health"], responses={503: {"description": "No database"}})
    async def healthz(request: Request) -> JSONResponse:
        """200 when the process runs and its database answers, 503 otherwise."""
        state = request_state(request)
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT_S), state.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:  # any failure to reach the database is "unavailable"
            logger.warning("web.health_failed error=%r", exc)
            return error_response(
                503,
                "database_unavailable",
                "The database does not answer.",
                headers={"Retry-After": str(RETRY_AFTER_S)},
                status="unavailable",
            )
        return JSONResponse({"status": "ok"})

    return app


def run(settings: Settings) -> None:
    """Serve the app with uvicorn until stopped (SIGINT/SIGTERM). No log line carries
    a query's secrets or search text (web/logredact.py)."""
    redact_root_handlers()
    uvicorn.run(
        create_app(settings),
        host=settings.web_host,
        port=settings.web_port,
        log_level="info",
        log_config=uvicorn_log_config(),
        server_header=False,
        timeout_graceful_shutdown=10,
    )
