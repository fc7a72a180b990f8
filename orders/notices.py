"""Rendering outbox messages (catalogue key + parameters) in the reader's language."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from orders.frontdesk import Button, Reply
from orders.i18n import has_key, status_name, t


def localise(name: str, value: Any, language: str) -> Any:
    """One parameter as the reader sees it: {"zh", "en"} pairs pick the language,
    statuses and reason codes ("reason_busy") come from the catalogue."""
    if isinstance(value, Mapping) and "zh" in value:
        return value.get(language) or value["zh"]
    if isinstance(value, str):
        if name == "status":
            return status_name(value, language)
        if value.startswith("reason_") and has_key(value):
            return t(value, language)
    return value


def render(
    key: str,
    params: Mapping[str, Any],
    buttons: Sequence[Sequence[Mapping[str, Any]]],
    language: str,
) -> Reply:
    """The reply an outbox row stands for."""
    values = {name: localise(name, value, language) for name, value in params.items()}
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
