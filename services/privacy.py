"""The one masking function for every outward view (DESIGN.md, "Privacy rule").

`mask_text` serves every party that may not see a resident's contact data yet:
organisations before the claim, neighbours offered a duplicate, Open311, the public
pages and the logs. It masks, in this order, and repeats until nothing changes (so
masking twice is masking once):

- **phone numbers**: any run of 7 or more digits, whatever the separators between them
  (spaces, dashes, dots, brackets, commas, `，`, `、`) and however written (ASCII,
  full-width `１３８`, Chinese numerals `一三八`/`幺三八`, a `+86`/`0086` prefix). An 11-digit
  mainland mobile keeps its first 3 and last 4 digits (`138****5678`); any other number
  keeps at most its last 4 (`021-6234 5678` → `****5678`). Dates (`2026-11-22`) stay.
- **flat, room, door and floor numbers** with the word that names them (`501室` →
  `***室`, `门牌1103` → `门牌***`, `3-501` → `3-***`, `5楼`, `12层`, `room 12B`, `flat 501`,
  `501 is my flat`, `Apt. 12`, `unit 3`, `#501`, `5th floor`);
- with `keep_building=False` also **building numbers** (`3栋` → `***栋`, `3号楼`, `2单元`,
  `A座`, `88弄3号` → `88弄***号`, `block 3`); street numbers after 路/街/巷/道 and lane
  numbers (`88弄`) stay, and so do estate, street and building names (幸福小区);
- **names** a resident gives in free text, found by cue words: after `我叫`, `名叫`,
  `姓名`, `联系人`, `称呼` … a Chinese name whose first characters are a surname of
  jionlp's list (百家姓), after looser cues (`我是`, `老人`, `妈妈` …) only names whose
  surname is unambiguous (jionlp's list without characters such as 高, 金, 方 that begin
  ordinary words). `李秀英` → `李**`. English: `my name is Li Xiuying` → `my name is Li ***`,
  also after `name:`, `contact:`, `call me`. A general person-name tagger is not used:
  jieba is not a dependency and its `nr` tag marks ordinary words (独居, 幸福) as names
  often enough to eat descriptions, while jionlp has no person-name recogniser beyond
  its surname check, which this uses. Names without a cue are not recognised.

Masks are made of `*` only, which no pattern reads as a digit, letter or Han character.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Callable
from functools import cache

import phonenumbers

MASK = "***"
_MAX_PASSES = 8

# --- phone numbers -----------------------------------------------------------------------

_DIGIT_VALUES = {
    **{str(d): str(d) for d in range(10)},
    **{chr(0xFF10 + d): str(d) for d in range(10)},  # full-width ０-９
    **dict(zip("零〇一二三四五六七八九", "00123456789", strict=True)),
    **dict(zip("壹贰叁肆伍陆柒捌玖", "123456789", strict=True)),
    "幺": "1",
    "两": "2",
}
_DIGIT = "[" + "".join(_DIGIT_VALUES) + "]"
_SEPARATOR = r"[ \t\u00a0\u3000\-‐‑–—－.．·,，、/()（）]"
_DIGIT_RUN = re.compile(rf"(?:[+＋(（]{_SEPARATOR}*)?{_DIGIT}(?:{_SEPARATOR}{{0,3}}{_DIGIT})*")
# Not phone numbers: dates, and building-unit-flat numbers (12-3-1103, masked as flats).
_DATE = re.compile(r"(?:19|20)\d\d([-/.])\d{1,2}\1\d{1,2}(?:\s+\d{1,2})?")
_BUILDING_UNIT_FLAT = re.compile(r"\d{1,3}\s*-\s*\d{1,3}\s*-\s*\d{3,4}")
_MOBILE = re.compile(r"1[3-9]\d{9}")
_MIN_PHONE_DIGITS = 7


def _digits(text: str) -> str:
    return "".join(_DIGIT_VALUES[c] for c in text if c in _DIGIT_VALUES)


def _masked_number(digits: str, *, phone_field: bool = False) -> str:
    """`138****5678` for a mainland mobile (with or without 86/0086); `****5678` for a
    landline with its area code (0…, 10-12 digits) or a stored phone field's number;
    `****` for any other run of digits (its last 4 may be a flat number: 12-3-1103)."""
    national = digits
    if digits.startswith("0086"):
        national = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        national = digits[2:]
    if _MOBILE.fullmatch(national):
        return f"{national[:3]}****{national[-4:]}"
    landline = national.startswith("0") and 10 <= len(national) <= 12
    if len(digits) >= _MIN_PHONE_DIGITS and (landline or phone_field):
        return "****" + digits[-4:]
    return "****"


def _mask_run(match: re.Match[str]) -> str:
    run = match.group(0)
    digits = _digits(run)
    plain = "".join(_DIGIT_VALUES.get(c, c) for c in run).strip()
    if len(digits) < _MIN_PHONE_DIGITS or _DATE.fullmatch(plain):
        return run
    if _BUILDING_UNIT_FLAT.fullmatch(plain):
        return run
    return _masked_number(digits)


def _mask_phones(text: str) -> str:
    return _DIGIT_RUN.sub(_mask_run, text)


# --- flats, rooms, floors and buildings --------------------------------------------------

# A number as addresses write it: 501, 12B, A12, full-width digits, or 2+ Chinese numerals
# (one alone is too often a count: 一室一厅).
_NO_DIGIT_BEFORE = r"(?<![0-9０-９])"
_ARABIC = rf"{_NO_DIGIT_BEFORE}(?:(?<![A-Za-z])[A-Za-z])?[0-9０-９]+[A-Za-z]?"
_HAN_NUMBER = "[零〇一二三四五六七八九十百两幺]"
_NUM = rf"(?:{_ARABIC}|{_HAN_NUMBER}{{2,}})"
_NUM_OR_ONE = rf"(?:{_ARABIC}|{_HAN_NUMBER}+)"
_LETTER = r"(?<![A-Za-z0-9])[A-Za-z](?![A-Za-z0-9])"
_DASH = r"\s*[-－—–]\s*"
# Word edges for English words next to Han characters (which \b counts as letters).
_B0 = r"(?<![A-Za-z0-9])"
_B1 = r"(?![A-Za-z0-9])"
_UNIT_AFTER = r"\s*(?:单元|栋|幢|座|号|弄|楼|层|室|户|路|街|巷)"


def _zh(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _en(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


# Groups named n… are always masked, b… only when building numbers are hidden too; a
# match with a `street` group is a street number and stays.
UNIT_PATTERNS: tuple[re.Pattern[str], ...] = (
    # 501室, 五零一室, 12B户, 3号501室, 501号房
    _zh(rf"(?P<n>{_NUM})\s*(?:号\s*)?(?:室|户)|(?P<n2>{_NUM})\s*号房"),
    # 门牌1103, 门牌号：1103, 房号501, 房间 12-3
    _zh(
        r"(?:门牌|房号|房间|户号|门号|室号)(?:号码|号)?\s*(?:是|为)?\s*[:：]?\s*#?\s*"
        rf"(?P<n>{_ARABIC}(?:{_DASH}[0-9０-９]+)*|{_HAN_NUMBER}{{2,}})"
    ),
    # 3栋2单元701, 3号楼501: the flat number after the building or the unit
    _zh(
        r"(?:单元|栋|幢|座|号楼)\s*"
        rf"(?P<n>{_NO_DIGIT_BEFORE}[0-9０-９]{{3,4}}[A-Za-z]?)(?![0-9０-９]|{_UNIT_AFTER})"
    ),
    _zh(
        rf"(?:单元)\s*(?P<n>{_NO_DIGIT_BEFORE}[0-9０-９]{{1,4}}[A-Za-z]?)(?![0-9０-９]|{_UNIT_AFTER})"
    ),
    # 3-501, 3-2-501 (building-unit-flat)
    _zh(
        rf"{_NO_DIGIT_BEFORE}(?P<b>[0-9０-９]{{1,3}}){_DASH}"
        rf"(?:(?P<b2>[0-9０-９]{{1,3}}){_DASH})?(?P<n>[0-9０-９]{{3,4}}[A-Za-z]?)(?![0-9０-９])"
    ),
    # 5楼, 十二层, 12F (号楼 is a building, below)
    _zh(rf"(?P<n>{_NUM_OR_ONE})\s*(?:楼(?!盘)|层|[Ff](?![A-Za-z]))"),
    # 住501, 住在1103
    _zh(
        rf"住(?:在)?\s*(?P<n>{_NO_DIGIT_BEFORE}[0-9０-９]{{3,4}}[A-Za-z]?)(?![0-9０-９A-Za-z]|{_UNIT_AFTER})"
    ),
    # room 12B, flat 501, Apt. 12, unit 3, suite 4, room number is 501
    _en(
        rf"{_B0}(?:flat|room|rm|apt|apartment|unit|suite|door){_B1}\.?"
        r"(?:\s*(?:number|no\.?|num\.?))?(?:\s*(?:is|[:：]))?\s*#?\s*"
        r"(?P<n>[A-Za-z]?\d+[A-Za-z]?)(?!\d)"
    ),
    # 501 is my flat, 12B is our room
    _en(
        r"(?<!\d)(?P<n>[A-Za-z]?\d+[A-Za-z]?)(?![\dA-Za-z])"
        r"(?=\s+(?:is\s+)?(?:my|our|his|her|their|the)\s+"
        rf"(?:flat|room|apartment|apt|unit|door){_B1})"
    ),
    # 5th floor, floor 5, level 3, #501
    _en(
        rf"{_B0}(?P<n>\d+)(?:st|nd|rd|th)?\s+floor{_B1}"
        rf"|{_B0}(?:floor|fl|level){_B1}\.?\s*(?P<n2>\d+){_B1}"
    ),
    _zh(r"#\s*(?P<n>\d+[A-Za-z]?)"),
    # Buildings: 3栋, 3号楼, 2单元, A座, 三号楼, 3号院
    _zh(rf"(?P<b>{_NUM_OR_ONE}|{_LETTER})\s*(?:号楼|栋|幢|座|单元|号院)"),
    # 88弄3号 (a house in a lane) but not 幸福路100号 or 5月12号
    _zh(rf"(?P<street>[路街巷道月]\s*)?(?P<b>{_NUM_OR_ONE})\s*号(?!楼|院|房|室)"),
    # block 3, building A, tower 2
    _en(
        rf"{_B0}(?:building|bldg|block|blk|tower){_B1}\.?\s*(?:no\.?\s*)?#?\s*"
        rf"(?P<b>[A-Za-z]?\d+[A-Za-z]?|[A-Za-z]){_B1}"
    ),
)


def _unit_replacer(keep_building: bool) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        if match.groupdict().get("street") is not None:
            return match.group(0)
        spans = sorted(
            match.span(name)
            for name, value in match.groupdict().items()
            if value is not None and (name[0] == "n" or (name[0] == "b" and not keep_building))
        )
        if not spans:
            return match.group(0)
        start, text, pieces = match.start(), match.group(0), []
        cursor = 0
        for begin, end in spans:
            pieces += [text[cursor : begin - start], MASK]
            cursor = end - start
        pieces.append(text[cursor:])
        return "".join(pieces)

    return replace


_KEEP_BUILDING = _unit_replacer(True)
_HIDE_BUILDING = _unit_replacer(False)


def _mask_units(text: str, keep_building: bool) -> str:
    replace = _KEEP_BUILDING if keep_building else _HIDE_BUILDING
    for pattern in UNIT_PATTERNS:
        text = pattern.sub(replace, text)
    return text


def drop_units(text: str) -> str:
    """The text without phone numbers and without flat, room, floor and building numbers
    and the words that name them (each becomes a space): what an address keeps at
    street level."""
    text = _DIGIT_RUN.sub(lambda m: " " if len(_digits(m.group(0))) >= 7 else m.group(0), text)
    for pattern in UNIT_PATTERNS:
        text = pattern.sub(lambda m: m.group(0) if m.groupdict().get("street") else " ", text)
    return text


# --- names -------------------------------------------------------------------------------

# Characters that end a name: particles, verbs and nouns that follow one in a request.
_NOT_IN_NAME = (
    "的了是在住家电话手机号码和与跟及或说想要请让帮有没不也都就还很太今年岁我你他她它们这那"
    "里先生女士小姐师傅老阿姨叔伯爷奶妈爸哥姐弟妹一二三四五六七八九十个位呢吧啊呀吗，。"
)
_HAN = r"[\u4e00-\u9fff]"
_GIVEN = rf"(?:(?![{_NOT_IN_NAME}]){_HAN}){{1,2}}"
_STRONG_ZH_CUES = "我叫|名叫|叫做|姓名|名字是|名字叫|联系人|收件人|称呼|本人叫"
_LOOSE_ZH_CUES = "我是|他是|她是|老人|母亲|父亲|妈妈|爸爸|奶奶|爷爷|外婆|外公|老伴|业主|住户|居民"
# Frequent surnames that jionlp leaves out of its unambiguous list, put back for the
# looser cues; those that begin everyday words (高, 金, 方, 石, 江, 文 …) only count after
# a strong cue.
_FREQUENT_SURNAMES = "孙周钱谢苏马唐黄林胡叶程曾余戴夏田任陆毛汤贺赖袁施蔡"
_AMBIGUOUS_SURNAMES = "高金方石江文龙万白常武段雷宋乔华安"


@cache
def _surnames() -> tuple[str, str, str]:
    """Surnames after a strong cue and after a loose one (characters), and jionlp's
    two-character surnames as a regex alternation (jionlp prints a banner when imported)."""
    with contextlib.redirect_stdout(io.StringIO()):
        from jionlp.rule import rule_pattern
    unambiguous = "".join(sorted(set(rule_pattern.SINGLE_CHINESE_FAMILY_NAME + _FREQUENT_SURNAMES)))
    every = "".join(sorted(set(unambiguous + _AMBIGUOUS_SURNAMES)))
    return every, unambiguous, rule_pattern.TWO_CHAR_CHINESE_FAMILY_NAME


@cache
def _zh_name() -> re.Pattern[str]:
    every, unambiguous, double = _surnames()
    strong = rf"(?:{_STRONG_ZH_CUES})\s*(?:是|为)?\s*[:：]?\s*(?P<s>{double}|[{every}])"
    loose = rf"(?:{_LOOSE_ZH_CUES})\s*[:：]?\s*(?P<t>{double}|[{unambiguous}])"
    return re.compile(rf"(?:{strong}|{loose})(?P<g>{_GIVEN})")


_EN_NAME = re.compile(
    rf"{_B0}(?i:my\s+name\s+is|my\s+name's|name\s*[:：]|contact(?:\s+person)?\s*[:：]"
    r"|call\s+me|i\s+am\s+called)\s*"
    rf"(?P<first>[A-Z][a-z]+{_B1})(?P<rest>(?:[ \t]+[A-Z][a-z]+{_B1}){{0,2}})(?![ \t]*\*)"
)


def _mask_zh_name(match: re.Match[str]) -> str:
    return match.string[match.start() : match.start("g")] + "**"


def _mask_en_name(match: re.Match[str]) -> str:
    first = match.group("first")
    shown = f"{first} {MASK}" if match.group("rest") else f"{first[0]}{MASK}"
    return match.string[match.start() : match.start("first")] + shown


def _mask_names(text: str) -> str:
    text = _zh_name().sub(_mask_zh_name, text)
    return _EN_NAME.sub(_mask_en_name, text)


# --- the public surface ------------------------------------------------------------------


def _mask_once(text: str, keep_building: bool) -> str:
    return _mask_names(_mask_units(_mask_phones(text), keep_building))


def mask_text(text: str | None, *, keep_building: bool = True) -> str:
    """Free text with phone numbers, flat/room/floor numbers and names masked (and
    building numbers too unless `keep_building`)."""
    if not text:
        return ""
    for _ in range(_MAX_PASSES):
        masked = _mask_once(text, keep_building)
        if masked == text:
            break
        text = masked
    return text


def mask_phone(phone: str | None) -> str | None:
    """A stored phone number (E.164 or as typed) as `138****5678`; None stays None."""
    if phone is None:
        return None
    if not phone.strip():
        return ""
    try:
        parsed = phonenumbers.parse(phone, "CN")
        digits = str(parsed.national_number)
    except phonenumbers.NumberParseException:
        digits = _digits(phone)
    if not digits:
        return MASK
    return _masked_number(digits, phone_field=True)


def mask_name(name: str | None) -> str | None:
    """A person's name as `李**` (a two-character surname stays whole: `欧阳**`),
    `Li ***` or `A***`; None stays None."""
    if name is None:
        return None
    name = name.strip()
    if not name:
        return ""
    if re.match(_HAN, name):
        double = _surnames()[2]
        head = re.match(rf"(?:{double})", name)
        return (head.group(0) if head else name[0]) + "**"
    words = name.split()
    if len(words) > 1:
        return f"{words[0]} {MASK}"
    return f"{name[0]}{MASK}"
