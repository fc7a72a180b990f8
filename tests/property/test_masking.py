"""Property tests of services.privacy, the one masking function of every outward view:
phone numbers in every way residents write them, flat and room numbers in every address
form, names after cue words; masking twice is masking once; nothing crashes it."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.privacy import mask_name, mask_phone, mask_text

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

FULL_WIDTH = {str(d): chr(0xFF10 + d) for d in range(10)}
HAN_DIGITS = dict(zip("0123456789", "零一二三四五六七八九", strict=True))
DIGIT_LIKE = {
    **{str(d): str(d) for d in range(10)},
    **{v: k for k, v in FULL_WIDTH.items()},
    **{v: k for k, v in HAN_DIGITS.items()},
    "〇": "0",
    "幺": "1",
    "两": "2",
}
SEPARATORS = " \t-.,，、/()（）－—\u3000"

# Context words hold no digit, no Chinese numeral, no address or name cue word.
SAFE_HAN = "我家水管漏了请尽快修谢卫生间厨灯坏师傅上门看下午有空很急麻烦您"
ZH_CONTEXT = st.text(alphabet=st.sampled_from(SAFE_HAN), max_size=15)
EN_CONTEXT = st.lists(
    st.sampled_from(
        ["the", "pipe", "leaks", "please", "come", "soon", "thanks", "help", "kitchen"]
    ),
    max_size=5,
).map(" ".join)
CONTEXT = st.one_of(ZH_CONTEXT, EN_CONTEXT)
GAP = st.sampled_from([" ", "，", "。", ", ", "：", "；", "\n", "电话", "call "])

MOBILE = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)
LANDLINE = st.tuples(
    st.from_regex(r"0[2-9][0-9]{1,2}", fullmatch=True),
    st.from_regex(r"[2-8][0-9]{6,7}", fullmatch=True),
)


def normalised_digits(text: str) -> list[str]:
    """The runs of digits a reader can still see, in any script, across separators."""
    joined = "".join(DIGIT_LIKE.get(c, c) for c in text)
    joined = re.sub(rf"[{re.escape(SEPARATORS)}+＋]", "", joined)
    return re.findall(r"\d+", joined)


def _grouped(digits: str, sizes: tuple[int, ...], separator: str) -> str:
    parts, start = [], 0
    for size in sizes:
        parts.append(digits[start : start + size])
        start += size
    return separator.join(p for p in parts if p)


@st.composite
def written_mobile(draw: st.DrawFn) -> tuple[str, str]:
    """A mobile number as a resident may write it, and its 11 digits."""
    national = draw(MOBILE)
    grouping = draw(st.sampled_from([(11,), (3, 4, 4), (3, 8), (3, 3, 5), (7, 4)]))
    separator = draw(st.sampled_from([" ", "-", "，", ", ", ".", " - ", "\u3000", "、"]))
    written = _grouped(national, grouping, separator)
    script = draw(st.sampled_from(["ascii", "full-width", "han", "han-yao"]))
    if script == "full-width":
        written = "".join(FULL_WIDTH.get(c, c) for c in written)
    elif script.startswith("han"):
        written = "".join(HAN_DIGITS.get(c, c) for c in written)
        if script == "han-yao":
            written = written.replace("一", "幺").replace("零", "〇")
    prefix = draw(st.sampled_from(["", "+86 ", "+86", "+86-", "0086 ", "86 ", "＋86 "]))
    if script != "ascii" and prefix.startswith("+"):
        prefix = "+86 "
    return prefix + written, national


@st.composite
def written_landline(draw: st.DrawFn) -> tuple[str, str]:
    area, local = draw(LANDLINE)
    separator = draw(st.sampled_from(["-", " ", "－", ""]))
    split = draw(st.sampled_from([0, 4]))
    local_written = f"{local[:split]} {local[split:]}" if split else local
    written = f"{area}{separator}{local_written}"
    if draw(st.booleans()):
        written = f"({area}){local}"
    return written, area + local


# --- phones ------------------------------------------------------------------------------


@FAST
@given(CONTEXT, GAP, written_mobile(), GAP, CONTEXT, st.booleans())
def test_a_mobile_keeps_only_its_first_3_and_last_4_digits(
    before: str,
    gap: str,
    mobile: tuple[str, str],
    gap_after: str,
    after: str,
    keep_building: bool,
) -> None:
    written, national = mobile
    shown = mask_text(f"{before}{gap}{written}{gap_after}{after}", keep_building=keep_building)
    assert f"{national[:3]}****{national[-4:]}" in shown
    assert set(normalised_digits(shown)) <= {national[:3], national[-4:]}


@FAST
@given(CONTEXT, GAP, written_landline(), GAP, CONTEXT)
def test_a_landline_keeps_at_most_its_last_4_digits(
    before: str, gap: str, landline: tuple[str, str], gap_after: str, after: str
) -> None:
    written, digits = landline
    shown = mask_text(f"{before}{gap}{written}{gap_after}{after}")
    assert set(normalised_digits(shown)) <= {digits[-4:]}


@FAST
@given(st.text(max_size=40), written_mobile(), st.text(max_size=40))
def test_no_run_of_a_mobiles_middle_digits_survives_any_neighbours(
    before: str, mobile: tuple[str, str], after: str
) -> None:
    written, national = mobile
    shown = mask_text(f"{before}{written}{after}")
    # Whatever the neighbours are (digits too), the middle four never show together.
    for run in normalised_digits(shown):
        if run in normalised_digits(before) + normalised_digits(after):
            continue
        assert national[3:7] not in run or run in (national[-4:],)


@pytest.mark.parametrize(
    ("written", "masked"),
    [
        ("13812345678", "138****5678"),
        ("+86 138-1234-5678", "138****5678"),
        ("138 1234 5678", "138****5678"),
        ("138，1234，5678", "138****5678"),
        ("１３８１２３４５６７８", "138****5678"),
        ("一三八一二三四五六七八", "138****5678"),
        ("幺三八幺二三四五六七八", "138****5678"),
        ("0086 13812345678", "138****5678"),
        ("021-6234 5678", "****5678"),
        ("(021)62345678", "****5678"),
    ],
)
def test_phone_examples(written: str, masked: str) -> None:
    assert mask_text(f"电话{written}，谢谢") == f"电话{masked}，谢谢"


def test_dates_and_small_numbers_stay() -> None:
    text = "2026-11-22 10:30 来，3-5天，两三个人，一室一厅"
    assert mask_text(text) == text


# --- flats, rooms and buildings ----------------------------------------------------------

ESTATES = st.sampled_from(["幸福小区", "阳光花园", "和平新村", "春晖苑", "Sunny Garden"])
STREETS = st.sampled_from(["幸福路", "和平街", "长乐大道"])
BUILDING = st.integers(min_value=1, max_value=99)  # 1-2 digits: never inside a flat number
FLAT = st.integers(min_value=101, max_value=3999)
UNIT = st.integers(min_value=1, max_value=9)


@st.composite
def address(draw: st.DrawFn) -> tuple[str, str, str, str | None]:
    """An address, its flat number, the estate or street that must stay, and the building
    number with its word (None when the form has no building)."""
    estate, street = draw(ESTATES), draw(STREETS)
    b, u, f = draw(BUILDING), draw(UNIT), str(draw(FLAT))
    letter = draw(st.sampled_from(["", "A", "B"]))
    forms: list[tuple[str, str, str | None]] = [
        (f"{estate}{b}栋{u}单元{f}{letter}室", estate, f"{b}栋"),
        (f"{estate}{b}幢{u}单元{f}", estate, f"{b}幢"),
        (f"{estate}{b}号楼{f}室", estate, f"{b}号楼"),
        (f"{estate}{b}号楼{f}", estate, f"{b}号楼"),
        (f"{estate}{b}-{f}", estate, None),
        (f"{estate}{b}-{u}-{f}", estate, None),
        (f"{street}{b}弄{u}号{f}室", f"{street}{b}弄", f"{u}号"),
        (f"{street}{b}号{estate}门牌{f}", f"{street}{b}号{estate}", None),
        (f"{estate}门牌号：{f}", estate, None),
        (f"{estate}房号{f}", estate, None),
        (f"{estate}{b}座{f}户", estate, f"{b}座"),
        (f"{estate}{f}室", estate, None),
        (f"Flat {f}{letter}, Block {b}, {estate}", estate, f"Block {b}"),
        (f"room {f}, {estate}", estate, None),
        (f"{f} is my flat in {estate}", estate, None),
        (f"{estate} unit {f}", estate, None),
        (f"{estate} Apt. {f}", estate, None),
        (f"{estate} #{f}", estate, None),
    ]
    written, kept, building = draw(st.sampled_from(forms))
    return written, f, kept, building


@FAST
@given(CONTEXT, GAP, address(), GAP, CONTEXT)
def test_the_flat_number_never_survives_and_the_building_stays(
    before: str, gap: str, form: tuple[str, str, str, str | None], gap_after: str, after: str
) -> None:
    written, flat, kept, building = form
    shown = mask_text(f"{before}{gap}{written}{gap_after}{after}")
    assert flat not in shown
    assert kept in shown
    if building is not None:
        assert building in shown


@FAST
@given(CONTEXT, GAP, address(), GAP, CONTEXT)
def test_public_views_hide_the_building_number_too(
    before: str, gap: str, form: tuple[str, str, str, str | None], gap_after: str, after: str
) -> None:
    written, flat, kept, building = form
    shown = mask_text(f"{before}{gap}{written}{gap_after}{after}", keep_building=False)
    assert flat not in shown
    assert kept in shown
    if building is not None:
        number = re.sub(r"\D", "", building)
        assert building not in shown
        assert building.replace(number, "***") in shown


@pytest.mark.parametrize(
    ("written", "kept", "public"),
    [
        ("3栋2单元501室", "3栋2单元***室", "***栋***单元***室"),
        ("门牌1103", "门牌***", "门牌***"),
        ("501 is my flat", "*** is my flat", "*** is my flat"),
        ("flat 501", "flat ***", "flat ***"),
        ("room 12B", "room ***", "room ***"),
        ("unit 3", "unit ***", "unit ***"),
        ("Apt. 12", "Apt. ***", "Apt. ***"),
        ("3-501", "3-***", "***-***"),
        ("5楼", "***楼", "***楼"),
        ("12层", "***层", "***层"),
        ("幸福路88弄3号501室", "幸福路88弄3号***室", "幸福路88弄***号***室"),
        ("幸福小区42栋3单元701", "幸福小区42栋3单元***", "幸福小区***栋***单元***"),
        (
            "幸福路100号幸福小区3号楼501",
            "幸福路100号幸福小区3号楼***",
            "幸福路100号幸福小区***号楼***",
        ),
        ("五零一室", "***室", "***室"),
        ("Flat 5B, Block 3", "Flat ***, Block 3", "Flat ***, Block ***"),
    ],
)
def test_address_examples(written: str, kept: str, public: str) -> None:
    assert mask_text(written) == kept
    assert mask_text(written, keep_building=False) == public


# --- names -------------------------------------------------------------------------------

SURNAMES = st.sampled_from(["李", "王", "张", "刘", "陈", "杨", "赵", "周", "欧阳"])
GIVEN = st.text(alphabet=st.sampled_from("秀英芳伟强敏静丽军华明"), min_size=1, max_size=2)
CUES = st.sampled_from(
    ["我是独居老人", "我叫", "联系人：", "联系人", "姓名：", "我妈妈", "老人", "名叫", "业主"]
)


@FAST
@given(ZH_CONTEXT, CUES, SURNAMES, GIVEN, GAP, ZH_CONTEXT)
def test_a_name_after_a_cue_keeps_only_its_surname(
    before: str, cue: str, surname: str, given_name: str, gap: str, after: str
) -> None:
    shown = mask_text(f"{before}{cue}{surname}{given_name}{gap}{after}")
    assert f"{cue}{surname}**" in shown
    assert not set(given_name) & set(shown)


@FAST
@given(
    st.sampled_from(["my name is", "My name is", "name:", "Contact:", "call me"]),
    st.from_regex(r"[A-Z][a-z]{1,8}", fullmatch=True),
    st.from_regex(r"[A-Z][a-z]{2,8}", fullmatch=True),
)
def test_an_english_name_after_a_cue_is_masked(cue: str, first: str, last: str) -> None:
    shown = mask_text(f"{cue} {first} {last}, the pipe leaks")
    assert shown == f"{cue} {first} ***, the pipe leaks"


@pytest.mark.parametrize(
    ("written", "masked"),
    [
        ("我是独居老人李秀英", "我是独居老人李**"),
        ("我叫王芳，电话13812345678", "我叫王**，电话138****5678"),
        ("联系人：张伟", "联系人：张**"),
        ("my name is Li Xiuying", "my name is Li ***"),
        ("李先生说水管漏了", "李先生说水管漏了"),
        ("老人高血压，需要照顾", "老人高血压，需要照顾"),
    ],
)
def test_name_examples(written: str, masked: str) -> None:
    assert mask_text(written) == masked


# --- stored fields -----------------------------------------------------------------------


@FAST
@given(MOBILE, st.sampled_from(["+86{}", "{}", "+86 {}", "0086{}"]))
def test_mask_phone(national: str, form: str) -> None:
    assert mask_phone(form.format(national)) == f"{national[:3]}****{national[-4:]}"


def test_mask_phone_and_mask_name_examples() -> None:
    assert mask_phone("+8613812345678") == "138****5678"
    assert mask_phone("+442079460958") == "****0958"
    assert mask_phone(None) is None
    assert mask_phone("12") == "****"
    assert mask_name("李秀英") == "李**"
    assert mask_name("欧阳娜娜") == "欧阳**"
    assert mask_name("Li Xiuying") == "Li ***"
    assert mask_name("Anna") == "A***"
    assert mask_name(None) is None


@FAST
@given(SURNAMES, GIVEN)
def test_mask_name_keeps_only_the_surname(surname: str, given_name: str) -> None:
    shown = mask_name(surname + given_name)
    assert shown == f"{surname}**"
    assert mask_name(shown) == shown


# --- idempotence and robustness ----------------------------------------------------------

ANY_TEXT = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.characters(exclude_categories=()), max_size=100),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
    st.text(
        alphabet=st.sampled_from(
            "0123456789一二三四五六七八九幺两-— ，,.室栋号楼单元门牌flatroom#"
        ),
        max_size=80,
    ),
)


@FAST
@given(ANY_TEXT, st.booleans())
def test_masking_twice_is_masking_once(text: str, keep_building: bool) -> None:
    once = mask_text(text, keep_building=keep_building)
    assert isinstance(once, str)
    assert mask_text(once, keep_building=keep_building) == once


@FAST
@given(st.tuples(CONTEXT, written_mobile(), address(), CUES, SURNAMES, GIVEN), st.booleans())
def test_masking_a_whole_request_twice_is_masking_once(
    parts: tuple[str, tuple[str, str], tuple[str, str, str, str | None], str, str, str],
    keep_building: bool,
) -> None:
    context, (phone, _), (where, *_), cue, surname, given_name = parts
    text = f"{context}，{cue}{surname}{given_name}，住{where}，电话{phone}"
    once = mask_text(text, keep_building=keep_building)
    assert mask_text(once, keep_building=keep_building) == once


@FAST
@given(st.one_of(st.none(), st.text(max_size=60)))
def test_mask_phone_and_mask_name_never_crash(value: str | None) -> None:
    for masked in (mask_phone(value), mask_name(value)):
        assert (masked is None) == (value is None)


def test_huge_and_hostile_text_is_masked_quickly() -> None:
    for text in (
        "1" * 200_000,
        "1 " * 100_000,
        "室" * 100_000,
        "3-" * 100_000,
        "我叫" * 100_000,
        "room " * 50_000,
        "\x00\x01\ud800" * 30_000,
        ("我住3栋2单元501室，电话13812345678。" * 5_000),
    ):
        started = time.monotonic()
        masked = mask_text(text)
        assert time.monotonic() - started < 10
        assert mask_text(masked) == masked
    assert mask_text(None) == ""
    assert mask_text("") == ""
