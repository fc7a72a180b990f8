"""Tickets for staff rather than organisations: emergencies and requests for a person."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from services.communities import find_community
from services.emergency import alert_buttons
from services.lifecycle import TicketStatus
from services.models import Resident, Ticket
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
    now: datetime | None = None,
) -> Ticket:
    """File a staff ticket (urgent for an emergency) carrying the contact known for the
    resident (phone, address or pin, placed in its community), once per idempotency key."""
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
        urgent=kind is AlertKind.EMERGENCY,
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
        created_at=now,
        updated_at=now,
    )
    ticket, created = await insert_ticket(
        session, ticket, actor=resident_actor(resident), note=kind.value
    )
    if created:
        params = await card_params(session, ticket, contact=False)
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
