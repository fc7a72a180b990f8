"""Staff acting on emergency and hand-off tickets (services.alerts files them).

These tickets have no category and reach no organisation: staff act on them
themselves. Each step is a TicketEvent with the staff member as actor:

- **acknowledge** (`acknowledged`): someone has it. Until then the ticket stays at the
  top of the queue (services.queue) and the sweep alerts staff again (`realert`).
- **called back** (`called_back`) and, for an emergency, **help arrived**
  (`help_arrived`): facts for the timeline; either acknowledges the ticket too.
- **resolve**: the ticket is closed (submitted -> closed, note `reason_resolved` or the
  staff member's words).
- **hand to an organisation**: staff choose a category; the ticket becomes an ordinary
  service ticket of that category (submitted -> published: staff's decision is the
  review), matched and offered by services.workflow.offer.

The first of these steps acknowledges the ticket (`tickets.acknowledged_at/_by`,
a compare-and-set, so two staff pressing at once make one acknowledgement). The
resident is told what matters to them: someone is on it (an explicit acknowledge),
resolved, handed to an organisation. The other staff of the ticket are told who
acknowledged it, so two people do not both call.

Like services.workflow, every function takes the caller's session and never commits,
and repeating a step that already happened changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import CursorResult, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from services.categories import category_codes
from services.communities import find_community
from services.errors import IllegalTransition, NotYourTicket, UnknownCategory
from services.lifecycle import TicketStatus
from services.models import Category, Resident, Staff, Ticket, TicketEvent
from services.notify import (
    card_params,
    localised,
    notify_residents,
    notify_staff,
)
from services.outbox import Button, Recipient, enqueue
from services.parties import staff_chats, staff_sees
from services.payloads import Action, encode
from services.tickets import SYSTEM_ACTOR, aware_utc, get_ticket, staff_actor, transition

S = TicketStatus
EMERGENCY = "emergency"
HANDOFF = "handoff"
ALERT_KINDS = frozenset({EMERGENCY, HANDOFF})
# Staff are alerted again this often while nobody has acknowledged the ticket
# (the defaults of EMERGENCY_REALERT_MINUTES / HANDOFF_REALERT_MINUTES).
DEFAULT_REALERT_MINUTES = {EMERGENCY: 5, HANDOFF: 30}
# The same staff member logging the same fact again this soon is a double press.
REPEAT_WINDOW = timedelta(seconds=60)


class AlertAction(StrEnum):
    """What staff can do with an emergency or hand-off ticket."""

    ACKNOWLEDGE = "acknowledge"
    CALLED_BACK = "called_back"
    HELP_ARRIVED = "help_arrived"
    RESOLVE = "resolve"
    HAND_TO_ORGANISATION = "hand_to_organisation"


# Event actions (ticket_events.action) of these steps.
ACKNOWLEDGED = "acknowledged"
CALLED_BACK = "called_back"
HELP_ARRIVED = "help_arrived"
REALERTED = "realerted"
RESOLVED_NOTE = "reason_resolved"


def is_alert(ticket: Ticket) -> bool:
    """An emergency or hand-off ticket (staff act on it; no organisation can)."""
    return ticket.kind in ALERT_KINDS


def awaiting_staff(ticket: Ticket) -> bool:
    """An alert ticket still waiting for staff: open and not handed on."""
    return is_alert(ticket) and ticket.status == S.SUBMITTED


def needs_acknowledgement(ticket: Ticket) -> bool:
    """Waiting for staff and no staff member has acknowledged it yet."""
    return awaiting_staff(ticket) and ticket.acknowledged_at is None


def alert_actions(ticket: Ticket) -> list[AlertAction]:
    """The alert steps the ticket allows now, in the order staff see them."""
    if not awaiting_staff(ticket):
        return []
    actions = [] if ticket.acknowledged_at is not None else [AlertAction.ACKNOWLEDGE]
    actions.append(AlertAction.CALLED_BACK)
    if ticket.kind == EMERGENCY:
        actions.append(AlertAction.HELP_ARRIVED)
    actions += [AlertAction.RESOLVE, AlertAction.HAND_TO_ORGANISATION]
    return actions


# The button of each step (services.payloads; docs/lifecycle.md).
PRESSES: dict[AlertAction, Action] = {
    AlertAction.ACKNOWLEDGE: Action.ACKNOWLEDGE,
    AlertAction.CALLED_BACK: Action.CALLED_BACK,
    AlertAction.HELP_ARRIVED: Action.HELP_ARRIVED,
    AlertAction.RESOLVE: Action.RESOLVE,
    AlertAction.HAND_TO_ORGANISATION: Action.HAND,
}


def alert_buttons(ticket: Ticket) -> list[list[Button]]:
    """The staff card's buttons for the steps the ticket allows now."""
    actions = alert_actions(ticket)
    number = ticket.number
    rows: list[list[Button]] = []
    if AlertAction.ACKNOWLEDGE in actions:
        rows.append([Button("btn_acknowledge", encode(Action.ACKNOWLEDGE, number))])
    facts = [
        Button(f"btn_{action.value}", encode(PRESSES[action], number))
        for action in (AlertAction.CALLED_BACK, AlertAction.HELP_ARRIVED)
        if action in actions
    ]
    if facts:
        rows.append(facts)
    if AlertAction.RESOLVE in actions:
        rows.append(
            [
                Button("btn_resolve", encode(Action.RESOLVE, number)),
                Button("btn_hand_to_organisation", encode(Action.HAND, number)),
            ]
        )
    return rows


