"""Preferred times as residents say them ('明天下午三点', 'tomorrow afternoon').

Libraries do the understanding (jionlp for Chinese time expressions, dateparser for
English ones); this module only chooses among their answers and keeps the resident's
own words.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from typing import Any, Literal
from zoneinfo import ZoneInfo

from services.parsing.limits import MAX_SCAN


def _not_from_jionlp(record: logging.LogRecord) -> bool:
    return "jionlp" not in record.pathname


@cache
def _jionlp() -> Any:  # jionlp has no type information
    """jionlp, imported once without its banner on stdout. It logs a traceback through the
    root logger for every string it cannot read, quoting the resident's words; those
    records are dropped (our callers already treat a failure as "no time found")."""
    with contextlib.redirect_stdout(io.StringIO()):
        import jionlp
    logging.getLogger().addFilter(_not_from_jionlp)
    return jionlp


_HAN = re.compile(r"[\u4e00-\u9fff]")
_WEEKDAY_WORDS = ("周", "星期", "礼拜")
MAX_TIME_TEXT = 200


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
    family = _phrase_family(text, local_now)
    if family is not None:
        return family or None
    if _HAN.search(text):
        window = _parse_chinese(text, local_now)
    else:
        window = _parse_english(text, local_now)
    return _small_hours(text, window, local_now)


# "明天" said between midnight and 05:00 means the coming morning: the resident has not
# slept yet, and "tomorrow" is the day that is just starting.
SMALL_HOURS_END = 5
_TOMORROW = re.compile(r"明天|明日|明儿|\btomorrow\b", re.IGNORECASE)


def _small_hours(text: str, window: TimeWindow | None, local_now: datetime) -> TimeWindow | None:
    if window is None or local_now.hour >= SMALL_HOURS_END or not _TOMORROW.search(text):
        return window
    if window.start.date() != local_now.date() + timedelta(days=1):
        return window
    day = timedelta(days=1)
    start, end = window.start - day, window.end - day
    if end < local_now:
        return window
    return TimeWindow(max(start, local_now.replace(second=0, microsecond=0)), end)


# --- phrase families read alike in both languages -----------------------------------------
# 这周/本周末/下周末/月底前/X号之前 and "this weekend", "next Saturday", "before the end
# of the month", "by the 15th": the same words give the same window in zh and en, with
# the day part (上午/下午/晚上, morning/afternoon/evening) narrowing each day alike.

_ZH_DAY_PARTS: dict[str, str] = {
    "早上": "early morning",
    "早晨": "early morning",
    "清早": "early morning",
    "上午": "morning",
    "中午": "noon",
    "下午": "afternoon",
    "傍晚": "dusk",
    "晚上": "evening",
    "今晚": "evening",
    "夜里": "night",
    "夜间": "night",
}
_ZH_PART = re.compile("|".join(_ZH_DAY_PARTS))
_ZH_WEEKEND = re.compile(r"(下个?|下一个?|这个?|本)?(?:周末|礼拜天和礼拜六)")
_ZH_MONTH_END = re.compile(r"(?:(下个?|下一个|这个?|本)月[底末]|月底|月末)(之前|以前|前)?")
_ZH_BEFORE_DAY = re.compile(r"(\d{1,2})\s*[号日](之前|以前|前)")
_EN_WEEKEND = re.compile(r"\b(?:(this|next|the|at the|on the|over the)\s+)?weekend\b", re.I)
_EN_MONTH_END = re.compile(
    r"\b(before|by|until|till)?\s*(?:the\s+)?end\s+of\s+(?:(next|the|this)\s+)?month\b", re.I
)
_EN_BEFORE_DAY = re.compile(
    r"\b(?:before|by|until|till)\s+(?:the\s+(\d{1,2})(?:st|nd|rd|th)?|(\d{1,2})(?:st|nd|rd|th))\b",
    re.I,
)
_ZH_WEEK = re.compile(
    r"^(?:在)?(这|本|下)个?(?:周|星期|礼拜)(?:内|之内|里|中)?(?:[上中下]午|晚上|早上)?(?:都?可以|都?行)?$"
)
_EN_WEEK = re.compile(r"\b(this|next)\s+week\b", re.I)
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_EN_NEXT_WEEKDAY = re.compile(r"\bnext\s+(" + "|".join(_WEEKDAYS) + r")\b", re.I)


def _part_of(text: str) -> str | None:
    """The part of the day the words name, as a key of DAY_PARTS."""
    zh = _ZH_PART.search(text)
    if zh:
        return _ZH_DAY_PARTS[zh.group()]
    en = _EN_DAY_PART.search(text)
    return en.group(1).lower() if en else None


def _span(
    first: date, last: date, part: str | None, local_now: datetime
) -> TimeWindow | Literal[False]:
    """From `first` to `last` (inclusive), within the day part when one is named;
    False when it is over already."""
    tz = local_now.tzinfo
    begin, finish = DAY_PARTS[part] if part else _WHOLE_DAY
    start = datetime.combine(first, begin, tz)
    end = datetime.combine(last, finish, tz)
    if end < local_now:
        return False
    return TimeWindow(max(start, local_now.replace(second=0, microsecond=0)), end)


def _month_last(day: date, months_ahead: int) -> date:
    year, month = day.year, day.month + months_ahead + 1
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return date(year, month, 1) - timedelta(days=1)


def _phrase_family(text: str, local_now: datetime) -> TimeWindow | Literal[False] | None:
    """The window of a weekend / week / month-end / before-a-date phrase, False when
    it is one but already over, None when it is none of these (other parsers read it)."""
    today = local_now.date()
    monday = today - timedelta(days=today.weekday())
    part = _part_of(text)
    zh = bool(_HAN.search(text))
    weekend = _ZH_WEEKEND.search(text) if zh else _EN_WEEKEND.search(text)
    if weekend:
        ahead = 7 if (weekend.group(1) or "").lower().startswith(("下", "next")) else 0
        saturday = monday + timedelta(days=5 + ahead)
        return _span(saturday, saturday + timedelta(days=1), part, local_now)
    month_end = _ZH_MONTH_END.search(text) if zh else _EN_MONTH_END.search(text)
    if month_end:
        if zh:
            months = 1 if (month_end.group(1) or "").startswith("下") else 0
            before = month_end.group(2) is not None
        else:
            months = 1 if (month_end.group(2) or "").lower() == "next" else 0
            before = month_end.group(1) is not None
        last = _month_last(today, months)
        first = today if before else last - timedelta(days=6)
        return _span(first, last, part, local_now)
    before_day = _ZH_BEFORE_DAY.search(text) if zh else _EN_BEFORE_DAY.search(text)
    if before_day:
        number = int(next(group for group in before_day.groups() if group and group.isdigit()))
        target = _day_of_month(today, number)
        return _span(today, target, part, local_now) if target else None
    if zh:
        week = _ZH_WEEK.search(text)
        if week is None:
            return None
        start = monday + timedelta(days=7 if week.group(1) == "下" else 0)
        return _span(start, start + timedelta(days=6), part, local_now)
    week = _EN_WEEK.search(text)
    if week and not re.search("|".join(_WEEKDAYS), text, re.I):
        start = monday + timedelta(days=7 if week.group(1).lower() == "next" else 0)
        return _span(start, start + timedelta(days=6), part, local_now)
    weekday = _EN_NEXT_WEEKDAY.search(text)
    if weekday:
        # "next Saturday" is Saturday of next week, as "下周六" is.
        day = monday + timedelta(days=7 + _WEEKDAYS.index(weekday.group(1).lower()))
        _rest, clock = _en_clock(text, part)
        if clock is not None:
            return _en_window(day, clock, part, local_now) or False
        return _span(day, day, part, local_now)
    return None


def _day_of_month(today: date, number: int) -> date | None:
    """The coming day with this number: this month's, or next month's once it is past."""
    for months in (0, 1):
        last = _month_last(today, months)
        if number > last.day:
            continue
        day = last.replace(day=number)
        if day >= today:
            return day
    return None


def _parse_chinese(text: str, local_now: datetime) -> TimeWindow | None:
    jionlp = _jionlp()
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


# Parts of the day as the Chinese parser (jionlp) reads them; English words get the same
# windows, so "Sunday morning" and "周日上午" mean the same hours.
DAY_PARTS: dict[str, tuple[time, time]] = {
    "early morning": (time(6), time(9, 59, 59)),
    "morning": (time(7), time(11, 59, 59)),
    "noon": (time(12), time(13, 59, 59)),
    "midday": (time(12), time(13, 59, 59)),
    "lunchtime": (time(12), time(13, 59, 59)),
    "afternoon": (time(13), time(17, 59, 59)),
    "dusk": (time(17), time(18, 59, 59)),
    "evening": (time(18), time(23, 59, 59)),
    "tonight": (time(18), time(23, 59, 59)),
    "night": (time(20), time(23, 59, 59)),
}
_EN_DAY_PART = re.compile(
    r"\b(" + "|".join(sorted(DAY_PARTS, key=len, reverse=True)) + r")\b", re.IGNORECASE
)
_EN_CLOCK = re.compile(
    r"\b(?:at|around|about|after|before|by)?\s*(\d{1,2})(?:[:.](\d{2}))?\s*(am|pm|a\.m\.|p\.m\.)"
    r"|\b(?:at|around|about|after|before|by)\s+(\d{1,2})(?:[:.](\d{2}))?\b"
    r"|\b(\d{1,2}):(\d{2})\b",
    re.IGNORECASE,
)
_WHOLE_DAY = (time(0), time(23, 59, 59))


def _en_clock(text: str, part: str | None) -> tuple[str, time | None]:
    """The text without its clock time, and the time ("at 10", "3pm", "14:30"); an
    hour without am/pm is read in the afternoon when the day part says so, or when
    it is below 7 (nobody books a visit at 3 in the night)."""
    match = _EN_CLOCK.search(text)
    if match is None:
        return text, None
    hour_s, minute_s, meridiem = match.group(1), match.group(2), match.group(3)
    if hour_s is None:
        hour_s, minute_s = match.group(4) or match.group(6), match.group(5) or match.group(7)
    hour, minute = int(hour_s), int(minute_s or 0)
    if hour > 23 or minute > 59:
        return text, None
    pm = (meridiem or "").lower().startswith("p")
    if meridiem is None and hour < 12:
        pm = part in ("afternoon", "evening", "tonight", "night") or hour < 7
    if pm and hour < 12:
        hour += 12
    if meridiem and meridiem.lower().startswith("a") and hour == 12:
        hour = 0
    return (text[: match.start()] + " " + text[match.end() :]).strip(), time(hour, minute)


def _parse_english(text: str, local_now: datetime) -> TimeWindow | None:
    import dateparser

    part_match = _EN_DAY_PART.search(text)
    part = part_match.group(1).lower() if part_match else None
    rest, clock = _en_clock(text, part)
    day_text = _EN_DAY_PART.sub(" ", rest).strip(" ,")
    if not day_text or day_text.lower() in ("this", "in the", "the"):
        day_text = "tonight" if part == "tonight" else "today"
    settings = {
        "PREFER_DATES_FROM": "future",
        "RELATIVE_BASE": local_now.replace(tzinfo=None),
        "RETURN_AS_TIMEZONE_AWARE": False,
    }
    try:
        when = dateparser.parse(day_text, languages=["en"], settings=settings)
    except Exception:  # dateparser raises assorted errors on odd input
        return None
    if when is None:
        return None
    day = when.date()
    today = local_now.date()
    window = _en_window(day, clock, part, local_now)
    if day == today + timedelta(days=7) and "next" not in text.lower():
        # "Sunday morning" said on a Sunday at 10 is this morning, as "周日上午" is,
        # while the window is still open.
        window = _en_window(today, clock, part, local_now) or window
    return window


def _en_window(
    day: date, clock: time | None, part: str | None, local_now: datetime
) -> TimeWindow | None:
    tz = local_now.tzinfo
    if clock is not None:
        start = datetime.combine(day, clock, tz)
        end = start + timedelta(minutes=59, seconds=59)
    else:
        first, last = DAY_PARTS[part] if part else _WHOLE_DAY
        start, end = datetime.combine(day, first, tz), datetime.combine(day, last, tz)
    return None if end < local_now else TimeWindow(start, end)


# --- the preferred time written in a request itself -------------------------------------
# Words after which a number is a building, not a date ("7号楼" is not the 7th).
_BUILDING_AFTER = ("楼", "栋", "幢", "座", "单元", "室")
# A part of the day alone ("晚上") often says when the problem happens ("晚上上下楼一片
# 漆黑"), not when to come: it counts only when what follows is about coming or being in.
_BARE_PART_OF_DAY = re.compile(
    r"(?:早上|早晨|上午|中午|下午|傍晚|晚上|夜里|夜间|半夜|凌晨|白天)的?"
)
_ABOUT_COMING = ("来", "过来", "上门", "到", "在家", "有空", "有时间", "方便", "可以", "行")
_EN_TIME = re.compile(
    r"\b(?:(?:today|tonight|tomorrow|this|next|on)\s+)?"
    r"(?:today|tonight|tomorrow|monday|tuesday|wednesday|thursday|friday|saturday|sunday|weekend)"
    r"(?:\s+(?:morning|afternoon|evening|night))?"
    r"(?:\s+(?:at|around|after|before)\s+\d{1,2}(?::\d{2})?\s*(?:am|pm)?)?",
    re.IGNORECASE,
)


def find_time_text(text: str, *, now: datetime, timezone: str) -> str | None:
    """The preferred-time words written in a request ('明天下午三点', 'tomorrow
    morning'), if they read as a time the parser understands; building numbers
    ("7号楼") are not dates."""
    text = text[:MAX_SCAN]
    if _HAN.search(text):
        candidates = _chinese_times(text, now=now, timezone=timezone)
    else:
        candidates = [m.group().strip() for m in _EN_TIME.finditer(text)]
    for candidate in candidates:
        if parse_preferred_time(candidate, now=now, timezone=timezone) is not None:
            return candidate
    return None


def _chinese_times(text: str, *, now: datetime, timezone: str) -> list[str]:
    jionlp = _jionlp()
    base = now.astimezone(ZoneInfo(timezone)).replace(tzinfo=None).timestamp()
    try:
        found = jionlp.ner.extract_time(text, time_base=base, with_parsing=False)
    except Exception:  # jionlp raises plain errors on odd input
        return []
    times = []
    for entity in found:
        _, end = entity.get("offset", (0, 0))
        words = str(entity.get("text", ""))
        after = text[end : end + 4].lstrip(" ，,再就也都")
        if text[end : end + 2].startswith(_BUILDING_AFTER):
            continue
        if _BARE_PART_OF_DAY.fullmatch(words) and not after.startswith(_ABOUT_COMING):
            continue
        times.append(words)
    return [t for t in times if t]
