"""Tickets for staff rather than organisations: emergencies and requests for a person."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

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
    now: datetime | None = None,
) -> Ticket:
    """File a staff ticket (urgent for an emergency), once per idempotency key."""
    existing = await ticket_by_key(session, idempotency_key)
    if existing is not None:
        return existing
    now = aware_utc(now)
    ticket = Ticket(
        number=await next_ticket_number(session, now),
        resident_id=resident.id,
        kind=kind.value,
        urgent=kind is AlertKind.EMERGENCY,
        category_code=None,
        status=TicketStatus.SUBMITTED,
        description=description,
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
