"""What the web pages (dashboard and organisation pages) share: rendering with
security headers, redirects, the database session of a request, small form parsers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from i18n import t
from web.bounds import bounded_date
from web.sessions import request_language
from web.state import request_state
from web.templating import templates

# Pages load scripts and styles from this origin only (htmx, Chart.js and our own
# files are served from /static): an injected <script> would not run even if some
# text escaped autoescape.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def secure(response: Response) -> Response:
    """Add the pages' security headers."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, *, status: int = 200
) -> HTMLResponse:
    """A template rendered as a page with the security headers."""
    response = templates.TemplateResponse(request, name, context or {}, status_code=status)
    secure(response)
    return response


def error_page(request: Request, status: int, key: str) -> HTMLResponse:
    """A page saying what went wrong (a catalogue sentence)."""
    return render(request, "dashboard/error.html", {"message_key": key}, status=status)


def safe_next(value: str | None, default: str = "/dashboard", *, within: str = "/") -> str:
    """A redirect target from a `next` field: a path on this site only (and under
    `within`, e.g. the organisation pages' own), else `default`."""
    if not value or not value.startswith(within) or value.startswith("//") or "\\" in value:
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value


def see_other(url: str) -> RedirectResponse:
    """Redirect a browser after a form POST (303: the next request is a GET)."""
    response = RedirectResponse(url, status_code=303)
    secure(response)
    return response


def language(request: Request) -> str:
    """The page language of this request."""
    return request_language(request)


def flash_text(request: Request) -> str | None:
    """The sentence named by ?done=KEY (a catalogue key starting with dash_), if any."""
    key = request.query_params.get("done") or ""
    if key.startswith("dash_done_"):
        try:
            return t(key, language(request))
        except KeyError:
            return None
    return None


@asynccontextmanager
async def transaction(request: Request) -> AsyncIterator[AsyncSession]:
    """One database transaction for this request (committed when the block ends)."""
    async with request_state(request).sessionmaker() as session, session.begin():
        yield session


def parse_date(value: str | None, parameter: str = "date") -> date | None:
    """A YYYY-MM-DD form field, or None when empty or malformed; a date outside the
    years web.bounds allows raises OutOfBounds (a 400 page, web/edge.py)."""
    if not value:
        return None
    try:
        parsed = date.fromisoformat(value.strip())
    except ValueError:
        return None
    return bounded_date(parsed, parameter)


def parse_int(value: str | None) -> int | None:
    """An integer form field, or None when empty or malformed."""
    if value is None or not value.strip().isdigit() or len(value.strip()) > 9:
        return None
    return int(value.strip())
