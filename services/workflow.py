"""Carrying a ticket from filing to its end: routing, claiming, doing, rating,
escalating, merging; every step writes its event and its notifications (outbox)
in the caller's transaction.

Actors in the event log: `resident:<channel>:<id>`, `org:<id>`, `staff:<id>`, `system`.
Each function is safe to repeat: pressing the same button twice, or an update
delivered twice, returns the ticket as it is instead of acting again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import CursorResult, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from services import emergency
from services.communities import building_of, find_community
from services.errors import (
    AlreadyHolds,
    AlreadyTaken,
    IllegalTransition,
    NotEligible,
    NotYourTicket,
    TicketNotFound,
)
from services.lifecycle import TicketStatus, check_transition
from services.matching import candidates, eligible, may_see
from services.models import (
    Category,
    Organisation,
    Resident,
    Staff,
    Ticket,
    TicketEvent,
    TicketFollower,
    TicketOffer,
)
from services.notify import (
    card_params,
    claimed_buttons,
    hide_holder_cards,
    masked_params,
    notify_organisation,
    notify_residents,
    notify_staff,
    offer_buttons,
    rating_buttons,
    review_buttons,
)
from services.outbox import Button
from services.parties import staff_sees
from services.tickets import (
    SYSTEM_ACTOR,
    aware_utc,
    compare_and_set,
    create_service_ticket,
    get_ticket,
    resident_actor,
    transition,
)

S = TicketStatus
OPEN = (S.SUBMITTED, S.PUBLISHED, S.CLAIMED, S.IN_PROGRESS, S.REOPENED)
HELD = (S.CLAIMED, S.IN_PROGRESS)
# Statuses with a holder staff can hand the ticket on from (a reopened ticket is back
# with the organisation that did it), and every status staff can assign from.
HELD_BY = (*HELD, S.REOPENED)
ASSIGNABLE = (S.SUBMITTED, S.PUBLISHED, *HELD_BY)
DUPLICATE_WINDOW = timedelta(days=3)
AUTO_CLOSE_AFTER = timedelta(days=7)


def org_actor(organisation: Organisation) -> str:
    return f"org:{organisation.id}"


def staff_actor(staff: Staff) -> str:
    return f"staff:{staff.id}"


# --- offering -----------------------------------------------------------------------------


async def _releasers(session: AsyncSession, ticket: Ticket) -> list[int]:
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
    found = await candidates(session, ticket, exclude=await _releasers(session, ticket))
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
            buttons=[[Button("btn_assign", f"s:asg:{ticket.number}")]],
            now=now,
        )
    await session.flush()
    return len(found)


# --- filing -------------------------------------------------------------------------------


async def file_ticket(
    session: AsyncSession,
    *,
    resident: Resident,
    category_code: str,
    description: str,
    address: str | None,
    latitude: float | None,
    longitude: float | None,
    preferred_time_text: str | None,
    preferred_time_at: datetime | None,
    phone: str | None,
    photo_path: str | None,
    language: str,
    idempotency_key: str | None,
    now: datetime | None = None,
    beneficiary: str | None = None,
) -> Ticket:
    """File a resident's ticket and route it: straight to matching organisations, or to
    staff for review. Filing again with the same key returns the first ticket."""
    now = aware_utc(now)
    ticket, created = await create_service_ticket(
        session,
        resident=resident,
        category_code=category_code,
        description=description,
        address=address,
        latitude=latitude,
        longitude=longitude,
        preferred_time_text=preferred_time_text,
        preferred_time_at=preferred_time_at,
        phone=phone,
        photo_path=photo_path,
        language=language,
        idempotency_key=idempotency_key,
        now=now,
        beneficiary=beneficiary,
    )
    if not created:  # filed before, or another request won the race on the key
        return ticket
    if ticket.status == S.PUBLISHED:
        await offer(session, ticket, now=now)
    else:
        await notify_staff(
            session,
            ticket,
            "s_review",
            params=await card_params(session, ticket, contact=False),
            buttons=review_buttons(ticket.number),
            now=now,
        )
    return ticket


# Shared facilities (a lift, stairwell lights, rubbish): one problem for the whole
# community. Other categories are matched within the same building only.
COMMUNITY_WIDE = frozenset({"property"})


async def find_duplicates(
    session: AsyncSession,
    *,
    resident: Resident,
    category_code: str,
    address: str | None,
    latitude: float | None,
    longitude: float | None,
    now: datetime | None = None,
    limit: int = 3,
) -> list[Ticket]:
    """Open tickets of the last few days that are probably the same problem: same
    category, same community, and (except for shared facilities) the same building;
    never the resident's own. Newest first."""
    now = aware_utc(now)
    community = await find_community(
        session, address=address, latitude=latitude, longitude=longitude
    )
    if community is None:
        return []
    building = building_of(address)
    if category_code not in COMMUNITY_WIDE and building is None:
        return []
    rows = await session.scalars(
        select(Ticket)
        .where(
            Ticket.category_code == category_code,
            Ticket.community_id == community.id,
            Ticket.status.in_([s.value for s in OPEN]),
            Ticket.created_at >= now - DUPLICATE_WINDOW,
            Ticket.resident_id != resident.id,
        )
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
        .limit(50)
    )
    found = [
        ticket
        for ticket in rows
        if category_code in COMMUNITY_WIDE or building_of(ticket.address) == building
    ]
    return found[:limit]


