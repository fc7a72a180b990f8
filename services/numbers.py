"""The ticket number, declared once: its format, the pattern that reads it, the typed forms.

A number is `RO-` + the day in Asia/Shanghai (`yymmdd`) + `-` + the day's sequence,
four digits and more (`RO-261122-0007`; the ten-thousandth ticket of a day is
`RO-261122-10000`). Every reader (URL paths, searches, log redaction, button payloads,
the language rule, a number a resident types) uses the pattern here.
"""

from __future__ import annotations

import re

PREFIX = "RO"
SEQUENCE_DIGITS = 4
# The pattern's source, for patterns that embed a number (payloads, event notes).
# Eight sequence digits bound the pattern; a day never sees 10^8 tickets.
NUMBER = rf"{PREFIX}-\d{{6}}-\d{{{SEQUENCE_DIGITS},8}}"

_EXACT = re.compile(NUMBER)
_IN_TEXT = re.compile(rf"(?<![\w-]){NUMBER}(?![\w-])", re.IGNORECASE)
# What a resident types: the dashes optional, the sequence's leading zeros left out
# ("ro2611227", "RO-261122-7").
_TYPED = re.compile(rf"(?<![A-Za-z]){PREFIX}-?(\d{{6}})-?(\d{{1,8}})(?!\d)", re.IGNORECASE)


def format_number(day: str, sequence: int) -> str:
    """The number of the `sequence`-th ticket of `day`: ("261122", 7) -> "RO-261122-0007"."""
    return f"{PREFIX}-{day}-{sequence:0{SEQUENCE_DIGITS}d}"


def is_number(text: str) -> bool:
    """Whether `text` is exactly one ticket number, as the system writes it."""
    return _EXACT.fullmatch(text) is not None


def numbers_in(text: str) -> list[str]:
    """Every ticket number written in `text` (any case), upper-cased, in order."""
    return [found.group(0).upper() for found in _IN_TEXT.finditer(text)]


def without_numbers(text: str) -> str:
    """`text` with its ticket numbers taken out (they say nothing about its language)."""
    return _IN_TEXT.sub("", text)


def typed_number(text: str | None) -> str | None:
    """The first ticket number a resident typed, in the system's form, or None."""
    found = _TYPED.search(text or "")
    if found is None:
        return None
    return format_number(found.group(1), int(found.group(2)))
