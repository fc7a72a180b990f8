"""The message catalogue (zh/en)."""

from __future__ import annotations

import string
from typing import Any

import pytest
import yaml

import i18n
from i18n import normalise_language, status_name, t
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
