"""Which organisations may take a ticket, in what order, and how each has served."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.lifecycle import HELD_OPEN, values
from services.lifecycle import TicketStatus as S
from services.models import (
    Organisation,
    Ticket,
    TicketEvent,
    TicketOffer,
    organisation_categories,
    organisation_communities,
)

# A new organisation, never rated, is ranked as if rated this: good enough to get work.
NEUTRAL_RATING = 4.0


@dataclass(frozen=True)
class Standing:
    """How an organisation has served: shown to staff, used in matching."""

    organisation_id: int
    average_rating: float | None
    ratings: int
    completed: int
    on_time_rate: float | None
    releases: int
    open_load: int


async def standings(session: AsyncSession, organisation_ids: Sequence[int]) -> dict[int, Standing]:
    """Standing of each organisation: average rating, on-time rate, releases, open load."""
    ids = list(organisation_ids)
    if not ids:
        return {}
    rated = {
        row.organisation_id: (row.avg, row.n)
        for row in await session.execute(
            select(
                Ticket.organisation_id,
                func.avg(Ticket.rating).label("avg"),
                func.count(Ticket.rating).label("n"),
            )
            .where(Ticket.organisation_id.in_(ids), Ticket.rating.is_not(None))
            .group_by(Ticket.organisation_id)
        )
    }
    completed = {
        row.organisation_id: (row.n, row.late)
        for row in await session.execute(
            select(
                Ticket.organisation_id,
                func.count().label("n"),
                func.count().filter(Ticket.done_late.is_(True)).label("late"),
            )
            .where(Ticket.organisation_id.in_(ids), Ticket.done_at.is_not(None))
            .group_by(Ticket.organisation_id)
        )
    }
    load = {
        row.organisation_id: row.n
        for row in await session.execute(
            select(Ticket.organisation_id, func.count().label("n"))
            .where(
                Ticket.organisation_id.in_(ids),
                Ticket.status.in_(values(HELD_OPEN)),
            )
            .group_by(Ticket.organisation_id)
        )
    }
    actors = {f"org:{i}": i for i in ids}
    releases = {
        actors[row.actor]: row.n
        for row in await session.execute(
            select(TicketEvent.actor, func.count().label("n"))
            .where(
                TicketEvent.actor.in_(list(actors)),
                TicketEvent.to_status == S.PUBLISHED.value,
                TicketEvent.action == "transition",
            )
            .group_by(TicketEvent.actor)
        )
    }
    result = {}
    for i in ids:
        avg, n_rated = rated.get(i, (None, 0))
        n_done, n_late = completed.get(i, (0, 0))
        result[i] = Standing(
            organisation_id=i,
            average_rating=float(avg) if avg is not None else None,
            ratings=int(n_rated),
            completed=int(n_done),
            on_time_rate=(n_done - n_late) / n_done if n_done else None,
            releases=int(releases.get(i, 0)),
            open_load=int(load.get(i, 0)),
        )
    return result


async def candidates(
    session: AsyncSession, ticket: Ticket, *, exclude: Sequence[int] = ()
) -> list[Organisation]:
    """Active organisations serving the ticket's category and community, best first
    (average rating, then on-time rate, then the lightest open load)."""
    if ticket.category_code is None:
        return []
    query = (
        select(Organisation)
        .join(organisation_categories)
        .where(
            Organisation.active.is_(True),
            organisation_categories.c.category_code == ticket.category_code,
        )
    )
    if ticket.community_id is None:
        # No community known: only organisations serving everywhere; staff place the rest.
        query = query.where(Organisation.all_communities.is_(True))
    else:
        served = select(organisation_communities.c.organisation_id).where(
            organisation_communities.c.community_id == ticket.community_id
        )
        query = query.where(Organisation.all_communities.is_(True) | Organisation.id.in_(served))
    if exclude:
        query = query.where(Organisation.id.not_in(list(exclude)))
    found = list(await session.scalars(query.order_by(Organisation.id)))
    standing = await standings(session, [o.id for o in found])

    def rank(organisation: Organisation) -> tuple[float, float, int, int]:
        s = standing[organisation.id]
        rating = s.average_rating if s.average_rating is not None else NEUTRAL_RATING
        on_time = s.on_time_rate if s.on_time_rate is not None else 1.0
        return (-rating, -on_time, s.open_load, organisation.id)

    return sorted(found, key=rank)


def eligible(organisation: Organisation, ticket: Ticket) -> bool:
    """True when the organisation is active and serves the ticket's category and community."""
    if not organisation.active or ticket.category_code is None:
        return False
    if ticket.category_code not in {c.code for c in organisation.categories}:
        return False
    if organisation.all_communities:
        return True
    return ticket.community_id in {c.id for c in organisation.communities}


async def may_see(session: AsyncSession, organisation: Organisation, ticket: Ticket) -> bool:
    """Whether the organisation may know of the ticket at all (read it, try to claim it):
    it holds it or held it before, it was offered it, or the ticket is open to it now
    (published in its category and community). Anything else - a ticket awaiting
    review, another category or community, a ticket taken before this organisation
    could see it - is not its business: it is answered as if there were no such ticket."""
    if ticket.organisation_id == organisation.id:
        return True
    offered = await session.scalar(
        select(TicketOffer.ticket_id).where(
            TicketOffer.ticket_id == ticket.id, TicketOffer.organisation_id == organisation.id
        )
    )
    if offered is not None:
        return True
    # Held before: an event made it the holder (claim, assignment, hand-over), or it
    # acted on the ticket (only a holder can).
    acted = await session.scalar(
        select(TicketEvent.id)
        .where(
            TicketEvent.ticket_id == ticket.id,
            or_(
                TicketEvent.organisation_id == organisation.id,
                TicketEvent.actor == f"org:{organisation.id}",
            ),
        )
        .limit(1)
    )
    if acted is not None:
        return True
    return ticket.status == S.PUBLISHED and eligible(organisation, ticket)


def sees_full_text(organisation: Organisation, ticket: Ticket) -> bool:
    """Whether the organisation reads the resident's own words unmasked: only while it
    holds the ticket (from the claim on, to the end); after a release or a
    reassignment it reads the masked text again, like every other organisation."""
    return ticket.organisation_id == organisation.id


async def organisation_table(session: AsyncSession) -> list[tuple[Organisation, Standing]]:
    """Every organisation with its standing, best rated first (for staff)."""
    organisations = list(await session.scalars(select(Organisation).order_by(Organisation.id)))
    standing = await standings(session, [o.id for o in organisations])

    def rank(organisation: Organisation) -> tuple[bool, float, str]:
        s = standing[organisation.id]
        rating = s.average_rating if s.average_rating is not None else NEUTRAL_RATING
        return (not organisation.active, -rating, organisation.name)

    return [(o, standing[o.id]) for o in sorted(organisations, key=rank)]