async def follow(
    session: AsyncSession, *, number: str, resident: Resident, now: datetime | None = None
) -> Ticket:
    """The resident joins an open ticket (once) and is told what happens to it."""
    now = aware_utc(now)
    ticket = await get_ticket(session, number)
    if ticket.status not in OPEN:
        raise IllegalTransition(ticket.status, "followed")
    if ticket.resident_id == resident.id:
        return ticket
    already = await session.get(TicketFollower, (ticket.id, resident.id))
    if already is None:
        async with session.begin_nested():
            session.add(
                TicketFollower(ticket_id=ticket.id, resident_id=resident.id, created_at=now)
            )
        session.add(
            TicketEvent(
                ticket_id=ticket.id,
                actor=resident_actor(resident),
                action="followed",
                from_status=ticket.status,
                to_status=ticket.status,
                created_at=now,
            )
        )
        await session.flush()
    return ticket


# --- staff --------------------------------------------------------------------------------


def _check_staff(staff: Staff, ticket: Ticket) -> None:
    if not staff.active or not staff_sees(staff, ticket.community_id):
        raise NotYourTicket(ticket.number)


async def approve(
    session: AsyncSession, *, number: str, staff: Staff, now: datetime | None = None
) -> Ticket:
    """Staff approve a submitted ticket: it is published and offered."""
    now = aware_utc(now)
    ticket = await get_ticket(session, number)
    _check_staff(staff, ticket)
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
    _check_staff(staff, ticket)
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
    _check_staff(staff, ticket)
    if emergency.awaiting_staff(ticket):
        # An emergency or hand-off is handed to an organisation with a category
        # (services.emergency.hand_to_organisation), never assigned without one.
        raise IllegalTransition(ticket.status, S.CLAIMED.value)
    if not organisation.active:
        raise NotEligible(number, organisation.name)
    holder = ticket.organisation_id
    if ticket.status in HELD and holder == organisation.id:
        raise AlreadyHolds(ticket.status, S.CLAIMED.value, organisation.name)
    if holder is not None and ticket.status in HELD_BY and holder != organisation.id:
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
    await _tell_claimed(session, ticket, organisation, key="o_assigned", now=now)
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
        if ticket.organisation_id is not None and ticket.status in HELD_BY:
            raise AlreadyTaken(ticket.status, S.CLAIMED.value, await _holder_name(session, ticket))
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
    _check_staff(staff, ticket)
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
    await _tell_holder(session, holder, ticket, "o_withdrawn", now=now)
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
    _check_staff(staff, ticket)
    # The merge adds residents to the target: staff must be responsible for it too.
    _check_staff(staff, target)
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
    await _tell_holder(session, holder, ticket, "o_withdrawn", now=now)
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
        buttons=[[Button("btn_assign", f"s:asg:{ticket.number}")]],
        now=now,
    )
    await session.flush()
    return True


# --- organisations ------------------------------------------------------------------------


