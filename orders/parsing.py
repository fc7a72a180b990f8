"""Parsers for what residents type: phone numbers and preferred times.

Libraries do the understanding (phonenumbers for numbers, jionlp for Chinese time
expressions, dateparser for English ones); this module only chooses among their
answers and keeps the resident's own words.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import phonenumbers

logger = logging.getLogger(__name__)

_HAN = re.compile(r"[\u4e00-\u9fff]")
_WEEKDAY_WORDS = ("周", "星期", "礼拜")
MAX_TIME_TEXT = 200
MAX_SCAN = 2000  # phone numbers are looked for in the first characters of a message only


def parse_phone(text: str, region: str = "CN") -> str | None:
    """The number in E.164 form if `text` is a valid phone number, else None."""
    candidate = text.strip()
    if not candidate or len(candidate) > 40:
        return None
    digits = re.sub(r"[\s\-()（）]", "", candidate)
    if digits.isdigit() and digits.startswith("86") and len(digits) == 13:
        digits = "+" + digits  # Telegram shares numbers without the plus sign
    try:
        number = phonenumbers.parse(digits, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def find_phone(text: str, region: str = "CN") -> str | None:
    """The first valid phone number mentioned in free text, in E.164 form."""
    for match in phonenumbers.PhoneNumberMatcher(text[:MAX_SCAN], region):
        return phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
    return None


@dataclass(frozen=True)
class TimeWindow:
    """A preferred time as understood: its start and end, both aware datetimes."""

    start: datetime
    end: datetime


def parse_preferred_time(text: str, *, now: datetime, timezone: str) -> TimeWindow | None:
    """The time window a resident means ('明天下午三点', 'tomorrow afternoon'), or None."""
    text = text.strip()
    if not text or len(text) > MAX_TIME_TEXT:
        return None
    tz = ZoneInfo(timezone)
    local_now = now.astimezone(tz)
    if _HAN.search(text):
        return _parse_chinese(text, local_now)
    return _parse_english(text, local_now)


def _parse_chinese(text: str, local_now: datetime) -> TimeWindow | None:
    import jionlp

    base = local_now.replace(tzinfo=None)
    try:
        result = jionlp.parse_time(text, time_base=base)
    except Exception:  # jionlp raises plain ValueError/TypeError on anything it can't read
        return None
    if not result or result.get("type") not in ("time_point", "time_span"):
        return None
    times = result.get("time") or []
    if len(times) != 2 or not all(isinstance(value, str) for value in times):
        return None
    try:
        start, end = (datetime.fromisoformat(value) for value in times)
    except ValueError:
        return None
    if end < base and any(word in text for word in _WEEKDAY_WORDS):
        # "周六上午" said on a Sunday means the coming Saturday, not yesterday.
        start, end = start + timedelta(days=7), end + timedelta(days=7)
    if end < base:
        return None
    tz = local_now.tzinfo
    return TimeWindow(start.replace(tzinfo=tz), end.replace(tzinfo=tz))


def _parse_english(text: str, local_now: datetime) -> TimeWindow | None:
    import dateparser

    settings = {
        "PREFER_DATES_FROM": "future",
        "RELATIVE_BASE": local_now.replace(tzinfo=None),
        "RETURN_AS_TIMEZONE_AWARE": False,
    }
    try:
        when = dateparser.parse(text, languages=["en"], settings=settings)
    except Exception:  # dateparser raises assorted errors on odd input
        return None
    if when is None:
        return None
    start = when.replace(tzinfo=local_now.tzinfo)
    if start < local_now - timedelta(hours=1):
        return None
    return TimeWindow(start, start + timedelta(hours=1))
