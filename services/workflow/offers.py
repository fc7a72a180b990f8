"""Offering a published ticket to the organisations that match it, and who may be assigned it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.lifecycle import IN_HAND
from services.lifecycle import TicketStatus as S
from services.matching import candidates
from services.models import (
    Organisation,
    Ticket,
    TicketEvent,
    TicketOffer,
)
from services.notify import (
    card_params,
    notify_organisation,
    notify_staff,
    offer_buttons,
)
from services.outbox import Button
from services.payloads import Action, encode
from services.tickets import (
    aware_utc,
    get_ticket,
)


async def releasers(session: AsyncSession, ticket: Ticket) -> list[int]:
    """Organisations that released this ticket before: not offered it again."""
    actors = await session.scalars(
        select(TicketEvent.actor).where(
            TicketEvent.ticket_id == ticket.id,
            TicketEvent.to_status == S.PUBLISHED.value,
            TicketEvent.actor.like("org:%"),
        )
    )
    return sorted({int(actor.split(":")[1]) for actor in actors})


async def offer(session: AsyncSession, ticket: Ticket, *, now: datetime | None = None) -> int:
    """Offer a published ticket to its matching organisations, best first (their chats
    get the card); with none, staff are asked to assign. Returns how many got it."""
    now = aware_utc(now)
    found = await candidates(session, ticket, exclude=await releasers(session, ticket))
    await session.execute(delete(TicketOffer).where(TicketOffer.ticket_id == ticket.id))
    params = await card_params(session, ticket, contact=False)
    # Organisations read the resident's words masked until they hold the ticket.
    offered = await card_params(session, ticket, contact=False, masked=True)
    for rank, organisation in enumerate(found):
        session.add(
            TicketOffer(
                ticket_id=ticket.id, organisation_id=organisation.id, rank=rank, created_at=now
            )
        )
        await notify_organisation(
            session,
            organisation,
            ticket,
            "o_offer",
            params=offered,
            buttons=offer_buttons(ticket.number),
            now=now,
        )
    if not found:
        await notify_staff(
            session,
            ticket,
            "s_no_match",
            params=params,
            buttons=[[Button("btn_assign", encode(Action.ASSIGN, ticket.number))]],
            now=now,
        )
    await session.flush()
    return len(found)


async def offer_count(session: AsyncSession, number: str) -> int:
    """How many organisations the ticket is currently offered to."""
    ticket = await get_ticket(session, number)
    count = await session.scalar(
        select(func.count()).select_from(TicketOffer).where(TicketOffer.ticket_id == ticket.id)
    )
    return int(count or 0)


async def assignable(session: AsyncSession, ticket: Ticket) -> list[Organisation]:
    """Organisations staff may assign the ticket to: its matches best first, else
    every active organisation (staff know things matching does not); never the
    organisation holding it now (a reopened ticket may go back to the one that did it)."""
    holder = ticket.organisation_id if ticket.status in IN_HAND else None
    found = [o for o in await candidates(session, ticket) if o.id != holder]
    if found:
        return found
    rows = await session.scalars(
        select(Organisation).where(Organisation.active.is_(True)).order_by(Organisation.name)
    )
    return [o for o in rows if o.id != holder]
