"""Tickets: filing, numbering, reading, cancelling and every status change.

Functions here take the caller's session and never commit: the caller owns
the transaction (`async with session.begin():`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import CursorResult, Executable, Select, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from services.categories import category_codes
from services.communities import find_community
from services.errors import IllegalTransition, TicketNotFound, UnknownCategory
from services.lifecycle import TicketStatus, check_transition
from services.models import (
    Category,
    Organisation,
    Resident,
    Staff,
    Ticket,
    TicketEvent,
    TicketNumberSequence,
    utcnow,
)
from services.numbers import format_number

# Ticket numbers carry the date residents and staff live in, not UTC's.
NUMBER_TIMEZONE = ZoneInfo("Asia/Shanghai")
SYSTEM_ACTOR = "system"


def resident_actor(resident: Resident) -> str:
    """Return the event-log actor name of a resident."""
    return f"resident:{resident.channel}:{resident.external_id}"


def org_actor(organisation: Organisation) -> str:
    """The event-log actor name of an organisation."""
    return f"org:{organisation.id}"


def staff_actor(staff: Staff) -> str:
    """The event-log actor name of a staff member."""
    return f"staff:{staff.id}"


def aware_utc(now: datetime | None) -> datetime:
    """`now`, or the current time, as an aware UTC datetime (naive input is refused)."""
    if now is None:
        return utcnow()
    if now.tzinfo is None:
        raise ValueError("naive datetime given; pass an aware datetime")
    return now


def _insert_ignoring_conflicts(
    session: AsyncSession, model: type[Any], values: dict[str, Any]
) -> Executable:
    """Build INSERT ... ON CONFLICT DO NOTHING for the session's dialect."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(model).values(**values).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite.insert(model).values(**values).on_conflict_do_nothing()
    raise NotImplementedError(f"unsupported database dialect: {dialect}")


def _resident_query(channel: str, external_id: str) -> Select[Resident]:
    return select(Resident).where(Resident.channel == channel, Resident.external_id == external_id)


async def find_resident(
    session: AsyncSession, *, channel: str, external_id: str
) -> Resident | None:
    """The resident of this channel and id, or None (nobody is made by asking)."""
    return (await session.scalars(_resident_query(channel, external_id))).one_or_none()


async def get_or_create_resident(
    session: AsyncSession,
    *,
    channel: str,
    external_id: str,
    display_name: str | None = None,
) -> Resident:
    """Return the resident of this channel and id, creating them if new."""
    query = _resident_query(channel, external_id)
    # Every message looks its resident up: read first, so the common case writes nothing.
    resident = (await session.scalars(query)).one_or_none()
    if resident is None:
        # Insert-ignoring-conflicts, then read: two first messages of a new resident
        # handled at once must not both insert.
        await session.execute(
            _insert_ignoring_conflicts(
                session,
                Resident,
                {
                    "channel": channel,
                    "external_id": external_id,
                    "display_name": display_name,
                    "created_at": utcnow(),
                },
            )
        )
        resident = (await session.scalars(query)).one()
    if display_name is not None and resident.display_name != display_name:
        resident.display_name = display_name
    return resident


async def set_resident_language(
    session: AsyncSession,
    resident: Resident,
    *,
    language: str | None = None,
    choice: str | None = None,
) -> None:
    """Record the language last used and/or the explicit /lang choice (None: unchanged)."""
    if language is not None:
        resident.language = language
    if choice is not None:
        resident.language_choice = choice
    await session.flush()


async def next_ticket_number(session: AsyncSession, now: datetime) -> str:
    """Return the next ticket number of now's day in Asia/Shanghai, e.g. RO-261122-0007."""
    day = aware_utc(now).astimezone(NUMBER_TIMEZONE).strftime("%y%m%d")
    await session.execute(
        _insert_ignoring_conflicts(session, TicketNumberSequence, {"day": day, "last": 0})
    )
    # A single UPDATE ... RETURNING increments under the row lock, so
    # concurrent transactions (and processes) never get the same number.
    last = (
        await session.execute(
            update(TicketNumberSequence)
            .where(TicketNumberSequence.day == day)
            .values(last=TicketNumberSequence.last + 1)
            .returning(TicketNumberSequence.last)
            .execution_options(synchronize_session=False)
        )
    ).scalar_one()
    return format_number(day, last)


async def ticket_by_key(session: AsyncSession, idempotency_key: str | None) -> Ticket | None:
    """The ticket filed with this idempotency key, if any (None for no key)."""
    if idempotency_key is None:
        return None
    return await session.scalar(select(Ticket).where(Ticket.idempotency_key == idempotency_key))


async def insert_ticket(
    session: AsyncSession,
    ticket: Ticket,
    *,
    actor: str,
    note: str | None,
    auto_published: bool = False,
) -> tuple[Ticket, bool]:
    """Store a new ticket with its `submitted` event (and `published` when the category
    publishes at once); if another request won the race on its idempotency key,
    return that request's ticket instead."""
    try:
        # A savepoint, so that losing a race on the idempotency key leaves the
        # caller's transaction usable and we can return the winner's ticket.
        async with session.begin_nested():
            session.add(ticket)
            await session.flush()
            session.add(
                TicketEvent(
                    ticket_id=ticket.id,
                    actor=actor,
                    from_status=None,
                    to_status=TicketStatus.SUBMITTED,
                    note=note,
                    created_at=ticket.created_at,
                )
            )
            if auto_published:
                session.add(
                    TicketEvent(
                        ticket_id=ticket.id,
                        actor=SYSTEM_ACTOR,
                        from_status=TicketStatus.SUBMITTED,
                        to_status=TicketStatus.PUBLISHED,
                        note="auto-published",
                        created_at=ticket.created_at,
                    )
                )
    except IntegrityError:
        winner = await ticket_by_key(session, ticket.idempotency_key)
        if winner is None:  # not a lost race on the key: a real integrity error
            raise
        return winner, False
    return ticket, True


