"""The edge of the web process: what no request carries past it, and how each part of
the app says no, or "not now".

`EdgeGuard`, an ASGI middleware just inside the body limit, refuses before any route
runs:

- C0 control characters (NUL among them) and lone surrogates in the path, in query
  parameter names and values, in form fields (urlencoded or multipart) and in JSON
  strings, keys included; bodies may keep tab, newline and carriage return. PostgreSQL
  stores no NUL in text and cannot encode a surrogate; nobody types the others.
  → 400 `bad_characters`; in a JSON body (the JSON API, the web chat) the API's
  422 `invalid_request` with `problems`, as other invalid bodies are; in the path
  404, like a path segment that is an integer outside PostgreSQL's int4 (2^31 - 1):
  nothing has such a name or id.
- an integer in a JSON body outside int4 → 422 `invalid_request`; JSON nested too
  deeply to read → 400 `bad_request`.

Route code bounds dates and other numbers with web.bounds; an `OutOfBounds` it raises
is answered 400 `out_of_range` here, naming the parameter. When the database does not
answer (refused, lost or timed-out connections, a server shutting down) every route
answers 503 `database_unavailable` with `Retry-After`; other database errors stay 500s.

Every answer has the shape of its part of the app (`part_of`): Open311's list of
{code, description} (XML under .xml), the JSON API's {"error", "message"}, the web
chat's JSON with a reply its page shows, and for pages an HTML page with a sentence
of the catalogue (i18n/messages/web_edge.yml) in the visitor's language.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncGenerator, Iterable, Iterator, Mapping
from enum import StrEnum
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl

import asyncpg.exceptions  # type: ignore[import-untyped]  # no stubs installed
from fastapi import FastAPI, Request
from fastapi.responses import Response
from sqlalchemy import exc as sa_exc
from starlette.datastructures import Headers, UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from desk.frontdesk import Reply
from i18n import t
from web.bounds import INT_MAX, DateOutOfBounds, OutOfBounds
from web.errors import error_response
from web.open311.formats import error_response as open311_error_response
from web.sessions import request_language
from web.templating import templates

logger = logging.getLogger(__name__)

RETRY_AFTER_S = 5
# Multipart bodies larger than this (the web chat's photo, which has a cap of its own)
# pass uninspected: their fields are not stored as text.
MAX_INSPECTED_BYTES = 256 * 1024
# Every C0 control in paths and queries; bodies keep \t \n \r. Lone surrogates anywhere.
_BAD_IN_URL = re.compile("[\x00-\x1f\ud800-\udfff]")
_BAD_IN_BODY = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
_INTEGER = re.compile(r"[+-]?\d+")
# SQLSTATE classes of a database that is not there: connection exception, insufficient
# resources (too many connections), operator intervention (shutting down, restarting).
_OUTAGE_SQLSTATES = ("08", "53", "57")
_DRIVER_MODULES = ("asyncpg", "aiosqlite", "sqlite3", "sqlalchemy")
_PAGE_PREFIXES = ("/dashboard", "/login", "/logout", "/lang", "/org", "/chat", "/public")


class Part(StrEnum):
    """The parts of the app, each with its own error shape."""

    OPEN311 = "open311"
    CHAT = "chat"
    JSON = "json"
    PAGE = "page"


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def part_of(path: str) -> Part:
    """Which part of the app a path belongs to (unknown paths answer JSON, as today)."""
    if _under(path, "/open311"):
        return Part.OPEN311
    if path.startswith("/chat/api/"):
        return Part.CHAT
    if any(_under(path, prefix) for prefix in _PAGE_PREFIXES):
        return Part.PAGE
    return Part.JSON


def _page_security_headers() -> Mapping[str, str]:
    # Imported here: the dashboard's package imports every page (and they import this).
    from web.pages import SECURITY_HEADERS

    return SECURITY_HEADERS


def refusal(
    scope: Scope,
    status: int,
    error: str,
    message: str,
    key: str,
    *,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> Response:
    """The answer `status` in the shape of the part of the app the request went to:
    `error`, the English `message` and `extra` fields for machines (JSON), the
    catalogue sentence `key` for people. Open311 answers every invalid input 400."""
    path = str(scope.get("path", ""))
    part = part_of(path)
    response: Response
    if part is Part.OPEN311:
        response = open311_error_response(
            "xml" if path.endswith(".xml") else "json", 400 if status == 422 else status, message
        )
    elif part is Part.JSON:
        response = error_response(status, error, message, **extra)
    else:
        request = Request(scope)
        language = request_language(request)
        if part is Part.CHAT:
            from web.chat_replies import reply_json

            response = error_response(
                status,
                error,
                message,
                replies=[reply_json(Reply(t(key, language)))],
                language=language,
                **extra,
            )
        else:
            response = templates.TemplateResponse(
                request, "edge_error.html", {"message_key": key}, status_code=status
            )
            for name, value in _page_security_headers().items():
                response.headers.setdefault(name, value)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


# --- what a request may not carry ---------------------------------------------------------


class _Refused(Exception):
    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        key: str = "edge_bad_input",
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.key = key
        self.extra = extra


def _invalid_body(where: str, problem: str) -> _Refused:
    """The JSON API's answer to a body it cannot take (docs/api.md): 422 with problems."""
    return _Refused(
        422,
        "invalid_request",
        "The request's body or parameters are not valid; see problems.",
        problems=[{"where": where[:80], "problem": problem}],
    )


