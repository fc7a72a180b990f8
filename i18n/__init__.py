"""The message catalogue (zh/en): sentences, status names and the languages there are.

The bottom layer: it imports nothing of the project (the rule that picks a resident's
language from their words is services.parsing.language)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"
# The main catalogue, plus one file per front in messages/ (web dashboard, web chat …);
# a key may be defined once only.
_CATALOGUE = Path(__file__).with_name("messages.yml")
_CATALOGUE_DIR = Path(__file__).with_name("messages")


def catalogue_files() -> list[Path]:
    """Every file of the catalogue, main file first."""
    return [_CATALOGUE, *sorted(_CATALOGUE_DIR.glob("*.yml"))]


@lru_cache(maxsize=1)
def _catalogue() -> dict[str, Any]:
    data: dict[str, Any] = {}
    for path in catalogue_files():
        with path.open(encoding="utf-8") as handle:
            part: dict[str, Any] = yaml.safe_load(handle) or {}
        duplicated = set(part) & set(data)
        if duplicated:
            raise ValueError(f"{path.name} redefines catalogue keys {sorted(duplicated)}")
        data.update(part)
    return data


def t(key: str, language: str, **values: Any) -> str:
    """The catalogue sentence `key` in `language`, with `values` filled in."""
    entry = _catalogue()[key]
    text: str = entry.get(language) or entry[DEFAULT_LANGUAGE]
    return text.format(**values) if values else text


def has_key(key: str) -> bool:
    """True when the catalogue has this key."""
    return key in _catalogue()


def status_name(status: str, language: str) -> str:
    """A ticket status as the resident reads it."""
    names: dict[str, dict[str, str]] = _catalogue()["status"]
    entry = names.get(status)
    return entry.get(language, entry[DEFAULT_LANGUAGE]) if entry else status


ALERT_KINDS = ("emergency", "handoff")


def ticket_status_name(
    status: str, language: str, *, kind: str = "service", acknowledged: bool = False
) -> str:
    """A ticket's status as residents and staff read it. An emergency or hand-off
    waiting for staff is never "awaiting review" (待审核): it reads "staff alerted" /
    "passed to staff", then "staff are following up" once someone acknowledged it."""
    if kind in ALERT_KINDS and status == "submitted":
        return t("status_alert_acknowledged" if acknowledged else f"status_alert_{kind}", language)
    return status_name(status, language)


def normalise_language(code: str | None) -> str | None:
    """Map a client language tag such as 'zh-hans' or 'en-GB' to zh/en, else None."""
    if not code:
        return None
    base = code.lower().split("-")[0].split("_")[0]
    return base if base in LANGUAGES else None
