"""Tickets as the JSON API shows them, to staff and to organisations (docs/api.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services import matching
from services.lifecycle import HOLDER_STATUSES
from services.models import Organisation, Staff, Ticket
from services.privacy import mask_text


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def ticket_json(
    session: AsyncSession, ticket: Ticket, *, contact: bool, masked: bool = False
) -> dict[str, Any]:
    """The ticket as the API shows it; the resident's contact only with `contact`; with
    `masked`, the resident's words with phone, flat numbers and names masked."""
    holder = (
        await session.get(Organisation, ticket.organisation_id) if ticket.organisation_id else None
    )
    body: dict[str, Any] = {
        "number": ticket.number,
        "status": ticket.status,
        "kind": ticket.kind,
        "category": ticket.category_code,
        "community_id": ticket.community_id,
        "organisation": {"id": holder.id, "name": holder.name} if holder else None,
        "description": mask_text(ticket.description) if masked else ticket.description,
        "preferred_time": (
            mask_text(ticket.preferred_time_text)
            if masked and ticket.preferred_time_text is not None
            else ticket.preferred_time_text
        ),
        "preferred_time_at": _iso(ticket.preferred_time_at),
        "created_at": _iso(ticket.created_at),
        "published_at": _iso(ticket.published_at),
        "claimed_at": _iso(ticket.claimed_at),
        "done_at": _iso(ticket.done_at),
        "closed_at": _iso(ticket.closed_at),
        "escalated": ticket.escalated_at is not None,
        "acknowledged_at": _iso(ticket.acknowledged_at),
        "rating": ticket.rating,
    }
    if contact:
        body |= {
            "phone": ticket.phone,
            "address": ticket.address,
            "latitude": ticket.latitude,
            "longitude": ticket.longitude,
        }
    return body


def holds(organisation: Organisation, ticket: Ticket) -> bool:
    """Whether the organisation holds the ticket (and so sees the resident's contact)."""
    return ticket.organisation_id == organisation.id and ticket.status in HOLDER_STATUSES


async def shown_json(
    session: AsyncSession, party: Organisation | Staff, ticket: Ticket
) -> dict[str, Any]:
    """The ticket as this party may see it, decided now from the current holder: staff
    everything; the holding organisation its words and (while working) the contact;
    any other organisation the masked words and no contact."""
    if isinstance(party, Staff):
        return await ticket_json(session, ticket, contact=True)
    return await ticket_json(
        session,
        ticket,
        contact=holds(party, ticket),
        masked=not matching.sees_full_text(party, ticket),
    )