def _bad_characters(where: str) -> _Refused:
    return _Refused(
        400,
        "bad_characters",
        f"The request's {where} contains control characters (such as NUL), which are not accepted.",
    )


def _named(name: str) -> str:
    return repr(name[:40])


def _check_pairs(pairs: Iterable[tuple[str, str]], bad: re.Pattern[str], kind: str) -> None:
    for name, value in pairs:
        if bad.search(name):
            raise _bad_characters(f"{kind} names")
        if bad.search(value):
            raise _bad_characters(f"{kind} {_named(name)}")


def _out_of_int_range(text: str) -> bool:
    digits = text.lstrip("+-").lstrip("0")
    return len(digits) > 10 or int(text) > INT_MAX or int(text) < -INT_MAX - 1


def check_url(scope: Scope) -> None:
    """Refuse a path or query string carrying control characters or a huge integer id."""
    path = str(scope.get("path", ""))
    for segment in path.split("/"):
        if _BAD_IN_URL.search(segment) or (
            _INTEGER.fullmatch(segment) and _out_of_int_range(segment)
        ):
            raise _Refused(404, "not_found", "No such resource.", "dash_err_not_found")
    query = bytes(scope.get("query_string", b"")).decode("utf-8", "replace")
    if query:
        _check_pairs(parse_qsl(query, keep_blank_values=True), _BAD_IN_URL, "query parameter")


def _json_items(document: Any) -> Iterator[tuple[str, Any]]:
    """Every (where, value) of a JSON document, keys as strings, without recursion."""
    stack: list[tuple[str, Any]] = [("body", document)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, dict):
            for key, child in value.items():
                yield f"{where} key", key
                stack.append((f"{where}.{key}", child))
        elif isinstance(value, list):
            stack.extend((f"{where}[{i}]", child) for i, child in enumerate(value))
        else:
            yield where, value


def _check_json(body: bytes) -> None:
    try:
        document = json.loads(body)
    except RecursionError:
        raise _Refused(400, "bad_request", "The JSON body is nested too deeply.") from None
    except ValueError:
        return  # not JSON: the route answers as it would
    for where, value in _json_items(document):
        if isinstance(value, str) and _BAD_IN_BODY.search(value):
            raise _invalid_body(where, "contains control characters (such as NUL)")
        if isinstance(value, int) and not isinstance(value, bool):
            if not -INT_MAX - 1 <= value <= INT_MAX:
                raise _invalid_body(where, f"must be between {-INT_MAX - 1} and {INT_MAX}")


async def _check_multipart(headers: Headers, body: bytes) -> None:
    async def stream() -> AsyncGenerator[bytes, None]:
        yield body

    try:
        form = await MultiPartParser(headers, stream()).parse()
    except MultiPartException:
        return  # malformed: the route refuses it itself
    try:
        fields = [(name, value) for name, value in form.multi_items() if isinstance(value, str)]
        _check_pairs(fields, _BAD_IN_BODY, "field")
    finally:
        for _, value in form.multi_items():
            if isinstance(value, UploadFile):
                await value.close()


