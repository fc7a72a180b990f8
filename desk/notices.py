"""Rendering outbox messages (catalogue key + parameters) in the reader's language."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from desk.frontdesk import Button, Reply
from i18n import has_key, status_name, t

CODED = ("reason_", "label_")


def localise(name: str, value: Any, language: str, params: Mapping[str, Any]) -> Any:
    """One parameter as the reader sees it: {"zh", "en"} pairs pick the language,
    statuses and codes ("reason_busy", "label_no_community") come from the catalogue
    (a code's sentence may use the other plain parameters, e.g. {hours})."""
    if isinstance(value, Mapping) and "zh" in value:
        return value.get(language) or value["zh"]
    if isinstance(value, str):
        if name == "status":
            return status_name(value, language)
        if value.startswith(CODED) and has_key(value):
            plain = {k: v for k, v in params.items() if isinstance(v, str | int | float)}
            return t(value, language, **plain)
    return value


# A note nobody wrote (or one the reader may not see) is left out, never "（备注：-）":
# a message with a {note} may have a variant `<key>_no_note` without it.
NO_NOTE = "_no_note"


def without_empty_note(key: str, params: Mapping[str, Any]) -> str:
    """`key`, or its variant without the note when the note is empty or hidden."""
    note = params.get("note")
    empty = note is None or (isinstance(note, str) and note.strip() in ("", "-"))
    if "note" in params and empty and has_key(key + NO_NOTE):
        return key + NO_NOTE
    return key


def render(
    key: str,
    params: Mapping[str, Any],
    buttons: Sequence[Sequence[Mapping[str, Any]]],
    language: str,
) -> Reply:
    """The reply an outbox row stands for."""
    key = without_empty_note(key, params)
    values = {name: localise(name, value, language, params) for name, value in params.items()}
    rows = [
        [
            Button(
                t(str(button["key"]), language, **dict(button.get("params") or {})),
                str(button["data"]),
            )
            for button in row
        ]
        for row in buttons
    ]
    return Reply(t(key, language, **values), rows=[row for row in rows if row])
