"""`GET /readyz`: whether this web process could answer a resident now (the database,
the engine with its model loaded, the action server); `/healthz` stays the liveness
check (the process and its database). See adapters/readiness.py and docs/deployment.md."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from adapters.readiness import check_readiness
from web.errors import error_response
from web.state import request_state

logger = logging.getLogger(__name__)

router = APIRouter(tags=["health"])


@router.get(
    "/readyz",
    responses={503: {"description": "A part a resident's message needs is not ready"}},
)
async def readyz(request: Request) -> JSONResponse:
    """200 when the database, the engine (model loaded) and the action server answer;
    503 naming each part that does not."""
    state = request_state(request)
    readiness = await check_readiness(state.settings, state.engine)
    if readiness.ready:
        return JSONResponse({"status": "ready", "checks": readiness.as_dict()})
    logger.info("web.not_ready parts=%s", ",".join(readiness.not_ready))
    return error_response(
        503,
        "not_ready",
        "Not ready: " + ", ".join(readiness.not_ready) + ".",
        status="not_ready",
        checks=readiness.as_dict(),
        headers={"Retry-After": "5", "Cache-Control": "no-store"},
    )
