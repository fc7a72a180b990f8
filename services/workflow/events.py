"""Telling the holder and the claimer of a ticket, and reading its event log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.models import (
    Organisation,
    Ticket,
    TicketEvent,
    TicketOffer,
)
from services.notify import (
    card_params,
    claimed_buttons,
    notify_organisation,
    notify_residents,
)
from services.tickets import (
    get_ticket,
)


async def tell_holder(
    session: AsyncSession,
    organisation_id: int | None,
    ticket: Ticket,
    key: str,
    *,
    now: datetime,
) -> None:
    if organisation_id is None:
        return
    organisation = await session.get(Organisation, organisation_id)
    assert organisation is not None
    await notify_organisation(
        session, organisation, ticket, key, params={"status": ticket.status}, now=now
    )


async def tell_claimed(
    session: AsyncSession,
    ticket: Ticket,
    organisation: Organisation,
    *,
    key: str,
    now: datetime,
    tell_others: bool = True,
) -> None:
    """The claimer gets the full card with contact details; the resident is told who;
    the other organisations offered the ticket are told it is taken (unless they
    were told already: the holder taking back its reopened ticket)."""
    await notify_organisation(
        session,
        organisation,
        ticket,
        key,
        params=await card_params(session, ticket, contact=True),
        buttons=claimed_buttons(ticket.number),
        now=now,
    )
    await notify_residents(
        session, ticket, "n_claimed", params={"organisation": organisation.name}, now=now
    )
    if not tell_others:
        return
    others = await session.scalars(
        select(Organisation)
        .join(TicketOffer, TicketOffer.organisation_id == Organisation.id)
        .where(TicketOffer.ticket_id == ticket.id, Organisation.id != organisation.id)
        .order_by(TicketOffer.rank)
    )
    for other in others:
        await notify_organisation(
            session, other, ticket, "o_taken", params={"organisation": organisation.name}, now=now
        )


async def holder_name(session: AsyncSession, ticket: Ticket) -> str | None:
    if ticket.organisation_id is None:
        return None
    holder = await session.get(Organisation, ticket.organisation_id)
    return holder.name if holder else None


async def ticket_events(session: AsyncSession, number: str) -> list[TicketEvent]:
    """A ticket's history, oldest first."""
    ticket = await get_ticket(session, number)
    rows = await session.scalars(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
    )
    return list(rows)
