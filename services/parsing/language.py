"""The rule that picks a resident's reply language from what they write.

The language of a message is read from its script (Han characters, Latin words); a
resident keeps the language they wrote in first unless a message clearly switches.
"""

from __future__ import annotations

import re

from i18n import DEFAULT_LANGUAGE, normalise_language
from services.numbers import without_numbers
from services.parsing.addresses import PLACE_WORDS

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# A word of three letters or more; ticket numbers (RO-261122-0007) and "OK" say nothing.
_LATIN_WORD = re.compile(r"[A-Za-z]{3,}")
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
# A place's name (小区, 花园 … and 广场, 门), an address (号, 楼, 室 …) ends so.
_PLACE_END = re.compile(rf"(?:{PLACE_WORDS}|广场|中心|园|号|楼|栋|幢|座|单元|室|门)$")


def script_language(text: str | None) -> str | None:
    """zh if the text has Han characters, en if it has Latin words, else None."""
    if not text or text.startswith("/"):
        return None
    if _HAN.search(text):
        return "zh"
    if _LATIN_WORD.search(without_numbers(text)):
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
    return len(_LATIN_WORD.findall(without_numbers(text))) >= 2


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
