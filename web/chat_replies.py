"""The web chat's replies as the page draws them: text, inline button rows, keyboards."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from desk.frontdesk import Button, Reply
from web.chat_history import Line


def _button(button: Button) -> dict[str, str]:
    return {"title": button.title, "payload": button.payload}


def _layout(buttons: Sequence[Button]) -> list[list[Button]]:
    """Inline buttons in rows as Telegram shows them: one, two or three a row."""
    if len(buttons) <= 2:
        return [[b] for b in buttons]
    per_row = 3 if len(buttons) > 4 and all(len(b.title) <= 6 for b in buttons) else 2
    return [list(buttons[i : i + per_row]) for i in range(0, len(buttons), per_row)]


def _keyboard(rows: list[list[dict[str, Any]]] | None) -> list[list[dict[str, str]]] | None:
    if not rows:
        return None
    shown: list[list[dict[str, str]]] = []
    for row in rows:
        if not isinstance(row, list):
            continue
        buttons = []
        for button in row:
            if not isinstance(button, dict):
                continue
            kind = (
                "location"
                if button.get("request_location")
                else "contact"
                if button.get("request_contact")
                else "text"
            )
            buttons.append({"text": str(button.get("text", "")), "kind": kind})
        if buttons:
            shown.append(buttons)
    return shown or None


def reply_json(
    reply: Reply, *, notice_id: str | None = None, reply_kind: str | None = None
) -> dict[str, Any]:
    """One reply as the page draws it: text, inline button rows, reply keyboard."""
    rows = reply.rows or _layout(reply.buttons)
    return {
        "text": reply.text,
        "rows": [[_button(b) for b in row] for row in rows if row],
        "keyboard": _keyboard(reply.keyboard),
        "notice": notice_id,
        "reply_kind": reply_kind,
    }


def line_json(line: Line) -> dict[str, Any]:
    """One message of the history: the resident's words, or a reply as the page draws it
    (its buttons live only on the pending choice, its keyboard only there)."""
    if line.by_resident:
        return {"from": "resident", "text": line.reply.text}
    shown = reply_json(line.reply, notice_id=line.notice_id, reply_kind=line.reply_kind)
    if not line.live:
        shown["keyboard"] = None
    return {"from": "assistant", **shown, "live": line.live}