def alert_label(kind: str) -> str:
    """A catalogue code naming the kind of alert (a card parameter)."""
    return f"label_alert_{kind}" if kind in ALERT_KINDS else "label_needs_person"


async def alert_params(session: AsyncSession, ticket: Ticket, *, now: datetime) -> dict[str, Any]:
    """What a staff card about an alert shows: the card with the contact (staff may
    read it), the resident's name, the kind and how many minutes it has waited."""
    params = await card_params(session, ticket, contact=True)
    resident = await session.get(Resident, ticket.resident_id)
    params["resident"] = (
        (resident.display_name or resident.external_id) if resident is not None else "-"
    )
    params["kind"] = alert_label(ticket.kind)
    params["minutes"] = max(0, int((now - ticket.created_at).total_seconds() // 60))
    return params


# --- the steps ----------------------------------------------------------------------------


async def _alert_ticket(session: AsyncSession, number: str, staff: Staff) -> Ticket:
    ticket = await get_ticket(session, number)
    if not staff.active or not staff_sees(staff, ticket.community_id):
        raise NotYourTicket(number)
    return ticket


def _refuse(ticket: Ticket, action: AlertAction) -> IllegalTransition:
    return IllegalTransition(ticket.status, action.value)


async def _acknowledge(
    session: AsyncSession, ticket: Ticket, staff: Staff, *, now: datetime
) -> bool:
    """Record the first acknowledgement (compare-and-set); False if someone was first."""
    if ticket.acknowledged_at is not None:
        return False
    result: CursorResult[Any] = await session.execute(  # type: ignore[assignment]
        update(Ticket)
        .where(Ticket.id == ticket.id, Ticket.acknowledged_at.is_(None))
        .values(acknowledged_at=now, acknowledged_by=staff.id, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        row = (
            await session.execute(
                select(Ticket.acknowledged_at, Ticket.acknowledged_by).where(Ticket.id == ticket.id)
            )
        ).one()
        set_committed_value(ticket, "acknowledged_at", row.acknowledged_at)
        set_committed_value(ticket, "acknowledged_by", row.acknowledged_by)
        return False
    for column, value in (("acknowledged_at", now), ("acknowledged_by", staff.id)):
        set_committed_value(ticket, column, value)
    set_committed_value(ticket, "updated_at", now)
    _log(session, ticket, staff_actor(staff), ACKNOWLEDGED, None, now)
    await _tell_other_staff(session, ticket, staff, now=now)
    await session.flush()
    return True


def _log(
    session: AsyncSession,
    ticket: Ticket,
    actor: str,
    action: str,
    note: str | None,
    now: datetime,
) -> None:
    session.add(
        TicketEvent(
            ticket_id=ticket.id,
            actor=actor,
            action=action,
            from_status=ticket.status,
            to_status=ticket.status,
            note=note,
            created_at=now,
        )
    )


async def _tell_other_staff(
    session: AsyncSession, ticket: Ticket, staff: Staff, *, now: datetime
) -> None:
    """The other staff alerted about the ticket hear who has it (the one who
    acknowledged gets the answer to their own press)."""
    for other, link in await staff_chats(session, ticket.community_id):
        if other.id == staff.id:
            continue
        enqueue(
            session,
            Recipient(link.channel, link.chat_id, other.language),
            "s_alert_acknowledged",
            params={"number": ticket.number, "staff": staff.name, "kind": alert_label(ticket.kind)},
            ticket=ticket,
            now=now,
        )


async def _repeated(
    session: AsyncSession, ticket: Ticket, actor: str, action: str, now: datetime
) -> bool:
    """The same staff member logged the same fact a moment ago (a double press)."""
    last = await session.scalar(
        select(TicketEvent)
        .where(TicketEvent.ticket_id == ticket.id)
        .order_by(TicketEvent.id.desc())
        .limit(1)
    )
    return (
        last is not None
        and last.actor == actor
        and last.action == action
        and abs(now - last.created_at) < REPEAT_WINDOW
    )


async def acknowledge(
    session: AsyncSession, *, number: str, staff: Staff, now: datetime | None = None
) -> Ticket:
    """A staff member has the ticket: it leaves the top of the queue, re-alerts stop,
    the resident hears someone is on it and the other staff who has it."""
    now = aware_utc(now)
    ticket = await _alert_ticket(session, number, staff)
    if is_alert(ticket) and ticket.acknowledged_at is not None:
        return ticket  # a double press, or someone was first: nothing more to do
    if not awaiting_staff(ticket):
        raise _refuse(ticket, AlertAction.ACKNOWLEDGE)
    if await _acknowledge(session, ticket, staff, now=now):
        await notify_residents(
            session, ticket, f"n_alert_acknowledged_{ticket.kind}", followers=False, now=now
        )
    return ticket


async def _fact(
    session: AsyncSession,
    *,
    number: str,
    staff: Staff,
    action: AlertAction,
    event: str,
    note: str | None,
    now: datetime | None,
) -> Ticket:
    now = aware_utc(now)
    ticket = await _alert_ticket(session, number, staff)
    if action not in alert_actions(ticket):
        raise _refuse(ticket, action)
    actor = staff_actor(staff)
    if await _repeated(session, ticket, actor, event, now):
        return ticket
    await _acknowledge(session, ticket, staff, now=now)
    _log(session, ticket, actor, event, note, now)
    await session.flush()
    return ticket


async def called_back(
    session: AsyncSession,
    *,
    number: str,
    staff: Staff,
    note: str | None = None,
    now: datetime | None = None,
) -> Ticket:
    """Staff called the resident back (logged; acknowledges the ticket)."""
    return await _fact(
        session,
        number=number,
        staff=staff,
        action=AlertAction.CALLED_BACK,
        event=CALLED_BACK,
        note=note,
        now=now,
    )


async def help_arrived(
    session: AsyncSession,
    *,
    number: str,
    staff: Staff,
    note: str | None = None,
    now: datetime | None = None,
) -> Ticket:
    """Help (ambulance, firefighters, police, a staff member) reached the resident
    of an emergency (logged; acknowledges the ticket)."""
    return await _fact(
        session,
        number=number,
        staff=staff,
        action=AlertAction.HELP_ARRIVED,
        event=HELP_ARRIVED,
        note=note,
        now=now,
    )


async def resolve(
    session: AsyncSession,
    *,
    number: str,
    staff: Staff,
    note: str | None = None,
    now: datetime | None = None,
) -> Ticket:
    """The emergency or the resident's request is dealt with: the ticket is closed
    (acknowledged first if nobody had) and the resident is told."""
    now = aware_utc(now)
    ticket = await _alert_ticket(session, number, staff)
    if is_alert(ticket) and ticket.status == S.CLOSED:
        return ticket
    if AlertAction.RESOLVE not in alert_actions(ticket):
        raise _refuse(ticket, AlertAction.RESOLVE)
    await _acknowledge(session, ticket, staff, now=now)
    await transition(
        session,
        ticket,
        S.CLOSED,
        actor=staff_actor(staff),
        note=note or RESOLVED_NOTE,
        now=now,
        values={"closed_at": now},
    )
    await notify_residents(session, ticket, f"n_alert_resolved_{ticket.kind}", now=now)
    return ticket


# "from emergency to repair[: note]": the note of the hand-to-organisation transition.
def handed_note(kind: str, category: str, note: str | None) -> str:
    return f"from {kind} to {category}" + (f": {note}" if note else "")


async def hand_to_organisation(
    session: AsyncSession,
    *,
    number: str,
    staff: Staff,
    category_code: str,
    note: str | None = None,
    now: datetime | None = None,
) -> Ticket:
    """Staff decide an organisation should serve it: the ticket becomes an ordinary
    service ticket of `category_code` (its community read from its address or pin if
    not known yet), published and offered to the matching organisations (staff are
    asked to assign when none matches); the resident is told. UnknownCategory for a
    code that is not a category."""
    now = aware_utc(now)
    ticket = await _alert_ticket(session, number, staff)
    category = await session.get(Category, category_code)
    if category is None:
        raise UnknownCategory(category_code, await category_codes(session))
    if not is_alert(ticket) and ticket.acknowledged_at is not None:
        # Only an alert ticket is ever acknowledged: this one was handed on already.
        if ticket.category_code == category.code:
            return ticket  # a double press
        raise _refuse(ticket, AlertAction.HAND_TO_ORGANISATION)
    if AlertAction.HAND_TO_ORGANISATION not in alert_actions(ticket):
        raise _refuse(ticket, AlertAction.HAND_TO_ORGANISATION)
    kind = ticket.kind
    await _acknowledge(session, ticket, staff, now=now)
    community_id = ticket.community_id
    if community_id is None:
        community = await find_community(
            session, address=ticket.address, latitude=ticket.latitude, longitude=ticket.longitude
        )
        community_id = community.id if community is not None else None
    await transition(
        session,
        ticket,
        S.PUBLISHED,
        actor=staff_actor(staff),
        note=handed_note(kind, category.code, note),
        now=now,
        values={
            "kind": "service",
            "category_code": category.code,
            "community_id": community_id,
            "urgent": False,
            "published_at": now,
            "escalated_at": None,
        },
    )
    await notify_residents(
        session,
        ticket,
        "n_alert_handed",
        params={"category": localised(category.name_zh, category.name_en)},
        now=now,
    )
    from services.workflow.offers import offer  # the sweep imports this module

    await offer(session, ticket, now=now)
    return ticket


# --- re-alerts ----------------------------------------------------------------------------


async def realert(
    session: AsyncSession,
    *,
    now: datetime | None = None,
    minutes: dict[str, int] | None = None,
) -> list[str]:
    """Alert staff again about every alert ticket nobody has acknowledged `minutes`
    (per kind) after filing or after the last re-alert. A compare-and-set on
    `realerted_at`, so two sweepers send each re-alert once. Returns the numbers."""
    now = aware_utc(now)
    waits = DEFAULT_REALERT_MINUTES | (minutes or {})
    done: list[str] = []
    for kind in sorted(ALERT_KINDS):
        cutoff = now - timedelta(minutes=max(1, int(waits[kind])))
        due = and_(
            Ticket.kind == kind,
            Ticket.status == S.SUBMITTED.value,
            Ticket.acknowledged_at.is_(None),
            or_(
                and_(Ticket.realerted_at.is_(None), Ticket.created_at <= cutoff),
                Ticket.realerted_at <= cutoff,
            ),
        )
        tickets: Sequence[Ticket] = list(
            await session.scalars(select(Ticket).where(due).order_by(Ticket.id).limit(500))
        )
        for ticket in tickets:
            result: CursorResult[Any] = await session.execute(  # type: ignore[assignment]
                update(Ticket)
                .where(Ticket.id == ticket.id, due)
                .values(realerted_at=now)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:
                continue  # acknowledged, or re-alerted by another sweeper, meanwhile
            set_committed_value(ticket, "realerted_at", now)
            params = await alert_params(session, ticket, now=now)
            _log(session, ticket, SYSTEM_ACTOR, REALERTED, str(params["minutes"]), now)
            await notify_staff(
                session,
                ticket,
                "s_alert_again",
                params=params,
                buttons=alert_buttons(ticket),
                now=now,
            )
            done.append(ticket.number)
    await session.flush()
    return done
