"""What a resident does to their ticket: rate, comment, not fixed, cancel."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.errors import (
    IllegalTransition,
    InvalidInput,
    NotYourTicket,
)
from services.lifecycle import TicketStatus as S
from services.models import (
    Organisation,
    Resident,
    Ticket,
    TicketEvent,
)
from services.notify import (
    card_params,
    notify_organisation,
)
from services.outbox import Button
from services.payloads import Action, encode
from services.tickets import (
    aware_utc,
    get_ticket,
    resident_actor,
    transition,
)
from services.workflow.events import tell_holder


async def _own_ticket(session: AsyncSession, number: str, resident: Resident) -> Ticket:
    ticket = await get_ticket(session, number)
    if ticket.resident_id != resident.id:
        raise NotYourTicket(number)
    return ticket


async def rate(
    session: AsyncSession,
    *,
    number: str,
    resident: Resident,
    stars: int,
    comment: str | None = None,
    now: datetime | None = None,
) -> Ticket:
    """The resident confirms the work and rates it 1–5: the ticket is closed. Rating
    again (a double press) changes nothing."""
    now = aware_utc(now)
    if not 1 <= stars <= 5:
        raise InvalidInput("a rating is 1 to 5 stars")
    ticket = await _own_ticket(session, number, resident)
    if ticket.status == S.CLOSED and ticket.rating is not None:
        return ticket
    if ticket.status != S.DONE:
        # The table allows every open state -> closed (staff close); a rating only
        # confirms work the organisation has reported done.
        raise IllegalTransition(ticket.status, S.CLOSED.value)
    await transition(
        session,
        ticket,
        S.CLOSED,
        actor=resident_actor(resident),
        note=f"rated {stars}",
        now=now,
        values={"rating": stars, "rating_comment": comment, "closed_at": now},
    )
    if ticket.organisation_id is not None:
        organisation = await session.get(Organisation, ticket.organisation_id)
        assert organisation is not None
        await notify_organisation(
            session, organisation, ticket, "o_rated", params={"stars": stars}, now=now
        )
    return ticket


async def comment_rating(
    session: AsyncSession,
    *,
    number: str,
    resident: Resident,
    comment: str,
    now: datetime | None = None,
) -> Ticket:
    """Add the resident's comment to their rating (the first comment is kept)."""
    now = aware_utc(now)
    ticket = await _own_ticket(session, number, resident)
    if ticket.rating is None:
        raise IllegalTransition(ticket.status, "commented")
    if ticket.rating_comment is None:
        ticket.rating_comment = comment
        session.add(
            TicketEvent(
                ticket_id=ticket.id,
                actor=resident_actor(resident),
                action="note",
                from_status=ticket.status,
                to_status=ticket.status,
                note=comment,
                created_at=now,
            )
        )
        await session.flush()
    return ticket


async def not_fixed(
    session: AsyncSession,
    *,
    number: str,
    resident: Resident,
    note: str | None = None,
    now: datetime | None = None,
) -> Ticket:
    """The resident says it is not fixed: reopened, back to the same organisation."""
    now = aware_utc(now)
    ticket = await _own_ticket(session, number, resident)
    if ticket.status == S.REOPENED:
        return ticket
    await transition(
        session,
        ticket,
        S.REOPENED,
        actor=resident_actor(resident),
        note=note,
        now=now,
        values={"done_at": None, "done_late": None},
    )
    if ticket.organisation_id is not None:
        organisation = await session.get(Organisation, ticket.organisation_id)
        assert organisation is not None
        await notify_organisation(
            session,
            organisation,
            ticket,
            "o_reopened",
            params=await card_params(session, ticket, contact=True),
            buttons=[
                [Button("btn_claim_again", encode(Action.CLAIM, ticket.number))],
                [Button("btn_release", encode(Action.RELEASE, ticket.number))],
            ],
            now=now,
        )
    return ticket


async def cancel(
    session: AsyncSession,
    *,
    number: str,
    resident: Resident,
    note: str | None = None,
    now: datetime | None = None,
) -> Ticket:
    """The resident cancels their ticket (any state before done); its organisation is told."""
    now = aware_utc(now)
    ticket = await _own_ticket(session, number, resident)
    if ticket.status == S.CANCELLED:
        return ticket
    holder = ticket.organisation_id
    await transition(
        session,
        ticket,
        S.CANCELLED,
        actor=resident_actor(resident),
        note=note,
        now=now,
        values={"closed_at": now},
    )
    await tell_holder(session, holder, ticket, "o_withdrawn", now=now)
    return ticket
