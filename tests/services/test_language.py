"""The rule that picks the reply language from what a resident writes."""

from __future__ import annotations

import pytest

from services.parsing import clearly_in, resolve_language, script_language


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我家水管漏水了", "zh"),
        ("my pipe is leaking", "en"),
        ("我的 iPhone 坏了", "zh"),  # Han wins over Latin words
        ("㐀", "zh"),  # CJK extension A
        ("13812345678", None),
        ("+86 138-1234-5678", None),
        ("010-12345678", None),
        ("2031-03-04 15:00", None),
        ("a", None),  # one letter is not a word
        ("👍👍", None),
        ("?!", None),
        ("", None),
        (None, None),
        ("/repair", None),
        ('/share_contact{"phone": "13812345678"}', None),
        ("/confirm_submit", None),
    ],
)
def test_script_language(text: str | None, expected: str | None) -> None:
    assert script_language(text) == expected


def _resolve(
    choice: str | None = None,
    text: str | None = None,
    previous: str | None = None,
    client_code: str | None = None,
) -> str:
    return resolve_language(choice=choice, text=text, previous=previous, client_code=client_code)


def test_explicit_choice_beats_everything() -> None:
    assert _resolve("en", "我家水管漏水了", "zh", "zh-hans") == "en"
    assert _resolve("zh", "my pipe is leaking", "en", "en-GB") == "zh"


def test_han_script_beats_previous_and_client() -> None:
    assert _resolve(None, "我家水管漏水了", "en", "en-GB") == "zh"


def test_latin_words_beat_previous_and_client() -> None:
    assert _resolve(None, "my pipe is leaking", "zh", "zh-hans") == "en"


def test_previous_beats_client() -> None:
    assert _resolve(None, None, "en", "zh-hans") == "en"
    assert _resolve(None, None, "zh", "en-GB") == "zh"


@pytest.mark.parametrize(("client", "expected"), [("zh-hans", "zh"), ("en-GB", "en")])
def test_client_language_when_nothing_else(client: str, expected: str) -> None:
    assert _resolve(client_code=client) == expected


def test_chinese_by_default() -> None:
    assert _resolve() == "zh"
    assert _resolve(client_code="de-DE") == "zh"


def test_unknown_choice_is_ignored() -> None:
    assert _resolve("fr", None, "en", None) == "en"


@pytest.mark.parametrize(
    "text",
    [
        "/repair",
        "/confirm_submit",
        '/share_location{"latitude": 31.23, "longitude": 121.47}',
        "13812345678",
        "+86 138 1234 5678",
        "021-6123 4567",
        "12",
        "👍",
    ],
)
@pytest.mark.parametrize("previous", ["zh", "en"])
def test_payloads_digits_and_phones_keep_the_language(text: str, previous: str) -> None:
    other = "en-GB" if previous == "zh" else "zh-hans"
    assert _resolve(None, text, previous, other) == previous


@pytest.mark.parametrize(
    ("text", "previous", "expected"),
    [
        # An answer inside the form does not switch the reply language.
        ("幸福小区3栋2单元501", "en", "en"),
        ("漏水", "en", "en"),
        ("和平里", "en", "en"),
        ("阳光花园小区", "en", "en"),
        ("幸福里3栋", "en", "en"),
        ("厨房水管漏水", "en", "zh"),
        ("明天上午", "en", "en"),
        ("下周六下午三点", "en", "en"),
        ("随时都可以", "en", "en"),
        ("ok", "zh", "zh"),
        ("iPhone", "zh", "zh"),
        ("Flat 501", "zh", "zh"),
        ("RO-261122-0007 status", "zh", "zh"),
        # A clear switch does.
        ("我要修水管", "en", "zh"),
        ("请帮我看看", "en", "zh"),
        ("厨房水槽下面管道漏水地板全湿", "en", "zh"),
        ("my pipe is leaking", "zh", "en"),
        ("cancel please", "zh", "en"),
        # The first message sets the language, however short.
        ("漏水", None, "zh"),
        ("leak", None, "en"),
    ],
)
def test_the_reply_language_sticks_unless_the_resident_clearly_switches(
    text: str, previous: str | None, expected: str
) -> None:
    assert _resolve(None, text, previous, "de-DE") == expected


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("我家水管漏水了", "zh", True),
        ("幸福小区3栋", "zh", False),
        ("my 幸福小区 flat", "en", False),
        ("the light", "en", True),
        ("light", "en", False),
    ],
)
def test_clearly_in(text: str, language: str, expected: bool) -> None:
    assert clearly_in(text, language) is expected
