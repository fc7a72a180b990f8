"""What an organisation does to a ticket: claim, start, done, release."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.errors import (
    AlreadyTaken,
    IllegalTransition,
    NotEligible,
    NotYourTicket,
    TicketNotFound,
)
from services.lifecycle import IN_HAND
from services.lifecycle import TicketStatus as S
from services.matching import eligible, may_see
from services.models import (
    Category,
    Organisation,
    Ticket,
)
from services.notify import (
    hide_holder_cards,
    notify_residents,
    notify_staff,
    rating_buttons,
)
from services.tickets import (
    aware_utc,
    get_ticket,
    org_actor,
    transition,
)
from services.workflow.events import holder_name, tell_claimed
from services.workflow.offers import offer, releasers


async def claim(
    session: AsyncSession,
    *,
    number: str,
    organisation: Organisation,
    note: str | None = None,
    now: datetime | None = None,
) -> Ticket:
    """An organisation claims a published ticket (or takes back its reopened one).

    Exactly one claimer wins, across processes: the update is conditional on the
    status in the database. The winner claiming again gets the ticket back with no
    new event; another organisation that may see the ticket gets AlreadyTaken naming
    the holder. One that may not (another category or community, a ticket awaiting
    review, taken before it was open to it) gets TicketNotFound whatever the state,
    as when it reads the ticket: ticket numbers are sequential."""
    now = aware_utc(now)
    ticket = await get_ticket(session, number)
    if not await may_see(session, organisation, ticket):
        raise TicketNotFound(number)
    if ticket.status in IN_HAND and ticket.organisation_id == organisation.id:
        return ticket
    taking_back = ticket.status == S.REOPENED
    if ticket.status == S.REOPENED:
        if ticket.organisation_id != organisation.id:
            raise AlreadyTaken(ticket.status, S.CLAIMED.value, await holder_name(session, ticket))
    elif ticket.status == S.PUBLISHED:
        # An organisation that released the ticket is not offered it again; its old
        # card's button does not take it back either.
        if not eligible(organisation, ticket) or organisation.id in await releasers(
            session, ticket
        ):
            raise NotEligible(number, organisation.name)
    else:
        raise AlreadyTaken(ticket.status, S.CLAIMED.value, await holder_name(session, ticket))
    try:
        await transition(
            session,
            ticket,
            S.CLAIMED,
            actor=org_actor(organisation),
            note=note,
            now=now,
            values={"organisation_id": organisation.id, "claimed_at": now, "escalated_at": None},
        )
    except IllegalTransition as lost:
        if ticket.status in IN_HAND and ticket.organisation_id == organisation.id:
            return ticket  # our own concurrent double press won
        raise AlreadyTaken(lost.current, lost.new, await holder_name(session, ticket)) from None
    await tell_claimed(
        session, ticket, organisation, key="o_claimed", now=now, tell_others=not taking_back
    )
    return ticket


async def _held_ticket(session: AsyncSession, number: str, organisation: Organisation) -> Ticket:
    ticket = await get_ticket(session, number)
    if ticket.organisation_id != organisation.id:
        raise NotYourTicket(number)
    return ticket


async def start(
    session: AsyncSession,
    *,
    number: str,
    organisation: Organisation,
    now: datetime | None = None,
) -> Ticket:
    """The organisation has started the work; the resident is told."""
    now = aware_utc(now)
    ticket = await _held_ticket(session, number, organisation)
    if ticket.status == S.IN_PROGRESS:
        return ticket
    await transition(session, ticket, S.IN_PROGRESS, actor=org_actor(organisation), now=now)
    await notify_residents(
        session, ticket, "n_started", params={"organisation": organisation.name}, now=now
    )
    return ticket


async def done(
    session: AsyncSession,
    *,
    number: str,
    organisation: Organisation,
    note: str | None = None,
    now: datetime | None = None,
) -> Ticket:
    """The organisation has finished (a claimed ticket is started and finished at once);
    the resident is asked to confirm and rate it, or to say it is not fixed."""
    now = aware_utc(now)
    ticket = await _held_ticket(session, number, organisation)
    if ticket.status == S.DONE:
        return ticket
    if ticket.status == S.CLAIMED:
        await transition(session, ticket, S.IN_PROGRESS, actor=org_actor(organisation), now=now)
    category = await session.get(Category, ticket.category_code) if ticket.category_code else None
    late = bool(
        category is not None
        and ticket.claimed_at is not None
        and now > ticket.claimed_at + timedelta(hours=category.sla_done_hours)
    )
    await transition(
        session,
        ticket,
        S.DONE,
        actor=org_actor(organisation),
        note=note,
        now=now,
        values={"done_at": now, "done_late": late},
    )
    await notify_residents(
        session,
        ticket,
        "n_done",
        params={"organisation": organisation.name, "note": note or "-"},
        buttons=rating_buttons(ticket.number),
        reply_kind="rating_comment",
        now=now,
    )
    return ticket


async def release(
    session: AsyncSession,
    *,
    number: str,
    organisation: Organisation,
    reason: str,
    now: datetime | None = None,
) -> Ticket:
    """The organisation cannot serve the ticket: it is published again and offered to the
    others (not back to this organisation); staff and the resident are told."""
    now = aware_utc(now)
    ticket = await _held_ticket(session, number, organisation)
    await transition(
        session,
        ticket,
        S.PUBLISHED,
        actor=org_actor(organisation),
        note=reason,
        now=now,
        values={
            "organisation_id": None,
            "claimed_at": None,
            "published_at": now,
            "escalated_at": None,
        },
    )
    await hide_holder_cards(session, ticket, organisation, now=now)
    await notify_residents(session, ticket, "n_released", now=now)
    await notify_staff(
        session,
        ticket,
        "s_released",
        params={"organisation": organisation.name, "reason": reason},
        now=now,
    )
    await offer(session, ticket, now=now)
    return ticket
