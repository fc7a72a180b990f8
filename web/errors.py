"""Every error of the web API as JSON: {"error": code, "message": sentence, ...}.

`error` is a stable machine-readable code; `message` is an English sentence for
the developer reading the response (never shown to residents as is).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.errors import (
    AlreadyTaken,
    BadCredentials,
    IllegalTransition,
    NotEligible,
    NotFound,
    NotYourTicket,
    ServiceError,
    TicketNotFound,
    UnknownCategory,
)

logger = logging.getLogger(__name__)

# Codes of the plain HTTP errors Starlette raises itself (unknown route, wrong method...).
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
}


class ApiError(Exception):
    """An error response decided by the API itself (not by the services layer)."""

    def __init__(
        self,
        status_code: int,
        error: str,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error = error
        self.message = message
        self.headers = headers
        self.extra = extra


def error_response(
    status_code: int,
    error: str,
    message: str,
    *,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """The JSON body every error of the API has."""
    return JSONResponse(
        {"error": error, "message": message, **extra}, status_code=status_code, headers=headers
    )


def service_error_response(exc: ServiceError) -> JSONResponse:
    """Map a services-layer error to its HTTP status and JSON body."""
    if isinstance(exc, AlreadyTaken) and exc.holder is not None:
        return error_response(
            409,
            "already_taken",
            f"The ticket is already held by {exc.holder}.",
            status=exc.current,
            holder=exc.holder,
        )
    if isinstance(exc, IllegalTransition):
        return error_response(
            409,
            "illegal_transition",
            f"The ticket is {exc.current}; it cannot move to {exc.new}.",
            status=exc.current,
        )
    if isinstance(exc, TicketNotFound):
        return error_response(
            404, "ticket_not_found", f"No ticket has the number {exc.number[:40]!r}."
        )
    if isinstance(exc, NotEligible):
        return error_response(
            403,
            "not_eligible",
            "The organisation does not serve this ticket's category or community.",
        )
    if isinstance(exc, NotYourTicket):
        return error_response(403, "not_your_ticket", "The ticket is not yours to act on.")
    if isinstance(exc, BadCredentials):
        return error_response(
            401,
            "invalid_token",
            "The token is unknown or belongs to a suspended party.",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    if isinstance(exc, NotFound | UnknownCategory):
        return error_response(404, "not_found", f"{exc}.")
    logger.warning("web.unmapped_service_error %r", exc)
    return error_response(400, "service_error", str(exc))


async def _on_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status_code, exc.error, exc.message, headers=exc.headers, **exc.extra)


async def _on_service_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    return service_error_response(exc)


def _problem(error: Any) -> dict[str, str]:
    # Only where and what: the offending input may be huge, binary or not JSON-able.
    location = error.get("loc", ()) if isinstance(error, dict) else ()
    message = error.get("msg", "invalid") if isinstance(error, dict) else "invalid"
    return {"where": ".".join(str(part) for part in location), "problem": str(message)}


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(
        422,
        "invalid_request",
        "The request's body or parameters are not valid; see problems.",
        problems=[_problem(error) for error in exc.errors()][:20],
    )


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    try:
        phrase = HTTPStatus(exc.status_code).phrase
    except ValueError:
        phrase = "Error"
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != phrase else phrase
    message = detail if detail.endswith(".") else f"{detail}."
    return error_response(exc.status_code, code, message, headers=exc.headers)


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Starlette logs the exception and re-raises it after sending this.
    return error_response(500, "internal_error", "Something went wrong on the server.")


def install_error_handlers(app: FastAPI) -> None:
    """Make every error the app returns the same JSON shape."""
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(ServiceError, _on_service_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)
