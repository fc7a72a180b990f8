"""The one Jinja2 environment of the web process's pages (web/templates).

Autoescape is on for every template: whatever a resident or organisation typed
(descriptions, names, notes) is shown as text, never as HTML. Pages get, besides
their own context: `request`, `lang` (zh/en), `csrf_token` (put it in every POST
form as the hidden field `csrf_token`), `signed_in` (the CurrentSession or None),
and the globals `t(key, **values)` (the catalogue in the page's language),
`t_in(key, language, **values)`, `status_name(status)`, `ticket_status(ticket)`, `static(path)`,
`named(category or community)`, `HTMX_JS`, `CHART_JS`, and the
filter `local_time` (a UTC timestamp in the TIMEZONE setting).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, pass_context
from jinja2.runtime import Context

from i18n import has_key, status_name, t, ticket_status_name
from services.notify import absolute_time
from web.sessions import CSRF_FIELD, csrf_token, request_language

TEMPLATES_DIR = Path(__file__).with_name("templates")
STATIC_PREFIX = "/static/"
HTMX_JS = "/static/vendor/htmx-2.0.11.min.js"
CHART_JS = "/static/vendor/chart-4.6.1.umd.min.js"
DEFAULT_TIMEZONE = "Asia/Shanghai"


def static(path: str) -> str:
    """The URL of a file under web/static."""
    return STATIC_PREFIX + path.lstrip("/")


@pass_context
def _t(context: Context, key: str, **values: Any) -> str:
    return t(key, str(context.get("lang", "zh")), **values)


@pass_context
def _status(context: Context, status: str) -> str:
    return status_name(status, str(context.get("lang", "zh")))


@pass_context
def _ticket_status(context: Context, ticket: Any) -> str:
    """A ticket's status in words; an emergency or hand-off never reads "awaiting review"."""
    return ticket_status_name(
        str(ticket.status),
        str(context.get("lang", "zh")),
        kind=str(ticket.kind),
        acknowledged=ticket.acknowledged_at is not None,
    )


@pass_context
def _named(context: Context, thing: Any) -> str:
    """The zh or en name of a category or community (name_zh / name_en)."""
    if thing is None:
        return ""
    zh = str(thing.name_zh)
    return zh if context.get("lang", "zh") == "zh" else str(thing.name_en or zh)


@pass_context
def _local_time(context: Context, value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A UTC timestamp shown in the web process's time zone (TIMEZONE)."""
    if value is None:
        return ""
    request = context.get("request")
    zone = DEFAULT_TIMEZONE
    if isinstance(request, Request):
        state = getattr(request.app.state, "web", None)
        zone = getattr(getattr(state, "settings", None), "timezone", DEFAULT_TIMEZONE)
    return value.astimezone(ZoneInfo(zone)).strftime(fmt)


@pass_context
def _absolute_time(context: Context, value: datetime | None) -> str:
    """A date and time nobody reads on the wrong day, in the reader's language:
    "12月5日(周六) 14:00" / "Sat 5 Dec 14:00" (services.notify.absolute_time)."""
    if value is None:
        return ""
    request = context.get("request")
    zone = DEFAULT_TIMEZONE
    if isinstance(request, Request):
        state = getattr(request.app.state, "web", None)
        zone = getattr(getattr(state, "settings", None), "timezone", DEFAULT_TIMEZONE)
    return absolute_time(value, zone, str(context.get("lang", "zh")))


def _page_context(request: Request) -> dict[str, Any]:
    return {
        "lang": request_language(request),
        "csrf_token": csrf_token(request),
        "csrf_field": CSRF_FIELD,
        "signed_in": getattr(request.state, "web_session", None),
    }


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,  # every template, whatever its file name
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        t=_t,
        t_in=t,
        has_key=has_key,
        status_name=_status,
        ticket_status=_ticket_status,
        static=static,
        named=_named,
        HTMX_JS=HTMX_JS,
        CHART_JS=CHART_JS,
    )
    env.filters["local_time"] = _local_time
    env.filters["absolute_time"] = _absolute_time
    return env


templates = Jinja2Templates(env=_environment(), context_processors=[_page_context])
