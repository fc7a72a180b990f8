"""Erasing residents' personal details from tickets that ended long ago.

DESIGN.md: PII (phone, exact address) is kept 180 days after close (setting
PII_RETENTION_DAYS), then erased. For a ticket in a terminal state (closed,
rejected, cancelled, merged) that ended more than that many days ago this clears
the phone, the exact address, the location pin, the photo (the file is deleted)
and the media URL, masks the phone numbers, flat numbers and names in the
resident's free text (description, time as typed, rating comment, a staff ticket's
conversation; `services.privacy.mask_text`), and erases the contact details copied
into its outbox messages (the card an organisation got after claiming). What staff
and settlement need stays: the category, the community, the description's words,
the dates, the rating.

Idempotent: a purged ticket has nothing left to purge and is not selected again.
Logs counts only, never what was erased.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.lifecycle import TERMINAL
from services.models import OutboxMessage, Ticket
from services.privacy import mask_text
from services.tickets import aware_utc

logger = logging.getLogger(__name__)

DEFAULT_RETENTION_DAYS = 180
BATCH = 500
# Outbox parameters that carry the resident's contact (see notify.card_params).
CONTACT_PARAMS = ("phone", "address", "location")
ERASED = "-"
# The resident's own words on a ticket: masked, not erased (staff and reports read them).
FREE_TEXT = (Ticket.description, Ticket.preferred_time_text, Ticket.rating_comment)


@dataclass(frozen=True)
class PurgeResult:
    """How many tickets were purged and how many photo files deleted."""

    tickets: int = 0
    photos: int = 0
    messages: int = 0


def _masked_transcript(lines: list[dict[str, str]] | None) -> list[dict[str, str]] | None:
    """A staff ticket's conversation with every line's text masked (`mask_text`)."""
    if not lines:
        return lines
    return [
        {**line, "text": mask_text(line.get("text", ""), keep_building=False)} for line in lines
    ]


def _photo_file(photos_dir: Path, name: str) -> Path | None:
    """The stored photo, only if the name stays inside the photos folder."""
    root = photos_dir.resolve()
    path = (root / name).resolve()
    return path if path.parent == root or root in path.parents else None


async def purge_pii(
    session: AsyncSession,
    *,
    now: datetime | None = None,
    retention_days: int = DEFAULT_RETENTION_DAYS,
    photos_dir: Path | None = None,
    batch: int = BATCH,
) -> PurgeResult:
    """Erase the personal details of tickets that ended more than `retention_days`
    days before `now` (in the caller's transaction; photo files are deleted as
    their rows are cleared)."""
    cutoff = aware_utc(now) - timedelta(days=retention_days)
    ended = func.coalesce(Ticket.closed_at, Ticket.updated_at)
    due = (
        select(Ticket.id, Ticket.photo_path, Ticket.transcript, *FREE_TEXT)
        .where(
            Ticket.status.in_([status.value for status in TERMINAL]),
            ended < cutoff,
            or_(
                Ticket.phone.is_not(None),
                Ticket.address.is_not(None),
                Ticket.latitude.is_not(None),
                Ticket.longitude.is_not(None),
                Ticket.photo_path.is_not(None),
                Ticket.media_url.is_not(None),
            ),
        )
        .order_by(Ticket.id)
        .limit(batch)
    )
    tickets = photos = messages = 0
    while True:
        rows = (await session.execute(due)).all()
        if not rows:
            break
        ids = [row.id for row in rows]
        await session.execute(
            update(Ticket)
            .where(Ticket.id.in_(ids))
            .values(
                phone=None,
                address=None,
                latitude=None,
                longitude=None,
                photo_path=None,
                media_url=None,
            )
            .execution_options(synchronize_session=False)
        )
        for row in rows:
            masked = {
                column.key: mask_text(text, keep_building=False)
                for column in FREE_TEXT
                if (text := getattr(row, column.key))
            }
            changed: dict[str, object] = {
                key: text for key, text in masked.items() if text != getattr(row, key)
            }
            transcript = _masked_transcript(row.transcript)
            if transcript != row.transcript:
                changed["transcript"] = transcript
            if changed:
                await session.execute(
                    update(Ticket)
                    .where(Ticket.id == row.id)
                    .values(**changed)
                    .execution_options(synchronize_session=False)
                )
        messages += await _scrub_outbox(session, ids)
        tickets += len(ids)
        for row in rows:
            if row.photo_path and photos_dir is not None:
                path = _photo_file(photos_dir, row.photo_path)
                if path is not None and path.is_file():
                    path.unlink(missing_ok=True)
                    photos += 1
    if tickets:
        logger.info(
            "retention.purged tickets=%d photos=%d messages=%d older_than_days=%d",
            tickets,
            photos,
            messages,
            retention_days,
        )
    return PurgeResult(tickets=tickets, photos=photos, messages=messages)


async def _scrub_outbox(session: AsyncSession, ticket_ids: list[int]) -> int:
    """Replace the contact parameters of these tickets' outbox messages."""
    rows = await session.scalars(
        select(OutboxMessage).where(OutboxMessage.ticket_id.in_(ticket_ids))
    )
    scrubbed = 0
    for message in rows:
        params = dict(message.params or {})
        if not any(params.get(key) not in (None, ERASED) for key in CONTACT_PARAMS):
            continue
        for key in CONTACT_PARAMS:
            if key in params:
                params[key] = ERASED
        message.params = params  # a new dict: the JSON column sees the change
        scrubbed += 1
    await session.flush()
    return scrubbed
