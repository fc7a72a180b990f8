"""Addresses written in a request ("幸福小区3栋501", "Flat 5, Block 3, Harbour Road")."""

from __future__ import annotations

import re

from services.parsing.limits import MAX_SCAN

# The words a Chinese place's name ends with (小区, 花园 … 巷): the address finder here
# and the reply-language rule (services.parsing.language) read them.
PLACE_WORDS = "小区|花园|新村|家园|公寓|大厦|社区|苑|里|村|路|街|弄|巷"

_CLAUSE = re.compile(r"[，,。.；;！!？?\n]+")
# A clause that reads as an address: a place word followed by building/unit/room numbers.
_ZH_ADDRESS = re.compile(
    rf"[\u4e00-\u9fffA-Za-z0-9]{{1,20}}?(?:{PLACE_WORDS})"
    r"[\u4e00-\u9fffA-Za-z0-9\-#]{0,30}?\d+\s*(?:栋|号楼|幢|座|单元|室|号|楼)[\dA-Za-z\-#室号楼单元层]*"
)
_ZH_ADDRESS_LEAD = re.compile(
    r"^(?:我|我们|我家|我妈|我爸|家)?(?:住在|住|家在|在|地址是|地址为|地址：|地址:|地址)"
)
_EN_ADDRESS = re.compile(
    r"\b(?:(?:flat|room|apt|apartment|unit)\s*\d+[a-z]?\b.*?\b(?:building|block|tower)\s*\d+"
    r"|(?:building|block|tower)\s*\d+\b.*?\b(?:road|street|estate|garden|gardens|lane|rd|st))"
    r"[^,.;!?\n]*",
    re.IGNORECASE,
)


def find_address(text: str, keywords: tuple[str, ...] = ()) -> str | None:
    """The address written in a request, if one clause reads as an address (a place
    word with building/unit/room numbers, or a known community's name with numbers)."""
    for clause in _CLAUSE.split(text[:MAX_SCAN]):
        clause = clause.strip()
        if not clause:
            continue
        found = _ZH_ADDRESS.search(clause)
        if found:
            return _ZH_ADDRESS_LEAD.sub("", found.group().strip()) or None
        english = _EN_ADDRESS.search(clause)
        if english:
            return english.group().strip()
        for keyword in keywords:
            if keyword and keyword.casefold() in clause.casefold() and re.search(r"\d", clause):
                return _ZH_ADDRESS_LEAD.sub("", clause) or None
    return None