async def _tell_holder(
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


async def _tell_claimed(
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


async def _holder_name(session: AsyncSession, ticket: Ticket) -> str | None:
    if ticket.organisation_id is None:
        return None
    holder = await session.get(Organisation, ticket.organisation_id)
    return holder.name if holder else None


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
    if ticket.status in HELD and ticket.organisation_id == organisation.id:
        return ticket
    taking_back = ticket.status == S.REOPENED
    if ticket.status == S.REOPENED:
        if ticket.organisation_id != organisation.id:
            raise AlreadyTaken(ticket.status, S.CLAIMED.value, await _holder_name(session, ticket))
    elif ticket.status == S.PUBLISHED:
        # An organisation that released the ticket is not offered it again; its old
        # card's button does not take it back either.
        if not eligible(organisation, ticket) or organisation.id in await _releasers(
            session, ticket
        ):
            raise NotEligible(number, organisation.name)
    else:
        raise AlreadyTaken(ticket.status, S.CLAIMED.value, await _holder_name(session, ticket))
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
        if ticket.status in HELD and ticket.organisation_id == organisation.id:
            return ticket  # our own concurrent double press won
        raise AlreadyTaken(lost.current, lost.new, await _holder_name(session, ticket)) from None
    await _tell_claimed(
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


# --- residents ----------------------------------------------------------------------------


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
        raise ValueError("a rating is 1 to 5 stars")
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
                [Button("btn_claim_again", f"o:claim:{ticket.number}")],
                [Button("btn_release", f"o:rel:{ticket.number}")],
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
    await _tell_holder(session, holder, ticket, "o_withdrawn", now=now)
    return ticket


# --- time ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepResult:
    escalated: list[str]
    auto_closed: list[str]
    # Emergency and hand-off tickets nobody acknowledged: staff alerted again.
    realerted: list[str] = field(default_factory=list)


async def sweep(
    session: AsyncSession,
    *,
    now: datetime | None = None,
    realert_minutes: dict[str, int] | None = None,
) -> SweepResult:
    """Escalate tickets unclaimed past their claim SLA or unfinished past their done
    SLA, close done tickets the resident has not confirmed within 7 days, and alert
    staff again about emergency and hand-off tickets nobody has acknowledged
    (`realert_minutes` per kind; services.emergency.realert)."""
    now = aware_utc(now)
    realerted = await emergency.realert(session, now=now, minutes=realert_minutes)
    escalated: list[str] = []
    rows = await session.execute(
        select(Ticket, Category)
        .join(Category, Category.code == Ticket.category_code)
        .where(
            Ticket.escalated_at.is_(None),
            Ticket.status.in_([S.SUBMITTED, S.PUBLISHED, S.REOPENED, S.CLAIMED, S.IN_PROGRESS]),
        )
        .order_by(Ticket.id)
    )
    for ticket, category in rows:
        since: datetime | None
        if ticket.status == S.SUBMITTED:  # staff have not reviewed it
            since, hours, why = ticket.created_at, category.sla_claim_hours, "reason_unreviewed"
        elif ticket.status == S.PUBLISHED:
            since, hours, why = ticket.published_at, category.sla_claim_hours, "reason_unclaimed"
        elif ticket.status == S.REOPENED:  # the organisation has not taken it back
            since, hours, why = ticket.updated_at, category.sla_claim_hours, "reason_unclaimed"
        else:
            since, hours, why = ticket.claimed_at, category.sla_done_hours, "reason_overdue"
        if since is not None and now > since + timedelta(hours=hours):
            if await escalate(session, ticket, actor=SYSTEM_ACTOR, note=why, now=now, hours=hours):
                escalated.append(ticket.number)
    auto_closed: list[str] = []
    stale = await session.scalars(
        select(Ticket)
        .where(Ticket.status == S.DONE, Ticket.done_at < now - AUTO_CLOSE_AFTER)
        .order_by(Ticket.id)
    )
    for ticket in stale:
        try:
            await transition(
                session,
                ticket,
                S.CLOSED,
                actor=SYSTEM_ACTOR,
                note="unrated",
                now=now,
                values={"closed_at": now},
            )
        except IllegalTransition:
            continue  # rated, or closed by another replica's sweep, meanwhile
        await notify_residents(session, ticket, "n_auto_closed", now=now)
        auto_closed.append(ticket.number)
    return SweepResult(escalated=escalated, auto_closed=auto_closed, realerted=realerted)


async def ticket_events(session: AsyncSession, number: str) -> list[TicketEvent]:
    """A ticket's history, oldest first."""
    ticket = await get_ticket(session, number)
    rows = await session.scalars(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
    )
    return list(rows)


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
    holder = ticket.organisation_id if ticket.status in HELD else None
    found = [o for o in await candidates(session, ticket) if o.id != holder]
    if found:
        return found
    rows = await session.scalars(
        select(Organisation).where(Organisation.active.is_(True)).order_by(Organisation.name)
    )
    return [o for o in rows if o.id != holder]
