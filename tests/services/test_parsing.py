"""Phone numbers and preferred times as residents type them.

hypothesis is not installed in .venv, so the odd inputs are listed by hand.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.parsing import (
    MAX_TIME_TEXT,
    find_address,
    find_beneficiary,
    find_phone,
    find_time_text,
    parse_phone,
    parse_preferred_time,
)

TZ = "Asia/Shanghai"
SHANGHAI = ZoneInfo(TZ)
# Sunday 2031-03-09, 10:00 in Shanghai (02:00 UTC).
SUNDAY_MORNING = datetime(2031, 3, 9, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("13812345678", "+8613812345678"),
        ("138 1234 5678", "+8613812345678"),
        ("138-1234-5678", "+8613812345678"),
        (" 138 1234 5678 ", "+8613812345678"),
        ("+86 138 1234 5678", "+8613812345678"),
        ("+8613812345678", "+8613812345678"),
        ("8613812345678", "+8613812345678"),  # Telegram contacts come without the plus
        ("86 138 1234 5678", "+8613812345678"),
        ("86-138-1234-5678", "+8613812345678"),
        ("（138）1234 5678", "+8613812345678"),
        ("010-12345678", "+861012345678"),
        ("(021) 6123 4567", "+862161234567"),
        ("0571-8888 6666", "+8657188886666"),
    ],
)
def test_valid_numbers_in_e164(text: str, expected: str) -> None:
    assert parse_phone(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "hello",
        "我的电话",
        "12345",
        "1381234567",  # one digit short
        "138123456789",  # one digit long
        "12345678901",  # no such mobile prefix
        "00000000000",
        "1" * 10_000,
        "138" + " " * 10_000 + "12345678",
        "📱📱📱",
        "\x00\x01\x02",
        "\ud800",
    ],
)
def test_invalid_numbers(text: str) -> None:
    assert parse_phone(text) is None


def test_emoji_around_a_number_does_not_raise() -> None:
    result = parse_phone("📱13812345678")
    assert result in (None, "+8613812345678")


def _at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def test_tomorrow_three_pm_in_chinese() -> None:
    window = parse_preferred_time("明天下午三点", now=SUNDAY_MORNING, timezone=TZ)
    assert window is not None
    assert window.start == _at(2031, 3, 10, 15)
    assert window.start.utcoffset() == timedelta(hours=8)
    assert window.start <= window.end < _at(2031, 3, 10, 16)


def test_tomorrow_is_the_local_tomorrow() -> None:
    # 22:30 UTC on Sunday is already 06:30 on Monday in Shanghai.
    early = datetime(2031, 3, 9, 22, 30, tzinfo=UTC)
    window = parse_preferred_time("明天下午三点", now=early, timezone=TZ)
    assert window is not None
    assert window.start == _at(2031, 3, 11, 15)


@pytest.mark.parametrize("text", ["明天下午三点", "tomorrow at 3pm"])
def test_tomorrow_said_in_the_small_hours_is_the_day_that_is_starting(text: str) -> None:
    # 01:30 on Monday in Shanghai: the resident has not slept, "tomorrow" is Monday.
    late = datetime(2031, 3, 9, 17, 30, tzinfo=UTC)
    window = parse_preferred_time(text, now=late, timezone=TZ)
    assert window is not None
    assert window.start == _at(2031, 3, 10, 15)


# Wednesday 2026-12-02, 10:00 in Shanghai.
WEDNESDAY = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zh", "en", "start", "end"),
    [
        ("这周六下午", "this Saturday afternoon", (12, 5, 13), (12, 5, 17)),
        ("本周末", "this weekend", (12, 5, 0), (12, 6, 23)),
        ("下周末上午", "next weekend morning", (12, 12, 7), (12, 13, 11)),
        ("下周六下午", "next Saturday afternoon", (12, 12, 13), (12, 12, 17)),
        ("月底前", "before the end of the month", (12, 2, 10), (12, 31, 23)),
        ("15号之前", "by the 15th", (12, 2, 10), (12, 15, 23)),
        ("这周", "this week", (12, 2, 10), (12, 6, 23)),
        ("下周", "next week", (12, 7, 0), (12, 13, 23)),
        ("周日上午", "Sunday morning", (12, 6, 7), (12, 6, 11)),
    ],
)
def test_phrase_families_read_alike_in_both_languages(
    zh: str, en: str, start: tuple[int, int, int], end: tuple[int, int, int]
) -> None:
    windows = [parse_preferred_time(text, now=WEDNESDAY, timezone=TZ) for text in (zh, en)]
    for text, window in zip((zh, en), windows, strict=True):
        assert window is not None, text
        assert window.start == _at(2026, *start), text
        assert (window.end.month, window.end.day, window.end.hour) == end, text
    assert windows[0] == windows[1]


def test_a_day_of_month_already_passed_is_next_months() -> None:
    # On 22 December "15号之前" is the 15th of January, never a day already past.
    window = parse_preferred_time("15号之前", now=WEDNESDAY + timedelta(days=20), timezone=TZ)
    assert window is not None
    assert window.end.month == 1 and window.end.day == 15


def test_saturday_morning_said_on_sunday_is_the_coming_saturday() -> None:
    window = parse_preferred_time("周六上午", now=SUNDAY_MORNING, timezone=TZ)
    assert window is not None
    assert window.start.date() == _at(2031, 3, 15).date()
    assert window.start.weekday() == 5
    assert window.start > SUNDAY_MORNING
    assert window.start.hour < 12 and window.end.hour < 12


def test_tomorrow_afternoon_in_english() -> None:
    window = parse_preferred_time("tomorrow afternoon", now=SUNDAY_MORNING, timezone=TZ)
    assert window is not None
    assert window.start.date() == _at(2031, 3, 10).date()
    assert 12 <= window.start.hour < 18
    assert window.start.utcoffset() == timedelta(hours=8)
    assert window.end > window.start


@pytest.mark.parametrize(
    "text",
    [
        "随时都可以",
        "any time",
        "anytime is fine",
        "",
        "   ",
        "asdkjfh qwe",
    ],
)
def test_no_specific_time(text: str) -> None:
    assert parse_preferred_time(text, now=SUNDAY_MORNING, timezone=TZ) is None


@pytest.mark.parametrize(
    "text",
    ["2020年1月1日", "去年三月", "昨天下午", "January 1 2020", "yesterday"],
)
def test_past_times(text: str) -> None:
    assert parse_preferred_time(text, now=SUNDAY_MORNING, timezone=TZ) is None


@pytest.mark.parametrize(
    "text",
    [
        "明" * (MAX_TIME_TEXT + 1),
        "tomorrow " * 10_000,
        "明天下午三点" * 1_000,
        "\x00\x01\xff" * 50,
        "\ud800\udfff",
        "🕒🕒🕒",
        "周" * 150,
        "9" * 150,
    ],
)
def test_odd_input_gives_none_without_raising(text: str) -> None:
    assert parse_preferred_time(text, now=SUNDAY_MORNING, timezone=TZ) is None


def test_now_in_another_zone_is_read_in_the_configured_zone() -> None:
    now = SUNDAY_MORNING.astimezone(ZoneInfo("America/New_York"))
    window = parse_preferred_time("明天下午三点", now=now, timezone=TZ)
    assert window is not None
    assert window.start == _at(2031, 3, 10, 15)


def test_control_characters_around_a_real_phrase() -> None:
    window = parse_preferred_time("\x00明天\x00", now=SUNDAY_MORNING, timezone=TZ)
    assert window is not None
    assert window.start.date() == _at(2031, 3, 10).date()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("水管漏了 电话13812345678 幸福小区3栋", "+8613812345678"),
        ("call me on 021-64381234 please", "+862164381234"),
        ("我家3栋2单元501", None),
        ("RO-261122-0007 怎么样了", None),
        ("", None),
    ],
)
def test_find_phone_in_free_text(text: str, expected: str | None) -> None:
    assert find_phone(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("厨房漏水，地址幸福小区3栋2单元501", "幸福小区3栋2单元501"),
        ("我住和平新村7号楼，下周一上午有空", "和平新村7号楼"),
        ("枫林苑3号楼1单元的灯坏了", "枫林苑3号楼1单元"),
        ("幸福路88弄3号1201室 水管爆了", "幸福路88弄3号1201室"),
        ("sink blocked, flat 501 building 3 Xingfu Road, today", "flat 501 building 3 Xingfu Road"),
        ("Building 7 Heping Garden lift is broken", "Building 7 Heping Garden lift is broken"),
        ("厨房水管漏水了", None),
        ("7号楼电梯坏了", None),
        ("老板欠我三个月工资", None),
        ("", None),
    ],
)
def test_find_address_in_a_request(text: str, expected: str | None) -> None:
    assert find_address(text, ("幸福小区", "Heping Garden")) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("水管漏了，明天下午三点来吧", "明天下午三点"),
        ("我住和平新村7号楼，下周一上午有空", "下周一上午"),
        ("7号楼电梯坏了", None),
        ("can someone come tomorrow morning to fix the sink", "tomorrow morning"),
        ("my sink is blocked", None),
        ("困了好几天了", None),
        ("楼道灯坏了 晚上上下楼一片漆黑", None),
        ("楼道灯坏了 晚上上下楼一片漆黑 明天下午能来修吗", "明天下午"),
        ("下午来吧", "下午"),
        ("水管漏了 晚上在家", "晚上"),
        ("每天晚上水管都响", None),
    ],
)
def test_find_time_in_a_request(text: str, expected: str | None) -> None:
    assert find_time_text(text, now=SUNDAY_MORNING, timezone=TZ) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("想找人上门看看我妈", "mother"),
        ("我爸腿脚不便", "father"),
        ("外婆一个人住", "grandmother"),
        ("孩子放学没人接", "child"),
        ("my teenage son is depressed", "child"),
        ("My mum needs a bath helper", "mother"),
        ("隔壁邻居家漏水到我家", "neighbour"),
        ("我家厨房水管漏水了", None),
        ("my reason for writing", None),
    ],
)
def test_find_who_the_service_is_for(text: str, expected: str | None) -> None:
    assert find_beneficiary(text) == expected


def test_what_jionlp_cannot_read_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    # jionlp logs a traceback quoting the text ("周上") through the root logger.
    caplog.set_level(logging.DEBUG)
    assert find_time_text("每周上门陪我妈聊聊天", now=SUNDAY_MORNING, timezone=TZ) is None
    assert not [r for r in caplog.records if "jionlp" in r.pathname]
    assert "周上" not in caplog.text


# Equivalent phrases read alike in both languages (issue 12): the same day and hours.
@pytest.mark.parametrize(
    ("chinese", "english"),
    [
        ("周日上午", "Sunday morning"),
        ("这周六下午", "this Saturday afternoon"),
        ("周六下午", "Saturday afternoon"),
        ("明天晚上", "tomorrow evening"),
        ("明天中午", "tomorrow noon"),
        ("下周三上午", "next Wednesday morning"),
        ("周五", "Friday"),
        ("明天", "tomorrow"),
        ("明天下午三点", "tomorrow at 3pm"),
        ("周六上午10点", "Saturday at 10"),
        ("15号下午", "March 15 afternoon"),
    ],
)
def test_the_same_phrase_means_the_same_window_in_both_languages(
    chinese: str, english: str
) -> None:
    zh = parse_preferred_time(chinese, now=SUNDAY_MORNING, timezone=TZ)
    en = parse_preferred_time(english, now=SUNDAY_MORNING, timezone=TZ)
    assert zh is not None and en is not None, (zh, en)
    assert (zh.start, zh.end.replace(second=0, microsecond=0)) == (
        en.start,
        en.end.replace(second=0, microsecond=0),
    )


@pytest.mark.parametrize(
    "text",
    [
        "021-62345678",
        "021-6234 5678",
        "(021) 6234-5678",
        "+86 21 6234 5678",
        "021.6234.5678",
        "021-62345678转801",
        "021 6234 5678 分机 801",
        "021-62345678 ext. 801",
        "02162345678 x801",
    ],
)
def test_landlines_as_people_write_them(text: str) -> None:
    assert parse_phone(text) == "+862162345678"
