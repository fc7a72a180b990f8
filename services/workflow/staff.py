"""What staff do to a ticket: approve, reject, assign or hand on, close, merge, escalate."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from services import emergency
from services.errors import (
    AlreadyHolds,
    AlreadyTaken,
    IllegalTransition,
    NotEligible,
    NotYourTicket,
)
from services.lifecycle import HELD_OPEN, IN_HAND, OPEN, TicketStatus, check_transition
from services.lifecycle import TicketStatus as S
from services.models import (
    Organisation,
    Resident,
    Staff,
    Ticket,
    TicketEvent,
    TicketFollower,
)
from services.notify import (
    card_params,
    claimed_buttons,
    hide_holder_cards,
    masked_params,
    notify_organisation,
    notify_residents,
    notify_staff,
)
from services.outbox import Button
from services.parties import staff_sees
from services.payloads import Action, encode
from services.tickets import (
    aware_utc,
    compare_and_set,
    get_ticket,
    staff_actor,
    transition,
)
from services.workflow.events import holder_name, tell_claimed, tell_holder
from services.workflow.filing import follow
from services.workflow.offers import offer


def check_staff(staff: Staff, ticket: Ticket) -> None:
    if not staff.active or not staff_sees(staff, ticket.community_id):
        raise NotYourTicket(ticket.number)


async def approve(
    session: AsyncSession, *, number: str, staff: Staff, now: datetime | None = None
) -> Ticket:
    """Staff approve a submitted ticket: it is published and offered."""
    now = aware_utc(now)
    ticket = await get_ticket(session, number)
    check_staff(staff, ticket)
    if emergency.is_alert(ticket):
        # No category, so no organisation: services.emergency has its own steps
        # (hand_to_organisation chooses the category).
        raise IllegalTransition(ticket.status, S.PUBLISHED.value)
    if ticket.status == S.PUBLISHED:
        return ticket
    if ticket.status != S.SUBMITTED:
        # The table allows claimed/in_progress/reopened -> published (a release), which
        # is not an approval: it would keep the holder on a published ticket.
        raise IllegalTransition(ticket.status, S.PUBLISHED.value)
    await transition(
        session,
        ticket,
        S.PUBLISHED,
        actor=staff_actor(staff),
        now=now,
        values={"published_at": now, "escalated_at": None},
    )
    await offer(session, ticket, now=now)
    return ticket


async def reject(
    session: AsyncSession,
    *,
    number: str,
    staff: Staff,
    reason: str,
    now: datetime | None = None,
) -> Ticket:
    """Staff reject a submitted ticket with a reason the resident is told."""
    now = aware_utc(now)
    ticket = await get_ticket(session, number)
    check_staff(staff, ticket)
    if ticket.status == S.REJECTED:
        return ticket
    await transition(
        session,
        ticket,
        S.REJECTED,
        actor=staff_actor(staff),
        note=reason,
        now=now,
        values={"closed_at": now},
    )
    await notify_residents(session, ticket, "n_rejected", params={"reason": reason}, now=now)
    return ticket


async def assign(
    session: AsyncSession,
    *,
    number: str,
    staff: Staff,
    organisation: Organisation,
    note: str | None = None,
    now: datetime | None = None,
) -> Ticket:
    """Staff give a ticket to an active organisation directly (approving it first if
    needed), or hand a held one (claimed, in progress, reopened) on to another: the
    old holder is told it no longer has it, the new one gets the card with the
    contact, the resident is told who has it now. Matching is skipped on purpose
    (staff know things it does not); assigning to the holder is AlreadyHolds."""
    now = aware_utc(now)
    ticket = await get_ticket(session, number)
    check_staff(staff, ticket)
    if emergency.awaiting_staff(ticket):
        # An emergency or hand-off is handed to an organisation with a category
        # (services.emergency.hand_to_organisation), never assigned without one.
        raise IllegalTransition(ticket.status, S.CLAIMED.value)
    if not organisation.active:
        raise NotEligible(number, organisation.name)
    holder = ticket.organisation_id
    if ticket.status in IN_HAND and holder == organisation.id:
        raise AlreadyHolds(ticket.status, S.CLAIMED.value, organisation.name)
    if holder is not None and ticket.status in HELD_OPEN and holder != organisation.id:
        return await _hand_over(session, ticket, staff, organisation, note=note, now=now)
    if ticket.status == S.SUBMITTED:
        await transition(
            session,
            ticket,
            S.PUBLISHED,
            actor=staff_actor(staff),
            now=now,
            values={"published_at": now},
        )
    await transition(
        session,
        ticket,
        S.CLAIMED,
        actor=staff_actor(staff),
        note=f"assigned to org:{organisation.id}" + (f": {note}" if note else ""),
        now=now,
        values={"organisation_id": organisation.id, "claimed_at": now, "escalated_at": None},
    )
    await tell_claimed(session, ticket, organisation, key="o_assigned", now=now)
    return ticket


HANDED_OVER = "reassigned"


async def _hand_over(
    session: AsyncSession,
    ticket: Ticket,
    staff: Staff,
    organisation: Organisation,
    *,
    note: str | None,
    now: datetime,
) -> Ticket:
    """Move a held ticket to another organisation: claimed by it from now on (work
    started is started afresh; the done SLA counts from the hand-over)."""
    current = TicketStatus(ticket.status)
    if current != S.CLAIMED:  # claimed stays claimed: only the holder changes
        check_transition(current, S.CLAIMED)
    previous = await session.get(Organisation, ticket.organisation_id)
    assert previous is not None
    # A concurrent release, start or done by the old holder, or another staff member's
    # hand-over, and this one: exactly one wins.
    handed = await compare_and_set(
        session,
        ticket,
        S.CLAIMED,
        now=now,
        values={"organisation_id": organisation.id, "claimed_at": now, "escalated_at": None},
    )
    if not handed:
        if ticket.organisation_id is not None and ticket.status in HELD_OPEN:
            raise AlreadyTaken(ticket.status, S.CLAIMED.value, await holder_name(session, ticket))
        raise IllegalTransition(str(ticket.status), S.CLAIMED.value)
    session.add(
        TicketEvent(
            ticket_id=ticket.id,
            actor=staff_actor(staff),
            action=HANDED_OVER,
            from_status=current.value,
            to_status=S.CLAIMED.value,
            note=f"from org:{previous.id} to org:{organisation.id}" + (f": {note}" if note else ""),
            organisation_id=organisation.id,
            created_at=now,
        )
    )
    await session.flush()
    # The old holder's views drop the contact at once (they are computed at read time);
    # its cards with the contact are masked (edited in Telegram) as after a release,
    # and it is told the ticket is no longer its own (the note masked: it is an
    # outsider now).
    await hide_holder_cards(session, ticket, previous, now=now)
    await notify_organisation(
        session,
        previous,
        ticket,
        "o_handed_away",
        params=masked_params({"note": note or "-"}),
        now=now,
    )
    await notify_organisation(
        session,
        organisation,
        ticket,
        "o_handed_over",
        params=await card_params(session, ticket, contact=True) | {"note": note or "-"},
        buttons=claimed_buttons(ticket.number),
        now=now,
    )
    await notify_residents(
        session, ticket, "n_handed_over", params={"organisation": organisation.name}, now=now
    )
    await session.flush()
    return ticket


async def close(
    session: AsyncSession,
    *,
    number: str,
    staff: Staff,
    reason: str,
    now: datetime | None = None,
) -> Ticket:
    """Staff end an open (or done) ticket with a reason."""
    now = aware_utc(now)
    ticket = await get_ticket(session, number)
    check_staff(staff, ticket)
    if ticket.status == S.CLOSED:
        return ticket
    # Closing finished work withdraws nothing from the organisation.
    was_done = ticket.status == S.DONE
    holder = ticket.organisation_id if not was_done else None
    await transition(
        session,
        ticket,
        S.CLOSED,
        actor=staff_actor(staff),
        note=reason,
        now=now,
        values={"closed_at": now},
    )
    finisher = (
        await session.get(Organisation, ticket.organisation_id)
        if was_done and ticket.organisation_id is not None
        else None
    )
    if finisher is not None:
        # The organisation did the work: the resident is told so, not "社区已处理".
        await notify_residents(
            session,
            ticket,
            "n_closed_done",
            params={"organisation": finisher.name},
            now=now,
        )
    else:
        await notify_residents(session, ticket, "n_closed", params={"reason": reason}, now=now)
    await tell_holder(session, holder, ticket, "o_withdrawn", now=now)
    return ticket


async def merge(
    session: AsyncSession,
    *,
    number: str,
    into: str,
    staff: Staff,
    now: datetime | None = None,
) -> Ticket:
    """Staff merge a duplicate into another open ticket: its resident (and followers)
    follow the other ticket from now on."""
    now = aware_utc(now)
    ticket = await get_ticket(session, number)
    target = await get_ticket(session, into)
    check_staff(staff, ticket)
    # The merge adds residents to the target: staff must be responsible for it too.
    check_staff(staff, target)
    if ticket.status == S.MERGED and ticket.merged_into_id == target.id:
        return ticket
    if target.id == ticket.id or target.status not in OPEN:
        raise IllegalTransition(ticket.status, S.MERGED.value)
    holder = ticket.organisation_id
    await transition(
        session,
        ticket,
        S.MERGED,
        actor=staff_actor(staff),
        note=f"into {target.number}",
        now=now,
        values={"merged_into_id": target.id, "closed_at": now},
    )
    followers = await session.scalars(
        select(TicketFollower.resident_id).where(TicketFollower.ticket_id == ticket.id)
    )
    residents = [ticket.resident_id, *followers]
    for resident_id in residents:
        resident = await session.get(Resident, resident_id)
        assert resident is not None
        if resident_id != target.resident_id:
            await follow(session, number=target.number, resident=resident, now=now)
    await notify_residents(session, ticket, "n_merged", params={"into": target.number}, now=now)
    await tell_holder(session, holder, ticket, "o_withdrawn", now=now)
    return ticket


async def escalate(
    session: AsyncSession,
    ticket: Ticket,
    *,
    actor: str,
    note: str,
    now: datetime | None = None,
    hours: int | None = None,
) -> bool:
    """Flag a ticket as escalated (吹哨) once and tell staff; False if it already was.
    `note` is a reason code (reason_unclaimed, reason_overdue, …; `hours` fills it in)
    or a staff member's own words. Claiming or releasing clears the flag, so a
    ticket escalated while unclaimed can be escalated again when overdue."""
    now = aware_utc(now)
    if ticket.escalated_at is not None:
        return False
    # Conditional, so two sweepers (two bot replicas) escalate a ticket once.
    flagged: CursorResult[Any] = await session.execute(  # type: ignore[assignment]
        update(Ticket)
        .where(Ticket.id == ticket.id, Ticket.escalated_at.is_(None))
        .values(escalated_at=now)
        .execution_options(synchronize_session=False)
    )
    if flagged.rowcount != 1:
        return False
    set_committed_value(ticket, "escalated_at", now)
    session.add(
        TicketEvent(
            ticket_id=ticket.id,
            actor=actor,
            action="escalated",
            from_status=ticket.status,
            to_status=ticket.status,
            note=note,
            created_at=now,
        )
    )
    holder = (
        await session.get(Organisation, ticket.organisation_id) if ticket.organisation_id else None
    )
    params = await card_params(session, ticket, contact=False)
    params |= {
        "reason": note,
        "hours": hours if hours is not None else "-",
        "organisation": holder.name if holder else "-",
    }
    await notify_staff(
        session,
        ticket,
        "s_escalated",
        params=params,
        buttons=[[Button("btn_assign", encode(Action.ASSIGN, ticket.number))]],
        now=now,
    )
    await session.flush()
    return True
