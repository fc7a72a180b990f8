"""The engine's REST replies as channel-neutral replies."""

from __future__ import annotations

from typing import Any

from desk.frontdesk import Button, Reply, replies_from_engine

LOCATION_KEYBOARD = [[{"text": "📍 发送我的位置", "request_location": True}]]


def test_text_with_buttons() -> None:
    replies = replies_from_engine(
        [
            {
                "recipient_id": "telegram:1",
                "text": "请选择",
                "buttons": [
                    {"title": "跳过", "payload": "/skip_photo"},
                    {"title": "✖ 取消", "payload": "/cancel_request"},
                ],
            }
        ]
    )
    assert replies == [
        Reply("请选择", [Button("跳过", "/skip_photo"), Button("✖ 取消", "/cancel_request")])
    ]
    assert replies[0].keyboard is None


def test_plain_texts_keep_their_order() -> None:
    replies = replies_from_engine([{"text": "one"}, {"text": "two"}, {"text": "three"}])
    assert [reply.text for reply in replies] == ["one", "two", "three"]
    assert all(reply.buttons == [] for reply in replies)


def test_custom_with_reply_keyboard() -> None:
    replies = replies_from_engine(
        [{"custom": {"text": "请告诉我地址", "reply_keyboard": LOCATION_KEYBOARD}}]
    )
    assert replies == [Reply("请告诉我地址", keyboard=LOCATION_KEYBOARD)]


def test_custom_keyboard_that_is_not_a_list_is_dropped() -> None:
    replies = replies_from_engine([{"custom": {"text": "hi", "reply_keyboard": "yes please"}}])
    assert replies == [Reply("hi")]


def test_custom_and_text_in_one_message() -> None:
    replies = replies_from_engine([{"custom": {"text": "first"}, "text": "second"}])
    assert [reply.text for reply in replies] == ["first", "second"]


def test_empty_list() -> None:
    assert replies_from_engine([]) == []


def test_junk_entries_are_skipped() -> None:
    junk: list[dict[str, Any]] = [
        {},
        {"recipient_id": "telegram:1"},
        {"text": ""},
        {"text": None},
        {"image": "https://example.com/cat.jpg"},
        {"custom": "not a dict"},
        {"custom": {"reply_keyboard": LOCATION_KEYBOARD}},
        {"custom": {"text": ""}},
        {"custom": None},
        {"buttons": [{"title": "orphan", "payload": "/x"}]},
    ]
    assert replies_from_engine(junk) == []


def test_junk_buttons_are_skipped() -> None:
    replies = replies_from_engine(
        [
            {
                "text": "pick",
                "buttons": ["/repair", None, 3, {"title": "OK", "payload": "/affirm"}, {}],
            }
        ]
    )
    assert replies == [Reply("pick", [Button("OK", "/affirm"), Button("", "")])]


def test_buttons_that_are_not_a_list() -> None:
    assert replies_from_engine([{"text": "hi", "buttons": None}]) == [Reply("hi")]
    assert replies_from_engine([{"text": "hi", "buttons": "abc"}]) == [Reply("hi")]


def test_values_become_strings() -> None:
    replies = replies_from_engine([{"text": 42, "buttons": [{"title": 1, "payload": 2}]}])
    assert replies == [Reply("42", [Button("1", "2")])]
