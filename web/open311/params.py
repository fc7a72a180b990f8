"""Reading an Open311 call's parameters: each is checked and turned into a value, and a
bad one is an `Open311Error` (400) whose sentence names it."""

from __future__ import annotations

import asyncio
import logging
import math
import re
from datetime import UTC, datetime, timedelta

from fastapi.exceptions import RequestValidationError

from services.parsing import parse_preferred_time
from services.tickets import aware_utc
from web.bounds import OutOfBounds, bounded_datetime
from web.open311.formats import FORMATS

logger = logging.getLogger(__name__)

MAX_TEXT = 2000
MAX_ADDRESS = 500
MAX_SHORT = 128
# The spec's default window of GET requests.
DEFAULT_SPAN = timedelta(days=90)
_HAN = re.compile(r"[\u4e00-\u9fff]")


class Open311Error(Exception):
    """An error answered in the Open311 format."""

    def __init__(self, status_code: int, description: str) -> None:
        super().__init__(description)
        self.status_code = status_code
        self.description = description


def validation_message(exc: RequestValidationError) -> str:
    """FastAPI's complaints about a call as one sentence (at most five of them)."""
    problems = []
    for error in exc.errors()[:5]:
        location = [str(part) for part in error.get("loc", ()) if part not in ("query", "body")]
        problems.append(f"{'.'.join(location) or 'request'}: {error.get('msg', 'invalid')}")
    return "; ".join(problems) or "The request is not valid."


def check_format(fmt: str) -> str:
    """The format suffix, if it is one we speak (else 404)."""
    if fmt not in FORMATS:
        raise Open311Error(404, f"Unknown format {fmt[:20]!r}: use .json or .xml.")
    return fmt


def datetime_param(value: str | None, name: str) -> datetime | None:
    """A W3C/ISO 8601 datetime; without a timezone it is read as UTC."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise Open311Error(
            400, f"{name} must be an ISO 8601 datetime such as 2026-11-22T08:00:00Z."
        ) from None
    try:
        return bounded_datetime(parsed, name)
    except OutOfBounds as exc:
        raise Open311Error(400, exc.message) from None


def list_param(value: str | None) -> list[str]:
    """The non-empty parts of a comma-separated list."""
    if value is None:
        return []
    return [part.strip() for part in value.split(",") if part.strip()]


def text_param(value: str | None, name: str, max_length: int) -> str | None:
    """Text without NUL, stripped, at most `max_length` characters; empty is None."""
    if value is None:
        return None
    if "\x00" in value:
        raise Open311Error(400, f"{name} must not contain NUL characters.")
    value = value.strip()
    if len(value) > max_length:
        raise Open311Error(400, f"{name} is longer than {max_length} characters.")
    return value or None


def coordinate_param(value: str | None, name: str, limit: float) -> float | None:
    """A finite decimal number of degrees between -limit and limit."""
    text = text_param(value, name, 40)
    if text is None:
        return None
    try:
        number = float(text)
    except ValueError:
        raise Open311Error(400, f"{name} must be a decimal number (WGS84 degrees).") from None
    if not math.isfinite(number) or abs(number) > limit:
        raise Open311Error(400, f"{name} must be between -{limit:g} and {limit:g}.")
    return number


def window(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    """The spec's default: the last 90 days; one side given, 90 days from/to it."""
    try:
        if start is None and end is None:
            end = aware_utc(None)
        if start is None:
            assert end is not None
            start = end - DEFAULT_SPAN
        if end is None:
            end = start + DEFAULT_SPAN
    except OverflowError:
        raise Open311Error(400, "start_date/end_date are out of range.") from None
    if start > end:
        raise Open311Error(400, "start_date must not be after end_date.")
    return start, end


def language_param(explicit: str | None, description: str | None) -> str:
    """attribute[language]; by default the script of the description decides."""
    if explicit is not None:
        if explicit not in ("zh", "en"):
            raise Open311Error(400, "attribute[language] must be zh or en.")
        return explicit
    return "zh" if description is None or _HAN.search(description) else "en"


async def preferred_time_at(text: str | None, timezone: str) -> datetime | None:
    """attribute[preferred_time] read as the chat reads it; None when it cannot be read."""
    if text is None:
        return None
    try:
        parsed = await asyncio.to_thread(
            parse_preferred_time, text, now=aware_utc(None), timezone=timezone
        )
    except Exception as exc:  # the parsers' libraries fail in many ways on odd input
        logger.info("open311.time_unparsed error=%r", exc)
        return None
    return parsed.start.astimezone(UTC) if parsed is not None else None
