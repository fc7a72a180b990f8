"""The notification outbox: messages written in the same transaction as the change
they report, handed out to senders under a lease, marked sent, retried or given up.

A message is a catalogue key plus parameters; the sender renders it in the
recipient's language. A parameter given as {"zh": ..., "en": ...} is localised
by the renderer. Buttons are rows of {"key", "data", "params"}.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.models import OutboxMessage, Ticket, utcnow
from services.tickets import aware_utc

PENDING, SENT, BLOCKED, FAILED = "pending", "sent", "blocked", "failed"
# A sender that took a message and died leaves it to be retried after the lease.
LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 10


@dataclass(frozen=True)
class Button:
    """An inline button: its label's catalogue key and its callback data."""

    key: str
    data: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"key": self.key, "data": self.data, "params": dict(self.params)}


@dataclass(frozen=True)
class Recipient:
    """Where a message goes: a channel's chat, read in one language."""

    channel: str
    chat_id: str
    language: str


def enqueue(
    session: AsyncSession,
    recipient: Recipient,
    key: str,
    *,
    params: Mapping[str, Any] | None = None,
    buttons: Sequence[Sequence[Button]] = (),
    ticket: Ticket | None = None,
    reply_kind: str | None = None,
    now: datetime | None = None,
) -> OutboxMessage:
    """Add a message to the outbox (in the caller's transaction)."""
    now = aware_utc(now)
    message = OutboxMessage(
        channel=recipient.channel,
        chat_id=recipient.chat_id,
        language=recipient.language,
        message_key=key,
        params=dict(params or {}),
        buttons=[[button.as_json() for button in row] for row in buttons],
        ticket_id=ticket.id if ticket is not None else None,
        reply_kind=reply_kind,
        state=PENDING,
        attempts=0,
        # Due at once, even when the change is dated ahead of the clock (a sweep
        # run for a future moment, a replay).
        next_attempt_at=min(now, utcnow()),
        created_at=now,
    )
    session.add(message)
    return message


async def lease_due(
    session: AsyncSession,
    *,
    channels: Sequence[str],
    limit: int = 50,
    now: datetime | None = None,
    chat_id: str | None = None,
) -> list[OutboxMessage]:
    """Take up to `limit` due messages for these channels, oldest first, and lease
    them: until the lease ends no other sender takes them. Call in a short
    transaction of its own and send after it commits."""
    now = aware_utc(now)
    due = (
        select(OutboxMessage.id)
        .where(
            OutboxMessage.state == PENDING,
            OutboxMessage.channel.in_(channels),
            OutboxMessage.next_attempt_at <= now,
        )
        .order_by(OutboxMessage.id)
        .limit(limit)
    )
    if chat_id is not None:  # one chat's messages (the terminal chat shows its own)
        due = due.where(OutboxMessage.chat_id == chat_id)
    if session.get_bind().dialect.name == "postgresql":
        # Two senders never lease the same row: the second skips the first's rows.
        due = due.with_for_update(skip_locked=True)
    ids = list(await session.scalars(due))
    if not ids:
        return []
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(ids))
        .values(next_attempt_at=now + LEASE, attempts=OutboxMessage.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    rows = await session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.id.in_(ids))
        .order_by(OutboxMessage.id)
        .execution_options(populate_existing=True)
    )
    return list(rows)


async def mark_sent(
    session: AsyncSession, message_id: int, *, sent_message_id: str | None, now: datetime | None
) -> None:
    """Record that the message was delivered."""
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .values(
            state=SENT, sent_at=aware_utc(now), sent_message_id=sent_message_id, last_error=None
        )
        .execution_options(synchronize_session=False)
    )


async def mark_retry(
    session: AsyncSession,
    message: OutboxMessage,
    *,
    error: str,
    delay: timedelta,
    now: datetime | None,
) -> None:
    """Try again after `delay`, or give up (failed) after MAX_ATTEMPTS."""
    state = FAILED if message.attempts >= MAX_ATTEMPTS else PENDING
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message.id)
        .values(state=state, next_attempt_at=aware_utc(now) + delay, last_error=error[:1000])
        .execution_options(synchronize_session=False)
    )


async def mark_undeliverable(
    session: AsyncSession, message_id: int, *, blocked: bool, error: str
) -> None:
    """Never retry: the recipient blocked the bot, or the request itself is wrong."""
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .values(state=BLOCKED if blocked else FAILED, last_error=error[:1000])
        .execution_options(synchronize_session=False)
    )


def backoff(attempts: int) -> timedelta:
    """Exponential backoff for transient failures: 2 s, 4 s, 8 s … capped at 10 min."""
    return timedelta(seconds=min(2 ** max(attempts, 1), 600))


async def message_replied_to(
    session: AsyncSession, *, channel: str, chat_id: str, sent_message_id: str
) -> OutboxMessage | None:
    """The outbox message that became this sent message (to read a reply to it)."""
    return await session.scalar(
        select(OutboxMessage).where(
            OutboxMessage.channel == channel,
            OutboxMessage.chat_id == chat_id,
            OutboxMessage.sent_message_id == sent_message_id,
        )
    )
