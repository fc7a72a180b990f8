"""Tickets for staff rather than organisations: emergencies and requests for a person."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.communities import find_community
from services.emergency import alert_buttons
from services.lifecycle import TERMINAL, TicketStatus
from services.models import Resident, Ticket, TicketEvent
from services.notify import card_params, notify_staff
from services.tickets import (
    aware_utc,
    insert_ticket,
    next_ticket_number,
    resident_actor,
    ticket_by_key,
)


@dataclass(frozen=True)
class Contact:
    """What the project already knows for reaching and finding the resident."""

    phone: str | None = None
    address: str | None = None
    latitude: float | None = None
    longitude: float | None = None

    @property
    def has_location(self) -> bool:
        return bool(self.address) or (self.latitude is not None and self.longitude is not None)


@dataclass(frozen=True)
class TranscriptLine:
    """One message of the conversation before a staff ticket: the resident's or the
    assistant's (`speaker`), cut to `MAX_TRANSCRIPT_LINE_CHARS`."""

    speaker: Literal["resident", "assistant"]
    text: str

    def as_json(self) -> dict[str, str]:
        return {"from": self.speaker, "text": self.text[:MAX_TRANSCRIPT_LINE_CHARS]}


MAX_TRANSCRIPT_LINE_CHARS = 500


class AlertKind(StrEnum):
    """Why staff must look at a ticket that no organisation can claim."""

    EMERGENCY = "emergency"
    HANDOFF = "handoff"


async def record_alert(
    session: AsyncSession,
    *,
    resident: Resident,
    kind: AlertKind,
    description: str,
    language: str,
    idempotency_key: str | None,
    contact: Contact | None = None,
    transcript: Sequence[TranscriptLine] = (),
    now: datetime | None = None,
) -> Ticket:
    """File an urgent staff ticket carrying the contact known for the
    resident (phone, address or pin, placed in its community) and the conversation that
    led to it (`transcript`, staff only), once per idempotency key."""
    existing = await ticket_by_key(session, idempotency_key)
    if existing is not None:
        return existing
    now = aware_utc(now)
    contact = contact or Contact()
    community = await find_community(
        session, address=contact.address, latitude=contact.latitude, longitude=contact.longitude
    )
    ticket = Ticket(
        number=await next_ticket_number(session, now),
        resident_id=resident.id,
        kind=kind.value,
        # Both need a person soon (docs/dashboard.md): marked urgent in the queue.
        urgent=True,
        category_code=None,
        status=TicketStatus.SUBMITTED,
        description=description,
        phone=contact.phone,
        address=contact.address,
        latitude=contact.latitude,
        longitude=contact.longitude,
        community_id=community.id if community is not None else None,
        language=language,
        channel=resident.channel,
        idempotency_key=idempotency_key,
        transcript=[line.as_json() for line in transcript] or None,
        created_at=now,
        updated_at=now,
    )
    ticket, created = await insert_ticket(
        session, ticket, actor=resident_actor(resident), note=kind.value
    )
    if created:
        # Staff see everything (DESIGN's privacy rule) and must call back at once.
        params = await card_params(session, ticket, contact=True)
        params["resident"] = resident.display_name or resident.external_id
        await notify_staff(
            session,
            ticket,
            f"s_alert_{kind.value}",
            params=params,
            # Staff act on it themselves: acknowledge, called back, help arrived,
            # resolved, hand to an organisation (services.emergency).
            buttons=alert_buttons(ticket),
            now=now,
        )
    return ticket


# Event action (ticket_events.action) of a contact the resident added when asked.
CONTACT_ADDED = "contact_added"


async def add_alert_contact(
    session: AsyncSession,
    *,
    resident: Resident,
    number: str,
    contact: Contact,
    now: datetime | None = None,
) -> Ticket | None:
    """Complete the resident's open emergency ticket with the phone or the place they
    gave when asked for them (what the ticket already holds is kept) and tell staff at
    once. None when the ticket is not theirs, not an emergency, ended, or nothing is new."""
    ticket = await session.scalar(
        select(Ticket).where(Ticket.number == number, Ticket.resident_id == resident.id)
    )
    if (
        ticket is None
        or ticket.kind != AlertKind.EMERGENCY.value
        or TicketStatus(ticket.status) in TERMINAL
    ):
        return None
    now = aware_utc(now)
    added: list[str] = []
    if contact.phone and not ticket.phone:
        ticket.phone = contact.phone
        added.append("phone")
    has_pin = ticket.latitude is not None and ticket.longitude is not None
    if contact.latitude is not None and contact.longitude is not None and not has_pin:
        ticket.latitude, ticket.longitude = contact.latitude, contact.longitude
        added.append("location")
    if contact.address and not ticket.address:
        ticket.address = contact.address
        added.append("address")
    if not added:
        return None
    if ticket.community_id is None:
        community = await find_community(
            session, address=ticket.address, latitude=ticket.latitude, longitude=ticket.longitude
        )
        ticket.community_id = community.id if community is not None else None
    ticket.updated_at = now
    session.add(
        TicketEvent(
            ticket_id=ticket.id,
            actor=resident_actor(resident),
            action=CONTACT_ADDED,
            from_status=ticket.status,
            to_status=ticket.status,
            created_at=now,
        )
    )
    await session.flush()
    params = await card_params(session, ticket, contact=True)
    params["resident"] = resident.display_name or resident.external_id
    await notify_staff(
        session, ticket, "s_alert_contact", params=params, buttons=alert_buttons(ticket), now=now
    )
    return ticket
