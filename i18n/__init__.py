"""The message catalogue (zh/en) and the rule that picks a resident's language."""

from __future__ import annotations

import re
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


_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# A word of three letters or more; ticket numbers (RO-261122-0007) and "OK" say nothing.
_LATIN_WORD = re.compile(r"[A-Za-z]{3,}")
_TICKET_NUMBER = re.compile(r"\bRO-\d{6}-\d{4,}\b", re.IGNORECASE)
# Chinese that switches a resident to Chinese: one of these words, or this many characters.
_ZH_FUNCTION_WORDS = frozenset("我你您的了吗呢吧啊呀要不没是请帮想怎么什谁哪谢")
_ZH_SENTENCE = 8
_ZH_PHRASE = 4
_DIGIT = re.compile(r"\d")
_ZH_TRIM = re.compile(r"[\s。.!！~～,，、?？]+")
_ZH_TIME = re.compile(
    r"大后天|今天|明天|后天|这周|下周|本周|周末|[周星期礼拜]+[一二三四五六日天]|上午|下午|晚上|中午"
    r"|早上|傍晚|凌晨|随时|都可以|[零〇一二两三四五六七八九十半点号月日时分]"
)
# The words a Chinese place's name ends with (小区, 花园 … 巷): the reply-language rule
# here and the address finder in services.parsing read them.
PLACE_WORDS = "小区|花园|新村|家园|公寓|大厦|社区|苑|里|村|路|街|弄|巷"
_PLACE_END = re.compile(rf"(?:{PLACE_WORDS}|广场|中心|园|号|楼|栋|幢|座|单元|室|门)$")


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


def script_language(text: str | None) -> str | None:
    """zh if the text has Han characters, en if it has Latin words, else None."""
    if not text or text.startswith("/"):
        return None
    if _HAN.search(text):
        return "zh"
    if _LATIN_WORD.search(_TICKET_NUMBER.sub("", text)):
        return "en"
    return None


def clearly_in(text: str, language: str) -> bool:
    """Whether the message is clearly written in `language`, enough to switch to it:
    Chinese that reads as a sentence (a word like 我/的/了/吗/请, eight characters and
    more, or a phrase of four and more without numbers that is not a place's name), or
    English of two words and more with no Han in it. An estate name, an address, a
    "ok", "漏水" or a brand name answered inside the form is not a switch."""
    if language == "zh":
        han = _HAN.findall(text)
        if len(han) >= _ZH_SENTENCE or any(c in _ZH_FUNCTION_WORDS for c in han):
            return True
        # A short phrase ("厨房水管漏水") switches; a place's name, an address or a time
        # ("明天上午") answered inside the form does not.
        words = _ZH_TRIM.sub("", text)
        content = _HAN.findall(_ZH_TIME.sub("", words))
        return (
            len(content) >= _ZH_PHRASE and not _DIGIT.search(text) and not _PLACE_END.search(words)
        )
    if _HAN.search(text):
        return False
    return len(_LATIN_WORD.findall(_TICKET_NUMBER.sub("", text))) >= 2


def resolve_language(
    *, choice: str | None, text: str | None, previous: str | None, client_code: str | None
) -> str:
    """The reply language: explicit choice, else the language the resident wrote in
    first and has used since, unless this message clearly switches (`clearly_in`),
    else the client's language setting, else Chinese. A resident with no language yet
    takes their first message's script."""
    before = normalise_language(previous)
    said = script_language(text)
    if said is not None and before is not None and said != before:
        said = said if clearly_in(str(text), said) else None
    return (
        normalise_language(choice)
        or said
        or before
        or normalise_language(client_code)
        or DEFAULT_LANGUAGE
    )