@dataclass(frozen=True)
class NewTicket:
    """What a resident asks for, as it is filed: the ticket's facts before it has a number.

    Every channel and client builds one (the chat's form, Open311, the JSON API, the
    staff desk); `idempotency_key` makes filing the same request twice file it once.
    """

    category_code: str
    description: str
    language: str
    address: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    preferred_time_text: str | None = None
    preferred_time_at: datetime | None = None
    phone: str | None = None
    photo_path: str | None = None
    beneficiary: str | None = None
    idempotency_key: str | None = None


class Filed(NamedTuple):
    """A filing's outcome: the ticket, and whether this call created it (False: the
    request was filed before under the same key, or another request won the race)."""

    ticket: Ticket
    created: bool


async def create_service_ticket(
    session: AsyncSession,
    *,
    resident: Resident,
    request: NewTicket,
    now: datetime | None = None,
) -> Filed:
    """Store a resident's ticket (submitted, or published when its category needs no
    review), or return the one already filed with this key. Routing it to
    organisations and staff is services.workflow.file_ticket's job."""
    existing = await ticket_by_key(session, request.idempotency_key)
    if existing is not None:
        return Filed(existing, False)
    category = await session.get(Category, request.category_code)
    if category is None:
        raise UnknownCategory(request.category_code, await category_codes(session))
    community = await find_community(
        session, address=request.address, latitude=request.latitude, longitude=request.longitude
    )
    now = aware_utc(now)
    ticket = Ticket(
        number=await next_ticket_number(session, now),
        resident_id=resident.id,
        category_code=category.code,
        community_id=community.id if community is not None else None,
        status=TicketStatus.SUBMITTED if category.needs_review else TicketStatus.PUBLISHED,
        description=request.description,
        address=request.address,
        latitude=request.latitude,
        longitude=request.longitude,
        preferred_time_text=request.preferred_time_text,
        preferred_time_at=request.preferred_time_at,
        phone=request.phone,
        beneficiary=request.beneficiary,
        photo_path=request.photo_path,
        language=request.language,
        channel=resident.channel,
        idempotency_key=request.idempotency_key,
        created_at=now,
        updated_at=now,
        published_at=None if category.needs_review else now,
    )
    ticket, created = await insert_ticket(
        session,
        ticket,
        actor=resident_actor(resident),
        note=None,
        auto_published=not category.needs_review,
    )
    return Filed(ticket, created)


async def list_resident_tickets(
    session: AsyncSession, resident: Resident, *, limit: int = 10
) -> list[Ticket]:
    """Return the resident's latest tickets, newest first."""
    rows = await session.scalars(
        select(Ticket)
        .where(Ticket.resident_id == resident.id)
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
        .limit(limit)
    )
    return list(rows)


async def get_ticket(session: AsyncSession, number: str) -> Ticket:
    """Return the ticket with this number or raise TicketNotFound."""
    ticket = await session.scalar(select(Ticket).where(Ticket.number == number))
    if ticket is None:
        raise TicketNotFound(number)
    return ticket


async def compare_and_set(
    session: AsyncSession,
    ticket: Ticket,
    new: TicketStatus,
    *,
    now: datetime,
    values: Mapping[str, Any] | None = None,
) -> bool:
    """Set the ticket's status (and `values`) only if its row still has the status and
    the holder this object was read with, and say whether it did. Of two concurrent
    moves from the same state (two organisations claiming) exactly one updates the
    row; and staff may hand a claimed ticket to another organisation without a status
    change, so the old holder's start/done/release must compare the holder too. On
    success the object carries the new values; otherwise it is refreshed with the
    row's status and holder, for the caller's error."""
    holder = (
        Ticket.organisation_id.is_(None)
        if ticket.organisation_id is None
        else Ticket.organisation_id == ticket.organisation_id
    )
    result: CursorResult[Any] = await session.execute(  # type: ignore[assignment]
        update(Ticket)
        .where(Ticket.id == ticket.id, Ticket.status == ticket.status, holder)
        .values(status=new.value, updated_at=now, **(values or {}))
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        actual = (
            await session.execute(
                select(Ticket.status, Ticket.organisation_id).where(Ticket.id == ticket.id)
            )
        ).one()
        set_committed_value(ticket, "status", actual.status)
        set_committed_value(ticket, "organisation_id", actual.organisation_id)
        return False
    set_committed_value(ticket, "status", new.value)
    set_committed_value(ticket, "updated_at", now)
    for column, value in (values or {}).items():
        set_committed_value(ticket, column, value)
    return True


async def transition(
    session: AsyncSession,
    ticket: Ticket,
    new_status: TicketStatus | str,
    *,
    actor: str,
    note: str | None = None,
    now: datetime | None = None,
    values: Mapping[str, Any] | None = None,
) -> TicketEvent:
    """Move ticket to new_status if the lifecycle allows it, and log the event;
    `values` are other columns set in the same conditional update."""
    current = TicketStatus(ticket.status)
    new = TicketStatus(new_status)
    check_transition(current, new)
    now = aware_utc(now)
    if not await compare_and_set(session, ticket, new, now=now, values=values):
        raise IllegalTransition(str(ticket.status), new.value)
    event = TicketEvent(
        ticket_id=ticket.id,
        actor=actor,
        from_status=current.value,
        to_status=new.value,
        note=note,
        organisation_id=(values or {}).get("organisation_id"),
        created_at=now,
    )
    session.add(event)
    await session.flush()
    return event