async def check_body(headers: Headers, body: bytes) -> None:
    """Refuse form fields and JSON strings with control characters, JSON integers
    outside int4, and JSON too deep to read."""
    if not body:
        return
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/x-www-form-urlencoded":
        pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        _check_pairs(pairs, _BAD_IN_BODY, "field")
    elif content_type == "multipart/form-data":
        await _check_multipart(headers, body)
    else:
        _check_json(body)


async def _buffer(receive: Receive, limit: int) -> tuple[list[Message], bool]:
    """The request's body messages, up to `limit` bytes; True when it is complete."""
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, False
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            return messages, True
        if size > limit:
            return messages, False


class EdgeGuard:
    """Refuse what no route may receive (see the module's docstring), in the shape of
    the part of the app it was sent to."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            check_url(scope)
            if scope.get("method") in ("GET", "HEAD", "OPTIONS"):
                await self.app(scope, receive, send)
                return
            try:
                messages, complete = await _buffer(receive, MAX_INSPECTED_BYTES)
            except StarletteHTTPException as exc:  # the body limit, outside this middleware
                raise _Refused(exc.status_code, "body_too_large", str(exc.detail)) from None
            if complete:
                body = b"".join(m.get("body", b"") for m in messages)
                await check_body(Headers(scope=scope), body)
        except _Refused as refused:
            logger.info(
                "web.edge_refused status=%s error=%s path_part=%s",
                refused.status,
                refused.error,
                part_of(str(scope.get("path", ""))),
            )
            response = refusal(
                scope,
                refused.status,
                refused.error,
                refused.message,
                refused.key,
                **refused.extra,
            )
            await response(scope, receive, send)
            return
        pending = list(messages)

        async def replay() -> Message:
            if pending:
                return pending.pop(0)
            return await receive()

        await self.app(scope, replay, send)


# --- the database is down -----------------------------------------------------------------


def _frames(traceback: TracebackType | None) -> Iterator[str]:
    while traceback is not None:
        yield str(traceback.tb_frame.f_globals.get("__name__", ""))
        traceback = traceback.tb_next


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def is_outage(exc: BaseException) -> bool:
    """True when `exc` says the database cannot be reached now (not that a statement
    was wrong): refused, lost or timed-out connections, a server shutting down."""
    for current in _chain(exc):
        if isinstance(current, sa_exc.DisconnectionError | sa_exc.TimeoutError):
            return True
        if isinstance(current, sa_exc.OperationalError):
            return True
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return True
        sqlstate = getattr(current, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate[:2] in _OUTAGE_SQLSTATES:
            return True
        if isinstance(current, OSError) and any(
            name.split(".")[0] in _DRIVER_MODULES for name in _frames(current.__traceback__)
        ):
            return True
    return False


async def _on_database_error(request: Request, exc: Exception) -> Response:
    if not is_outage(exc):
        raise exc  # a bug, not an outage: the 500 handler logs it with its traceback
    logger.warning(
        "web.database_unavailable path_part=%s error=%s",
        part_of(request.url.path),
        type(exc).__name__,
    )
    return refusal(
        request.scope,
        503,
        "database_unavailable",
        "The database does not answer; try again shortly.",
        "edge_unavailable",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


async def _on_out_of_bounds(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OutOfBounds)
    key = "edge_bad_date" if isinstance(exc, DateOutOfBounds) else "edge_bad_input"
    return refusal(request.scope, 400, "out_of_range", exc.message, key)


_DATABASE_ERRORS: tuple[type[Exception], ...] = (
    sa_exc.SQLAlchemyError,
    OSError,
    asyncpg.exceptions.PostgresError,
    asyncpg.exceptions.InterfaceError,
)


def install_edge(app: FastAPI) -> None:
    """Guard the app's edge and answer outages with 503. Call before adding the body
    limit, so that the limit applies first."""
    app.add_middleware(EdgeGuard)
    app.add_exception_handler(OutOfBounds, _on_out_of_bounds)
    for error in _DATABASE_ERRORS:
        app.add_exception_handler(error, _on_database_error)
