"""A typed correction of one answer: "地址错了，应该是6栋2单元301", "电话写错了，是139…",
"时间改成后天上午", "the phone number is wrong, it's 139…".

A correction names the answer it corrects (address, phone, time, need, photo) next to
a word that corrects (错, 不对, 改, 换成, 应该是; wrong, change, should be); the new
value, when given, follows. A field word alone ("地址在3栋") or a correcting word alone
("把阳台改成封闭的") is not a correction.

Standard library only: the engine's pipeline component (nlu/correction_intent.py, in
.venv-rasa) and the action server (nlu/actions, in .venv) both import it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Longer messages are needs that happen to mention an address or a time.
MAX_CORRECTION = 120

# Field words, most specific first: "门牌号码" is an address, not a phone number.
_FIELDS: dict[str, str] = {
    "address": r"地址|住址|门牌号?|房号|楼号|address|flat number|room number",
    "phone": r"联系电话|电话号码?|手机号码?|号码|电话"
    r"|phone(?:\s+number)?|mobile(?:\s+number)?|number",
    "preferred_time": r"上门时间|预约时间|时间|日期|time|date",
    "description": r"需求|问题描述|描述|description|request",
    "photo": r"照片|图片|photo|picture",
}
_FIELD = "|".join(f"(?P<{name}>{words})" for name, words in _FIELDS.items())
# What may stand between a field word and the word that corrects it, within a clause.
_GAP = r"[^，,。.!！?？;；\n]{0,6}?"
_ZH_AFTER = (
    r"(?:写|填|打|记|弄|搞|说)?错|不对|有误|改(?!造|装|善|革|进)"
    r"|换成|换为|换一?个|换了|更正|更改|修改|应该是|应为"
)
_ZH_BEFORE = r"(?:修改|更改|更正|重新填写?|重填|改|换)(?:一下|一个|个)?(?:我的|那个|这个|一下)?"
_EN_AFTER = r"(?:is|was|'s)?\s*(?:wrong|incorrect|not right|should be)"
_EN_BEFORE = r"(?:wrong|incorrect|change|correct|update|edit)\s+(?:the\s+|my\s+|your\s+)?"

_PATTERNS = [
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        rf"(?:{_FIELD}){_GAP}(?:{_ZH_AFTER})",
        rf"(?:{_ZH_BEFORE})(?:{_FIELD})",
        rf"\b(?:{_FIELD})\s+{_EN_AFTER}",
        rf"\b{_EN_BEFORE}(?:{_FIELD})\b",
    )
]

# Words that introduce the new value: "应该是", "是", "改成" (the "成" left after 改),
# "it should be", "to".
_LEAD = re.compile(
    r"^(?:[\s，,。.:：;；\-—]|了|的)*"
    r"(?:(?:应该|应|要|实际|其实|正确的|新的)?(?:是|为|成|到)"
    r"|(?:it\s+)?(?:should\s+be|is|'s)|it's|to|as)?"
    r"(?:[\s，,:：]|了)*",
    re.I,
)
_TRAIL = re.compile(r"[\s。.!！~～]+$")


@dataclass(frozen=True)
class Correction:
    """The answer a resident corrects and, when typed, its new value."""

    field: str
    value: str | None


def _field_of(match: re.Match[str]) -> str:
    return next(name for name in _FIELDS if match.group(name) is not None)


def read_correction(text: str) -> Correction | None:
    """The correction the text makes, or None when it is not one."""
    text = text.strip()
    if not text or len(text) > MAX_CORRECTION or text.startswith("/"):
        return None
    found = [m for m in (pattern.search(text) for pattern in _PATTERNS) if m is not None]
    if not found:
        return None
    match = min(found, key=lambda m: m.start())
    value = _TRAIL.sub("", _LEAD.sub("", text[match.end() :], count=1))
    return Correction(_field_of(match), value or None)
