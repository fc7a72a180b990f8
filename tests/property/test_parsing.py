"""Property tests of the parsers of what residents type: never crash, return what
they document, and find what is plainly there."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from services.parsing import (
    TimeWindow,
    find_address,
    find_beneficiary,
    find_phone,
    find_time_text,
    parse_phone,
    parse_preferred_time,
)

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
BENEFICIARIES = {"mother", "father", "grandmother", "grandfather", "child", "spouse", "neighbour"}
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])

HAN = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)
WORDS = st.text(
    alphabet=st.sampled_from("我家的水管漏了请帮忙看一下谢谢老人需要照顾厨房卫生间"), max_size=12
)
ANY_TEXT = st.text(max_size=120)
MIXED = st.text(
    alphabet=st.one_of(HAN, st.characters(min_codepoint=32, max_codepoint=126)), max_size=80
)
NOW = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
)
MOBILE = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)
ZONES = st.sampled_from(["Asia/Shanghai", "UTC", "Europe/London", "America/New_York"])


@FAST
@given(ANY_TEXT)
def test_parse_phone_never_crashes_and_returns_e164(text: str) -> None:
    result = parse_phone(text)
    assert result is None or E164.match(result)
    if result is not None:
        assert parse_phone(result) == result  # E.164 in, the same out


@FAST
@given(MOBILE, st.sampled_from(["", " ", "-", "  "]), st.booleans())
def test_parse_phone_reads_chinese_mobiles_however_written(
    mobile: str, separator: str, with_country: bool
) -> None:
    written = separator.join([mobile[:3], mobile[3:7], mobile[7:]])
    if with_country:
        written = "86" + written if separator == "" else "+86 " + written
    result = parse_phone(written)
    # A number the numbering plan does not allocate (e.g. 154…) is refused; otherwise:
    if result is not None:
        assert result == "+86" + mobile


@FAST
@given(ANY_TEXT)
def test_find_phone_never_crashes_and_returns_e164(text: str) -> None:
    result = find_phone(text)
    assert result is None or E164.match(result)


@FAST
@given(WORDS, MOBILE, WORDS)
def test_find_phone_finds_a_valid_mobile_in_a_sentence(
    before: str, mobile: str, after: str
) -> None:
    assume(parse_phone(mobile) is not None)
    assert find_phone(f"{before}，电话 {mobile} ，{after}") == "+86" + mobile


@SLOW
@given(MIXED, NOW, ZONES)
def test_parse_preferred_time_is_none_or_an_aware_window(
    text: str, now: datetime, zone: str
) -> None:
    window = parse_preferred_time(text, now=now, timezone=zone)
    if window is None:
        return
    assert isinstance(window, TimeWindow)
    assert window.start.tzinfo is not None and window.end.tzinfo is not None
    assert window.start <= window.end
    assert window.end >= now - timedelta(hours=1)  # never a time already past


@SLOW
@given(
    st.sampled_from(["明天下午三点", "后天上午", "tomorrow afternoon", "next monday at 3pm"]), NOW
)
def test_parse_preferred_time_reads_common_phrases_in_the_future(text: str, now: datetime) -> None:
    window = parse_preferred_time(text, now=now, timezone="Asia/Shanghai")
    assert window is not None and window.end > now


@FAST
@given(ANY_TEXT, st.lists(st.text(max_size=6), max_size=3))
def test_find_address_is_none_or_part_of_the_text(text: str, keywords: list[str]) -> None:
    found = find_address(text, tuple(keywords))
    assert found is None or (found and found in text)


@FAST
@given(
    WORDS,
    st.sampled_from(["幸福小区", "阳光花园", "和平新村", "枫林苑"]),
    st.integers(1, 99),
    st.integers(101, 2999),
)
def test_find_address_finds_a_building_and_room(
    before: str, place: str, building: int, room: int
) -> None:
    address = f"{place}{building}栋{room}室"
    found = find_address(f"{before}，地址{address}，谢谢")
    assert (found is not None and address in found) or found == address


@SLOW
@given(MIXED, NOW)
def test_find_time_text_is_none_or_readable_words_of_the_text(text: str, now: datetime) -> None:
    found = find_time_text(text, now=now, timezone="Asia/Shanghai")
    if found is None:
        return
    assert found in text
    assert parse_preferred_time(found, now=now, timezone="Asia/Shanghai") is not None


@SLOW
@given(st.integers(1, 30), NOW)
def test_building_numbers_are_not_dates(building: int, now: datetime) -> None:
    text = f"{building}号楼电梯坏了"
    assert find_time_text(text, now=now, timezone="Asia/Shanghai") is None


@FAST
@given(ANY_TEXT)
def test_find_beneficiary_is_none_or_a_known_code(text: str) -> None:
    assert find_beneficiary(text) in BENEFICIARIES | {None}


@FAST
@given(WORDS, st.sampled_from([("我妈", "mother"), ("我爸", "father"), ("邻居", "neighbour")]))
def test_find_beneficiary_reads_who_it_is_for(before: str, who: tuple[str, str]) -> None:
    words, code = who
    assume(find_beneficiary(before) is None)
    assert find_beneficiary(f"{before}{words}家里需要帮忙") == code
