"""Every error of the web API as JSON: {"error": code, "message": sentence, ...}, and
the one map from services-layer errors to HTTP (`SERVICE_ERRORS`, `meaning_of`) that
every part of the app answers with: the JSON API here, the organisation pages and the
dashboard with the map's catalogue keys; a format of its own (Open311) renders the
same `Meaning` its way.

`error` is a stable machine-readable code; `message` is an English sentence for
the developer reading the response (never shown to residents as is).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.errors import (
    AlreadyHolds,
    AlreadyTaken,
    BadCredentials,
    IllegalTransition,
    InvalidInput,
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


@dataclass(frozen=True)
class Meaning:
    """What a services-layer error means to the web: the HTTP status, the stable machine
    code, and the catalogue key of the sentence people read: `key` for an organisation
    (its pages and chats; the sentences take `number`, and `holder` or `status`),
    `staff_key` for staff on the dashboard."""

    status: int
    error: str
    key: str
    staff_key: str


# The one map from services.errors to HTTP; the most specific class listed wins.
SERVICE_ERRORS: dict[type[ServiceError], Meaning] = {
    AlreadyHolds: Meaning(409, "already_holder", "taken_by", "dash_err_already_holds"),
    AlreadyTaken: Meaning(409, "already_taken", "taken_by", "dash_err_taken"),
    IllegalTransition: Meaning(409, "illegal_transition", "ticket_now", "dash_err_state"),
    TicketNotFound: Meaning(404, "ticket_not_found", "ticket_not_found", "dash_err_no_ticket"),
    NotEligible: Meaning(403, "not_eligible", "not_eligible", "dash_err_not_eligible"),
    NotYourTicket: Meaning(403, "not_your_ticket", "not_yours", "dash_err_no_ticket"),
    BadCredentials: Meaning(401, "invalid_token", "org_page_login_bad_token", "dash_err_not_found"),
    NotFound: Meaning(404, "not_found", "dash_err_not_found", "dash_err_not_found"),
    UnknownCategory: Meaning(404, "not_found", "dash_err_not_found", "dash_err_not_found"),
    InvalidInput: Meaning(422, "invalid_input", "dash_err_input", "dash_err_input"),
    ServiceError: Meaning(400, "service_error", "dash_err_input", "dash_err_input"),
}


def meaning_of(exc: ServiceError) -> Meaning:
    """The meaning of a services-layer error; a claim lost to nobody known (no holder)
    says only that the ticket's state moved on."""
    if isinstance(exc, AlreadyTaken) and exc.holder is None:
        return SERVICE_ERRORS[IllegalTransition]
    for cls in type(exc).__mro__:
        if cls in SERVICE_ERRORS:
            return SERVICE_ERRORS[cls]
    return SERVICE_ERRORS[ServiceError]


def developer_message(exc: ServiceError) -> str:
    """The English sentence of the JSON answer (for the developer, not the resident)."""
    if isinstance(exc, AlreadyHolds):
        return f"The organisation {exc.holder} already holds the ticket."
    if isinstance(exc, AlreadyTaken) and exc.holder is not None:
        return f"The ticket is already held by {exc.holder}."
    if isinstance(exc, IllegalTransition):
        return f"The ticket is {exc.current}; it cannot move to {exc.new}."
    if isinstance(exc, TicketNotFound):
        return f"No ticket has the number {exc.number[:40]!r}."
    if isinstance(exc, NotEligible):
        return "The organisation does not serve this ticket's category or community."
    if isinstance(exc, NotYourTicket):
        return "The ticket is not yours to act on."
    if isinstance(exc, BadCredentials):
        return "The token is unknown or belongs to a suspended party."
    if isinstance(exc, NotFound | UnknownCategory | InvalidInput):
        return f"{exc}."
    return str(exc)


def _extra(exc: ServiceError) -> dict[str, Any]:
    if isinstance(exc, AlreadyTaken) and exc.holder is not None:
        return {"status": exc.current, "holder": exc.holder}
    if isinstance(exc, IllegalTransition):
        return {"status": exc.current}
    return {}


def _headers(exc: ServiceError) -> dict[str, str] | None:
    if isinstance(exc, BadCredentials):
        return {"WWW-Authenticate": 'Bearer error="invalid_token"'}
    return None


def api_error(exc: ServiceError, message: str | None = None) -> ApiError:
    """The JSON API's answer to a services-layer error (`message`: a sentence that
    names what the request sent, instead of the error's own)."""
    meaning = meaning_of(exc)
    if meaning is SERVICE_ERRORS[ServiceError]:
        logger.warning("web.unmapped_service_error %r", exc)
    return ApiError(
        meaning.status,
        meaning.error,
        message or developer_message(exc),
        headers=_headers(exc),
        **_extra(exc),
    )


def service_error_response(exc: ServiceError) -> JSONResponse:
    """Map a services-layer error to its HTTP status and JSON body."""
    error = api_error(exc)
    return error_response(
        error.status_code, error.error, error.message, headers=error.headers, **error.extra
    )


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
