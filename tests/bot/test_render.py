"""Replies as Telegram messages: text pieces, inline keyboards and reply keyboards."""

from __future__ import annotations

import pytest
from telegram import InlineKeyboardMarkup, ReplyKeyboardMarkup

from bot.render import (
    CALLBACK_DATA_LIMIT,
    TELEGRAM_TEXT_LIMIT,
    Markup,
    inline_keyboard,
    messages,
    reply_keyboard,
    split_text,
)
from desk.frontdesk import Button, Reply


def _rows(markup: Markup | None) -> list[list[tuple[str, str]]]:
    assert isinstance(markup, InlineKeyboardMarkup)
    return [
        [(button.text, str(button.callback_data)) for button in row]
        for row in markup.inline_keyboard
    ]


# --- split_text ------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "短消息", "x" * TELEGRAM_TEXT_LIMIT])
def test_short_text_is_one_piece(text: str) -> None:
    assert split_text(text) == [text]


@pytest.mark.parametrize("length", [TELEGRAM_TEXT_LIMIT + 1, 10_000, 3 * TELEGRAM_TEXT_LIMIT])
def test_text_without_line_breaks_is_cut_at_the_limit(length: int) -> None:
    text = "".join(chr(0x4E00 + i % 500) for i in range(length))
    pieces = split_text(text)
    assert "".join(pieces) == text
    assert all(0 < len(piece) <= TELEGRAM_TEXT_LIMIT for piece in pieces)
    assert len(pieces) == -(-length // TELEGRAM_TEXT_LIMIT)


def test_long_text_prefers_line_breaks() -> None:
    lines = [f"RO-261122-{i:04d}｜维修｜待接单｜11-22 18:30" for i in range(400)]
    text = "\n".join(lines)
    pieces = split_text(text)
    assert len(pieces) > 1
    assert all(0 < len(piece) <= TELEGRAM_TEXT_LIMIT for piece in pieces)
    # Every piece is made of whole lines, and no line is lost.
    assert [line for piece in pieces for line in piece.split("\n")] == lines


def test_line_break_in_the_first_half_is_not_used() -> None:
    text = "a" * 100 + "\n" + "b" * 5_000
    pieces = split_text(text)
    assert pieces[0] == text[:TELEGRAM_TEXT_LIMIT]
    assert "".join(pieces) == text


def test_every_character_survives_a_mixed_text() -> None:
    text = ("第一段：水管漏水。\n" * 300) + ("emoji 🚰🔧 " * 500) + "\n" + ("x" * 5_000)
    pieces = split_text(text)
    assert all(0 < len(piece) <= TELEGRAM_TEXT_LIMIT for piece in pieces)
    # Only the line breaks at which the text was cut may go.
    assert "".join(pieces).replace("\n", "") == text.replace("\n", "")


def test_small_limit() -> None:
    assert split_text("abcdefghij", limit=4) == ["abcd", "efgh", "ij"]
    assert split_text("abc\ndefg\nhi", limit=5) == ["abc", "defg", "hi"]


@pytest.mark.parametrize(
    "text",
    [
        "a" * TELEGRAM_TEXT_LIMIT + "\n",
        "a" * 3_000 + "\n" * 2_000,
        "a" * TELEGRAM_TEXT_LIMIT + "\n\n\n",
    ],
)
def test_no_empty_piece_after_trailing_line_breaks(text: str) -> None:
    # Telegram refuses an empty message, and the buttons would ride on it.
    pieces = split_text(text)
    assert all(piece for piece in pieces)
    assert "".join(pieces).replace("\n", "") == text.replace("\n", "")


# --- messages ---------------------------------------------------------------------------


def test_one_piece_carries_the_buttons() -> None:
    [(text, markup)] = messages(Reply("请选择", [Button("跳过", "/skip_photo")]))
    assert text == "请选择"
    assert _rows(markup) == [[("跳过", "/skip_photo")]]


def test_markup_goes_on_the_last_piece_only() -> None:
    reply = Reply("x" * 10_000, [Button("跳过", "/skip_photo")])
    sent = messages(reply)
    assert len(sent) == 3
    assert [markup for _, markup in sent[:-1]] == [None, None]
    assert isinstance(sent[-1][1], InlineKeyboardMarkup)
    assert "".join(text for text, _ in sent) == reply.text


def test_reply_keyboard_goes_on_the_last_piece_only() -> None:
    keyboard: list[list[dict[str, object]]] = [[{"text": "📱", "request_contact": True}]]
    sent = messages(Reply("y" * 5_000, keyboard=keyboard))
    assert len(sent) == 2
    assert sent[0][1] is None
    assert isinstance(sent[1][1], ReplyKeyboardMarkup)


def test_no_buttons_no_markup() -> None:
    assert messages(Reply("你好")) == [("你好", None)]


# --- inline_keyboard --------------------------------------------------------------------


def test_callback_data_over_64_bytes_is_dropped() -> None:
    fits = "/" + "a" * (CALLBACK_DATA_LIMIT - 1)
    too_long = "/" + "a" * CALLBACK_DATA_LIMIT
    # "/" and 22 Han characters: 23 characters, but 67 bytes in UTF-8.
    multibyte = "/" + "汉" * 22
    assert len(multibyte) < CALLBACK_DATA_LIMIT < len(multibyte.encode())
    markup = inline_keyboard(
        [Button("ok", fits), Button("long", too_long), Button("汉", multibyte)]
    )
    assert _rows(markup) == [[("ok", fits)]]


def test_no_usable_buttons_no_keyboard() -> None:
    assert inline_keyboard([]) is None
    assert inline_keyboard([Button("long", "/" + "x" * 100)]) is None


def test_one_or_two_buttons_one_per_row() -> None:
    assert _rows(inline_keyboard([Button("A", "/a")])) == [[("A", "/a")]]
    assert _rows(inline_keyboard([Button("A", "/a"), Button("B", "/b")])) == [
        [("A", "/a")],
        [("B", "/b")],
    ]


def test_many_short_buttons_three_per_row() -> None:
    buttons = [Button(f"类别{i}", f"/c{i}") for i in range(12)]
    rows = _rows(inline_keyboard(buttons))
    assert [len(row) for row in rows] == [3, 3, 3, 3]
    assert [title for row in rows for title, _ in row] == [b.title for b in buttons]


def test_long_titles_two_per_row() -> None:
    buttons = [Button(f"Talk to a person {i}", f"/p{i}") for i in range(5)]
    assert [len(row) for row in _rows(inline_keyboard(buttons))] == [2, 2, 1]


def test_four_short_buttons_two_per_row() -> None:
    buttons = [Button(f"B{i}", f"/b{i}") for i in range(4)]
    assert [len(row) for row in _rows(inline_keyboard(buttons))] == [2, 2]


def test_summary_buttons_all_fit() -> None:
    payloads = [
        "/confirm_submit",
        '/change_field{"field":"description"}',
        '/change_field{"field":"address"}',
        '/change_field{"field":"preferred_time"}',
        '/change_field{"field":"phone"}',
        '/change_field{"field":"photo"}',
        "/cancel_request",
    ]
    titles = ["✅ 提交", "改需求", "改地址", "改时间", "改电话", "改照片", "✖ 取消"]
    rows = _rows(inline_keyboard([Button(t, p) for t, p in zip(titles, payloads, strict=True)]))
    assert [payload for row in rows for _, payload in row] == payloads


# --- reply_keyboard ---------------------------------------------------------------------


def test_reply_keyboard_contact_and_location() -> None:
    markup = reply_keyboard(
        [
            [{"text": "📱 分享我的手机号", "request_contact": True}],
            [{"text": "📍 发送我的位置", "request_location": True}, {"text": "plain"}],
        ]
    )
    contact, location, plain = (button for row in markup.keyboard for button in row)
    assert (contact.text, contact.request_contact, contact.request_location) == (
        "📱 分享我的手机号",
        True,
        None,
    )
    assert (location.text, location.request_contact, location.request_location) == (
        "📍 发送我的位置",
        None,
        True,
    )
    assert (plain.text, plain.request_contact, plain.request_location) == ("plain", None, None)
    assert [len(row) for row in markup.keyboard] == [1, 2]
    assert markup.resize_keyboard is True
    assert markup.one_time_keyboard is True


def test_reply_keyboard_in_the_wire_format() -> None:
    markup = reply_keyboard([[{"text": "📍", "request_location": True}]])
    assert markup.to_dict()["keyboard"] == [[{"text": "📍", "request_location": True}]]
