"""The message catalogue (zh/en) and the rule that picks the reply language."""

from __future__ import annotations

import string
from typing import Any

import pytest
import yaml

import i18n
from i18n import (
    clearly_in,
    normalise_language,
    resolve_language,
    script_language,
    status_name,
    t,
)
from services import TicketStatus


def _catalogue() -> dict[str, Any]:
    data: dict[str, Any] = {}
    for path in i18n.catalogue_files():
        with path.open(encoding="utf-8") as handle:
            part: dict[str, Any] = yaml.safe_load(handle) or {}
        assert not set(part) & set(data), (path, set(part) & set(data))
        data.update(part)
    return data


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def _entries() -> list[tuple[str, dict[str, Any]]]:
    """Every translatable entry, nested `status` names included, as (key, entry)."""
    entries: list[tuple[str, dict[str, Any]]] = []
    for key, entry in _catalogue().items():
        if key == "status":
            entries += [(f"status.{name}", value) for name, value in entry.items()]
        else:
            entries.append((key, entry))
    return entries


ENTRIES = _entries()


def test_catalogue_is_not_empty() -> None:
    assert len(ENTRIES) > 30
    assert any(key.startswith("status.") for key, _ in ENTRIES)


@pytest.mark.parametrize(("key", "entry"), ENTRIES, ids=[key for key, _ in ENTRIES])
def test_every_entry_has_zh_and_en(key: str, entry: dict[str, Any]) -> None:
    assert isinstance(entry, dict), key
    assert set(entry) == {"zh", "en"}, key
    for language in ("zh", "en"):
        assert isinstance(entry[language], str), (key, language)
        assert entry[language].strip(), (key, language)


@pytest.mark.parametrize(("key", "entry"), ENTRIES, ids=[key for key, _ in ENTRIES])
def test_zh_and_en_use_the_same_placeholders(key: str, entry: dict[str, Any]) -> None:
    assert _placeholders(entry["zh"]) == _placeholders(entry["en"]), key


def test_status_names_cover_every_ticket_status() -> None:
    assert set(_catalogue()["status"]) == {status.value for status in TicketStatus}


def test_t_fills_values() -> None:
    assert t("ticket_cancelled", "zh", number="RO-261122-0007") == "工单 RO-261122-0007 已取消。"
    assert t("ticket_cancelled", "en", number="RO-1") == "Ticket RO-1 has been cancelled."
    assert t("photo_too_large", "en", limit_mb=10) == (
        "That photo is too large (limit 10 MB). Please send a smaller one."
    )


def test_t_formats_coordinates() -> None:
    text = t("location_label", "en", latitude=31.2304, longitude=121.4737)
    assert text == "Location pin 31.23040, 121.47370"


def test_t_without_values_leaves_the_text_alone() -> None:
    assert t("status_header", "en") == "Your tickets:"
    assert t("status_header", "zh") == "您的工单："


def test_t_missing_value_raises() -> None:
    with pytest.raises(KeyError):
        t("ticket_cancelled", "en", other="x")


def test_t_unknown_language_falls_back_to_chinese() -> None:
    assert t("chat_bye", "fr") == "再见！"


def test_t_unknown_key_raises() -> None:
    with pytest.raises(KeyError):
        t("no_such_message", "zh")


def test_status_name() -> None:
    assert status_name("cancelled", "zh") == "已取消"
    assert status_name("cancelled", "en") == "cancelled"
    assert status_name("submitted", "fr") == "待审核"
    assert status_name("no_such_status", "en") == "no_such_status"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("zh", "zh"),
        ("en", "en"),
        ("zh-hans", "zh"),
        ("zh-Hant-TW", "zh"),
        ("zh_CN", "zh"),
        ("en-GB", "en"),
        ("EN-us", "en"),
        ("en_US", "en"),
        ("pt-BR", None),
        ("fr", None),
        ("", None),
        (None, None),
    ],
)
def test_normalise_language(code: str | None, expected: str | None) -> None:
    assert normalise_language(code) == expected


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
