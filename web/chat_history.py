"""The recent conversation of a web chat resident, for a page that is loaded again.

The page itself keeps nothing: after a reload it asks `GET /chat/api/history` and draws
what this returns. The transcript is rebuilt from what already holds it, so nothing new
is stored and nothing outlives its own retention:

- the engine's tracker of the conversation `web:<id>` (`GET /conversations/{id}/tracker`):
  the resident's messages (a button's payload shown as the button's title) and the
  assistant's replies, with their buttons and reply keyboard;
- the notices (claimed, done: rate it …) already delivered to this resident on the web
  channel (outbox rows marked sent).

Only lines of the last CONVERSATION_TTL_DAYS are shown, the newest HISTORY_LIMIT of
them. The newest assistant message with buttons (or a reply keyboard) that nothing was
said after is the pending choice: its buttons are live, every other one is drawn
disabled. A rating prompt whose ticket is no longer done (rated, sent back: pressed
outside the engine, so not in its tracker) is answered; the choice before it is then the
pending one. The transcript is
personal data: it is never logged.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.engine_client import EngineClient, EngineUnavailable
from desk.frontdesk import Reply, Sender, replies_from_engine
from desk.notices import render as render_notice
from i18n import t
from services.models import OutboxMessage, Ticket
from services.payloads import Action, decode

logger = logging.getLogger(__name__)

# The newest lines shown (a resident's message or one assistant message each).
HISTORY_LIMIT = 60
# A page waits this long at most for the engine's tracker before it shows the welcome.
TRACKER_TIMEOUT_S = 5.0
# What a payload the resident sent without pressing a shown button stands for.
PAYLOAD_WORDS = {
    "greet": "web_history_start",
    "help": "web_history_help",
    "new_request": "web_new_request",
    "cancel_request": "web_history_cancel",
    "share_photo": "web_photo",
}
# Buttons that ask about a done ticket: answered once the ticket is no longer done.
_ABOUT_DONE = frozenset({Action.RATE, Action.NOT_FIXED})


@dataclass(frozen=True)
class Line:
    """One message of the transcript: the resident's (`reply.text` only) or the assistant's."""

    at: float  # seconds since the epoch
    by_resident: bool
    reply: Reply
    notice_id: str | None = None
    reply_kind: str | None = None
    live: bool = False


def payload_words(text: str, titles: dict[str, str], language: str) -> str:
    """What the resident is shown to have said for a payload: the title of the button
    that sends it, else the words of its intent (a pin as its coordinates)."""
    if text in titles:
        return titles[text]
    intent, brace, rest = text[1:].partition("{")
    if intent == "share_location" and brace:
        try:
            pin = json.loads(brace + rest)
            return f"📍 {float(pin['latitude']):.5f}, {float(pin['longitude']):.5f}"
        except (ValueError, TypeError, KeyError):
            pass
    return t(PAYLOAD_WORDS.get(intent, "web_history_choice"), language)


def tracker_lines(events: list[dict[str, Any]], language: str, since: float) -> list[Line]:
    """The resident's messages and the assistant's replies among the engine's events."""
    lines: list[Line] = []
    titles: dict[str, str] = {}  # payload -> title of the latest button that sends it
    for event in events:
        kind = event.get("event")
        at = event.get("timestamp")
        if kind not in ("user", "bot") or not isinstance(at, int | float):
            continue
        if kind == "bot":
            data = event.get("data")
            data = data if isinstance(data, dict) else {}
            message = {"text": event.get("text"), "buttons": data.get("buttons")}
            message["custom"] = data.get("custom")
            for reply in replies_from_engine([message]):
                for button in reply.buttons:
                    titles[button.payload] = button.title
                if at >= since:
                    lines.append(Line(float(at), False, reply))
            continue
        text = event.get("text")
        if not isinstance(text, str) or not text.strip() or at < since:
            continue
        # A typed slash never reaches the engine (FrontDesk strips it): this is a payload.
        words = payload_words(text, titles, language) if text.startswith("/") else text
        lines.append(Line(float(at), True, Reply(words)))
    return lines


async def notice_lines(
    session: AsyncSession, sender: Sender, since: datetime, limit: int
) -> list[Line]:
    """The newest notices already shown to this resident on the web chat."""
    rows = await session.scalars(
        select(OutboxMessage)
        .where(
            OutboxMessage.channel == sender.channel,
            OutboxMessage.chat_id == sender.external_id,
            OutboxMessage.state == "sent",
            OutboxMessage.sent_at >= since,
        )
        .order_by(OutboxMessage.sent_at.desc(), OutboxMessage.id.desc())
        .limit(limit)
    )
    return [
        Line(
            (row.sent_at or row.created_at).timestamp(),
            False,
            render_notice(row.message_key, row.params, row.buttons, row.language),
            notice_id=str(row.id),
            reply_kind=row.reply_kind,
        )
        for row in rows
    ]


def _asks(line: Line) -> bool:
    return not line.by_resident and bool(
        line.reply.buttons
        or any(line.reply.rows)
        or line.reply.keyboard
        or line.reply_kind == "rating_comment"
    )


def pending(lines: list[Line]) -> list[int]:
    """The assistant messages with a choice that nothing was said after, newest first
    (the indexes of `lines`)."""
    found: list[int] = []
    for index in range(len(lines) - 1, -1, -1):
        if lines[index].by_resident:
            break
        if _asks(lines[index]):
            found.append(index)
    return found


async def _still_open(session: AsyncSession, line: Line) -> bool:
    """False for a rating prompt (or a 'not fixed' button) of a ticket no longer done."""
    payloads = [b.payload for b in line.reply.buttons] + [
        b.payload for row in line.reply.rows for b in row
    ]
    presses = [decode(payload) for payload in payloads]
    numbers = {p.number for p in presses if p is not None and p.action in _ABOUT_DONE}
    if not numbers:
        return True
    statuses = await session.scalars(select(Ticket.status).where(Ticket.number.in_(numbers)))
    return all(status == "done" for status in statuses)


async def recent_conversation(
    engine: EngineClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    sender: Sender,
    *,
    language: str,
    ttl_days: int,
    now: datetime | None = None,
) -> list[Line]:
    """The newest lines of this resident's conversation, oldest first; the pending
    choice, if any, is `live`. Without the engine, only the notices."""
    since = (now or datetime.now(UTC)) - timedelta(days=ttl_days)
    try:
        events = await engine.tracker_events(sender.conversation_id, wait_s=TRACKER_TIMEOUT_S)
    except EngineUnavailable:
        logger.warning("history.engine_unavailable channel=%s", sender.channel)
        events = []
    lines = tracker_lines(events, language, since.timestamp())
    async with sessionmaker() as session:
        lines += await notice_lines(session, sender, since, HISTORY_LIMIT)
        # Sorted by time; a notice and a reply of the same moment keep their order.
        lines.sort(key=lambda line: line.at)
        lines = lines[-HISTORY_LIMIT:]
        for index in pending(lines):  # the newest choice that is still open is live
            if await _still_open(session, lines[index]):
                lines[index] = replace(lines[index], live=True)
                break
    return lines
