"""Which kind of emergency a message describes, and whom to call first; the community
hotline offered with a person (reference data: emergencies.yml, communities.yml,
street.yml)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

# Every number a resident may be told, in the order the others follow the first one.
EMERGENCY_NUMBERS = ("120", "119", "110")
GENERAL = "general"


@dataclass(frozen=True)
class EmergencyKind:
    """A kind of emergency (emergencies.yml): its code, its number and its words."""

    code: str
    number: str
    words: tuple[str, ...]


@dataclass(frozen=True)
class Hotline:
    """The number a resident can call to reach a person, and when it is answered."""

    number: str
    office_hours_zh: str
    office_hours_en: str
    public: str

    def office_hours(self, language: str) -> str:
        return self.office_hours_en if language == "en" else self.office_hours_zh


def _yaml(name: str) -> Any:
    text = resources.files(__package__ or "services.reference").joinpath(name)
    return yaml.safe_load(text.read_text(encoding="utf-8"))


@cache
def emergency_kinds() -> tuple[EmergencyKind, ...]:
    """The kinds of emergencies.yml, most life-threatening first."""
    rows = _yaml("emergencies.yml")
    if not isinstance(rows, list):
        raise ValueError("emergencies.yml: expected a list at top level")
    return tuple(
        EmergencyKind(
            code=str(row["code"]),
            number=str(row["number"]),
            words=tuple(str(word) for word in row.get("words") or [] if word),
        )
        for row in rows
    )


@cache
def _pattern(word: str) -> re.Pattern[str]:
    if word.isascii():
        # English words as whole words: "fire" is not in "firewood" / "gas" not in "gasp".
        return re.compile(rf"(?<![a-z]){re.escape(word.casefold())}(?![a-z])")
    return re.compile(re.escape(word))


def kinds_of(text: str) -> list[EmergencyKind]:
    """The kinds a message describes, most life-threatening first (empty when none)."""
    folded = (text or "")[:2000].casefold()
    return [
        kind for kind in emergency_kinds() if any(_pattern(w).search(folded) for w in kind.words)
    ]


def numbers_for(kinds: list[EmergencyKind]) -> list[str]:
    """The emergency numbers to give, the most life-threatening kind's first, then the
    other matched kinds' numbers, then the rest; each once."""
    ordered = [kind.number for kind in kinds] + list(EMERGENCY_NUMBERS)
    return list(dict.fromkeys(ordered))


@cache
def _communities() -> dict[str, dict[str, Any]]:
    rows = _yaml("communities.yml")
    return {str(row["name_zh"]): row for row in rows} if isinstance(rows, list) else {}


@cache
def street_hotline() -> Hotline:
    """The street office's hotline (street.yml), for residents of no known community."""
    row = _yaml("street.yml")
    return Hotline(
        number=str(row["hotline"]),
        office_hours_zh=str(row["office_hours_zh"]),
        office_hours_en=str(row["office_hours_en"]),
        public=str(row.get("public_hotline") or ""),
    )


def hotline_for(community_name_zh: str | None) -> Hotline:
    """The community's hotline and office hours, else the street's."""
    street = street_hotline()
    row = _communities().get(community_name_zh or "")
    if not row or not row.get("hotline"):
        return street
    return Hotline(
        number=str(row["hotline"]),
        office_hours_zh=str(row.get("office_hours_zh") or street.office_hours_zh),
        office_hours_en=str(row.get("office_hours_en") or street.office_hours_en),
        public=street.public,
    )
