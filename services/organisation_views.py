"""What an organisation's own page lists: the tickets it may claim, the ones it holds,
its latest closed ones, and its standing (web/orgpages.py shows them).

The same rules as its Telegram cards: a ticket is offered to it only when it serves the
ticket's category and community and did not release it before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services import matching
from services.lifecycle import HOLDER_STATUSES, TicketStatus, values
from services.models import Organisation, Ticket, TicketEvent
from services.tickets import org_actor

S = TicketStatus
LIST_LIMIT = 50
CLOSED_LIMIT = 20


@dataclass(frozen=True)
class OrganisationTickets:
    """Everything the organisation's page lists, read in one session."""

    organisation: Organisation
    claimable: list[Ticket]
    held: list[Ticket]
    closed: list[Ticket]
    standing: matching.Standing


async def released_by(
    session: AsyncSession, organisation: Organisation, ticket_ids: Sequence[int]
) -> set[int]:
    """Which of these tickets the organisation released before (it may not claim them)."""
    if not ticket_ids:
        return set()
    rows = await session.scalars(
        select(TicketEvent.ticket_id).where(
            TicketEvent.ticket_id.in_(list(ticket_ids)),
            TicketEvent.actor == org_actor(organisation),
            TicketEvent.to_status == S.PUBLISHED.value,
        )
    )
    return set(rows)


async def claimable(session: AsyncSession, organisation: Organisation) -> list[Ticket]:
    """Published tickets of the organisation's categories and communities that it may
    claim (the ones it released are not), oldest first."""
    codes = [category.code for category in organisation.categories]
    if not organisation.active or not codes:
        return []
    query = select(Ticket).where(
        Ticket.status == S.PUBLISHED.value, Ticket.category_code.in_(codes)
    )
    if not organisation.all_communities:
        query = query.where(Ticket.community_id.in_([c.id for c in organisation.communities]))
    found = [
        ticket
        for ticket in await session.scalars(
            query.order_by(Ticket.published_at, Ticket.id).limit(LIST_LIMIT)
        )
        if matching.eligible(organisation, ticket)
    ]
    released = await released_by(session, organisation, [ticket.id for ticket in found])
    return [ticket for ticket in found if ticket.id not in released]


async def held(session: AsyncSession, organisation: Organisation) -> list[Ticket]:
    """Tickets the organisation holds: to do, in progress, reopened, done (unconfirmed)."""
    rows = await session.scalars(
        select(Ticket)
        .where(
            Ticket.organisation_id == organisation.id,
            Ticket.status.in_(values(HOLDER_STATUSES)),
        )
        .order_by(Ticket.updated_at.desc(), Ticket.id.desc())
        .limit(LIST_LIMIT)
    )
    return list(rows)


async def finished(session: AsyncSession, organisation: Organisation) -> list[Ticket]:
    """The organisation's latest closed tickets, with the residents' ratings."""
    rows = await session.scalars(
        select(Ticket)
        .where(Ticket.organisation_id == organisation.id, Ticket.status == S.CLOSED.value)
        .order_by(Ticket.closed_at.desc(), Ticket.id.desc())
        .limit(CLOSED_LIMIT)
    )
    return list(rows)


async def organisation_tickets(
    session: AsyncSession, organisation_id: int
) -> OrganisationTickets | None:
    """The organisation as stored now and the tickets its page lists; None when it is gone."""
    organisation = await session.get(Organisation, organisation_id)
    if organisation is None:
        return None
    return OrganisationTickets(
        organisation=organisation,
        claimable=await claimable(session, organisation),
        held=await held(session, organisation),
        closed=await finished(session, organisation),
        standing=(await matching.standings(session, [organisation.id]))[organisation.id],
    )
