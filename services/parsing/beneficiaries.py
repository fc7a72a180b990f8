"""Who a request is for when it is not the writer ("我妈家厨房漏水" → mother)."""

from __future__ import annotations

import re

from services.parsing.limits import MAX_SCAN

# Who the service is for, in the resident's words → a code the summary translates.
_BENEFICIARIES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "mother",
        re.compile(r"我妈|我母亲|老母亲|老妈|我娘|\bmy (?:\w+ )?(?:mother|mum|mom|mam)\b", re.I),
    ),
    ("father", re.compile(r"我爸|我父亲|老父亲|老爸|\bmy (?:\w+ )?(?:father|dad)\b", re.I)),
    (
        "grandmother",
        re.compile(r"奶奶|姥姥|外婆|\bmy (?:\w+ )?(?:grandmother|grandma|granny|nan)\b", re.I),
    ),
    ("grandfather", re.compile(r"爷爷|姥爷|外公|\bmy (?:\w+ )?(?:grandfather|grandpa)\b", re.I)),
    (
        "child",
        re.compile(
            r"孩子|儿子|女儿|小孩|闺女|\bmy (?:\w+ )?(?:son|daughter|kid|child|children|kids)\b",
            re.I,
        ),
    ),
    (
        "spouse",
        re.compile(r"老伴|老公|老婆|爱人|丈夫|妻子|\bmy (?:\w+ )?(?:husband|wife|partner)\b", re.I),
    ),
    ("neighbour", re.compile(r"邻居|\bmy neighbou?r\b|\bneighbou?r\b", re.I)),
)


def find_beneficiary(text: str) -> str | None:
    """Who the service is for when it is not the writer: mother, father, grandmother,
    grandfather, child, spouse or neighbour (the first mentioned wins)."""
    best: tuple[int, str] | None = None
    for code, pattern in _BENEFICIARIES:
        found = pattern.search(text[:MAX_SCAN])
        if found and (best is None or found.start() < best[0]):
            best = (found.start(), code)
    return best[1] if best else None
