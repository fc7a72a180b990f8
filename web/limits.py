"""A cap on request bodies: the API takes small JSON documents only; a route that
takes more (the web chat's photo upload) registers its own cap with `larger_body`."""

from __future__ import annotations

from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web.errors import error_response

# Exact request paths with their own cap: bytes, or a function of the request scope
# (e.g. read from the app's settings).
_LARGER_BODIES: dict[str, int | Callable[[Scope], int]] = {}


def larger_body(path: str, limit: int | Callable[[Scope], int]) -> None:
    """Let requests to `path` carry bodies up to `limit` bytes instead of the default."""
    _LARGER_BODIES[path] = limit


class BodyLimit:
    """Refuse request bodies over `max_bytes` with 413 (JSON): at once when
    Content-Length says so, else as soon as the bytes read pass the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _limit(self, scope: Scope) -> int:
        limit = _LARGER_BODIES.get(scope.get("path", ""), self.max_bytes)
        return limit(scope) if callable(limit) else limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self._limit(scope)

        def too_large_text() -> str:
            return f"The request body is larger than {max_bytes} bytes."

        declared = Headers(scope=scope).get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > max_bytes):
            too_large = declared.isdigit()
            response = error_response(
                413 if too_large else 400,
                "body_too_large" if too_large else "bad_request",
                too_large_text() if too_large else "The Content-Length header is not a number.",
                headers={"Connection": "close"},
            )
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    # Raised inside the endpoint's body parsing; the app's handler
                    # for HTTPException turns it into the JSON error.
                    raise HTTPException(413, too_large_text())
            return message

        await self.app(scope, limited_receive, send)
