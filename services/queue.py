"""The staff queue: tickets filtered, searched, sorted and paged in the database.

Emergency and hand-off tickets no staff member has acknowledged come first in every
order, until someone does (services.emergency). "Needs attention" (shown next by
default) means an open ticket that is escalated, urgent (emergency / handoff),
unacknowledged, or overdue: past its category's claim SLA (awaiting
review since filing, unclaimed since publication, reopened and not taken back) or
past its done SLA since the claim — the same clocks as the sweep (services.workflow).

Search is a case-insensitive substring match (LIKE/ILIKE) over the description and
the ticket number; a whole ticket number is an exact, indexed lookup. Paging is
LIMIT/OFFSET with the id as tie-breaker, so pages are stable; the count stops at
COUNT_CAP so it stays cheap on a large table. docs/dashboard.md lists the indexes
this needs at a million tickets.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, and_, case, false, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.emergency import ALERT_KINDS, needs_acknowledgement
from services.lifecycle import ACTIVE, IN_HAND, OPEN, TicketStatus, values
from services.models import (
    Category,
    Community,
    Organisation,
    Resident,
    Staff,
    Ticket,
    TicketEvent,
    TicketFollower,
    UTCDateTime,
)
from services.numbers import is_number
from services.tickets import aware_utc, get_ticket

S = TicketStatus
COUNT_CAP = 10_000
MAX_PER_PAGE = 200
MAX_SEARCH = 100
# "assigned to org:3" in an event note names an organisation.
_ORG_REF = re.compile(r"\borg:(\d+)\b")


class StatusFilter(StrEnum):
    """Status groups besides single statuses."""

    ACTIVE = "active"  # every ticket not ended yet (the default)
    ALL = "all"


class Sort(StrEnum):
    """Orders of the queue."""

    ATTENTION = "attention"  # needs attention first, then newest
    NEWEST = "newest"
    OLDEST = "oldest"
    UPDATED = "updated"


@dataclass(frozen=True)
class QueueQuery:
    """What staff asked to see. `communities` None: every community (admin); else
    those communities plus tickets whose community is not known."""

    communities: Sequence[int] | None = None
    status: str = StatusFilter.ACTIVE.value
    category: str | None = None
    community_id: int | None = None
    organisation_id: int | None = None
    created_from: date | None = None
    created_to: date | None = None
    attention_only: bool = False
    search: str | None = None
    sort: Sort = Sort.ATTENTION
    page: int = 1
    per_page: int = 50
    timezone: str = "Asia/Shanghai"


@dataclass(frozen=True)
class QueueRow:
    """One ticket of the queue with the names staff read."""

    ticket: Ticket
    category: Category | None
    community: Community | None
    organisation: Organisation | None
    overdue: bool
    attention: bool
    # An emergency or hand-off nobody has acknowledged yet (first in every order).
    unacknowledged: bool = False
    # How long an open ticket has waited since it was filed, in minutes, and when its
    # current SLA runs out (None when closed or without a category).
    waited_minutes: int | None = None
    deadline: datetime | None = None

    @property
    def escalated(self) -> bool:
        return self.ticket.escalated_at is not None


@dataclass(frozen=True)
class QueuePage:
    """One page of the queue."""

    rows: list[QueueRow]
    total: int
    total_capped: bool
    page: int
    per_page: int
    categories: dict[str, Category] = field(default_factory=dict)

    @property
    def has_next(self) -> bool:
        return self.page * self.per_page < self.total

    @property
    def has_previous(self) -> bool:
        return self.page > 1


def _day_start(day: date, timezone: str) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(timezone))


def overdue_condition(categories: Sequence[Category], now: datetime) -> ColumnElement[bool]:
    """SQL: the ticket is open and past its category's claim or done SLA at `now`.

    The deadlines are looked up per category with one CASE on the category code (the
    cut-off times are computed here, so no interval arithmetic, which SQLite and
    PostgreSQL spell differently): four comparisons per row instead of a branch per
    category, which matters when the default queue sorts every open ticket by it."""
    if not categories:
        return false()
    claim_by = case(
        {
            c.code: literal(now - timedelta(hours=c.sla_claim_hours), UTCDateTime())
            for c in categories
        },
        value=Ticket.category_code,
    )
    done_by = case(
        {
            c.code: literal(now - timedelta(hours=c.sla_done_hours), UTCDateTime())
            for c in categories
        },
        value=Ticket.category_code,
    )
    return or_(
        and_(Ticket.status == S.SUBMITTED.value, Ticket.created_at < claim_by),
        and_(Ticket.status == S.PUBLISHED.value, Ticket.published_at < claim_by),
        and_(Ticket.status == S.REOPENED.value, Ticket.updated_at < claim_by),
        and_(
            Ticket.status.in_(values(IN_HAND)),
            Ticket.claimed_at < done_by,
        ),
    )


def unacknowledged_condition() -> ColumnElement[bool]:
    """SQL: an emergency or hand-off ticket waiting for staff that no staff member has
    acknowledged (services.emergency.needs_acknowledgement)."""
    return and_(
        Ticket.kind.in_(sorted(ALERT_KINDS)),
        Ticket.status == S.SUBMITTED.value,
        Ticket.acknowledged_at.is_(None),
    )


def attention_condition(categories: Sequence[Category], now: datetime) -> ColumnElement[bool]:
    """SQL: an open ticket that is escalated, urgent or overdue."""
    return and_(
        Ticket.status.in_(values(OPEN)),
        or_(
            Ticket.escalated_at.is_not(None),
            Ticket.urgent.is_(True),
            unacknowledged_condition(),
            overdue_condition(categories, now),
        ),
    )


def deadline(ticket: Ticket, category: Category | None) -> datetime | None:
    """When the ticket's current claim or done SLA runs out (None when none runs)."""
    if category is None:
        return None
    claim = timedelta(hours=category.sla_claim_hours)
    done = timedelta(hours=category.sla_done_hours)
    since: datetime | None
    limit = claim
    if ticket.status == S.SUBMITTED:
        since = ticket.created_at
    elif ticket.status == S.PUBLISHED:
        since = ticket.published_at
    elif ticket.status == S.REOPENED:
        since = ticket.updated_at
    elif ticket.status in IN_HAND:
        since, limit = ticket.claimed_at, done
    else:
        return None
    return since + limit if since is not None else None


def is_overdue(ticket: Ticket, category: Category | None, now: datetime) -> bool:
    """The Python twin of overdue_condition, for one loaded ticket."""
    limit = deadline(ticket, category)
    return limit is not None and now > limit


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _filtered(query: QueueQuery, categories: Sequence[Category], now: datetime) -> Select[Ticket]:
    statement = select(Ticket)
    if query.communities is not None:
        statement = statement.where(
            or_(
                Ticket.community_id.in_(list(query.communities)),
                Ticket.community_id.is_(None),
            )
        )
    if query.status == StatusFilter.ACTIVE:
        statement = statement.where(Ticket.status.in_(values(ACTIVE)))
    elif query.status != StatusFilter.ALL:
        statement = statement.where(Ticket.status == TicketStatus(query.status).value)
    if query.category:
        statement = statement.where(Ticket.category_code == query.category)
    if query.community_id is not None:
        statement = statement.where(Ticket.community_id == query.community_id)
    if query.organisation_id is not None:
        statement = statement.where(Ticket.organisation_id == query.organisation_id)
    if query.created_from is not None:
        statement = statement.where(
            Ticket.created_at >= _day_start(query.created_from, query.timezone)
        )
    if query.created_to is not None:
        statement = statement.where(
            Ticket.created_at < _day_start(query.created_to + timedelta(days=1), query.timezone)
        )
    if query.attention_only:
        statement = statement.where(attention_condition(categories, now))
    search = (query.search or "").strip()[:MAX_SEARCH]
    if search:
        if is_number(search.upper()):
            statement = statement.where(Ticket.number == search.upper())
        else:
            pattern = _like_pattern(search)
            statement = statement.where(
                or_(
                    Ticket.description.ilike(pattern, escape="\\"),
                    Ticket.number.ilike(pattern, escape="\\"),
                )
            )
    return statement


def _ordered(
    statement: Select[Ticket],
    query: QueueQuery,
    categories: Sequence[Category],
    now: datetime,
) -> Select[Ticket]:
    # Emergencies and hand-offs nobody has acknowledged come first whatever the order.
    alerts = case((unacknowledged_condition(), 0), else_=1)
    if query.sort == Sort.OLDEST:
        return statement.order_by(alerts, Ticket.created_at.asc(), Ticket.id.asc())
    if query.sort == Sort.UPDATED:
        return statement.order_by(alerts, Ticket.updated_at.desc(), Ticket.id.desc())
    if query.sort == Sort.ATTENTION:
        first = case((attention_condition(categories, now), 0), else_=1)
        return statement.order_by(alerts, first, Ticket.created_at.desc(), Ticket.id.desc())
    return statement.order_by(alerts, Ticket.created_at.desc(), Ticket.id.desc())


async def search_queue(
    session: AsyncSession, query: QueueQuery, *, now: datetime | None = None
) -> QueuePage:
    """One page of the queue for `query`, with the names each row shows."""
    now = aware_utc(now)
    categories = {
        c.code: c for c in await session.scalars(select(Category).order_by(Category.sort_order))
    }
    listed = list(categories.values())
    per_page = max(1, min(query.per_page, MAX_PER_PAGE))
    page = max(1, query.page)
    statement = _filtered(query, listed, now)
    counted = await session.scalar(
        select(func.count()).select_from(statement.limit(COUNT_CAP + 1).subquery())
    )
    total = int(counted or 0)
    tickets = list(
        await session.scalars(
            _ordered(statement, query, listed, now).limit(per_page).offset((page - 1) * per_page)
        )
    )
    community_ids = {t.community_id for t in tickets if t.community_id is not None}
    organisation_ids = {t.organisation_id for t in tickets if t.organisation_id is not None}
    communities = (
        {
            c.id: c
            for c in await session.scalars(select(Community).where(Community.id.in_(community_ids)))
        }
        if community_ids
        else {}
    )
    organisations = (
        {
            o.id: o
            for o in await session.scalars(
                select(Organisation).where(Organisation.id.in_(organisation_ids))
            )
        }
        if organisation_ids
        else {}
    )
    rows = []
    for ticket in tickets:
        category = categories.get(ticket.category_code or "")
        overdue = is_overdue(ticket, category, now)
        open_ = ticket.status in OPEN
        waiting = needs_acknowledgement(ticket)
        rows.append(
            QueueRow(
                ticket=ticket,
                category=category,
                community=communities.get(ticket.community_id or 0),
                organisation=organisations.get(ticket.organisation_id or 0),
                overdue=overdue,
                attention=waiting
                or (open_ and (overdue or ticket.urgent or ticket.escalated_at is not None)),
                unacknowledged=waiting,
                waited_minutes=(
                    max(0, int((now - ticket.created_at).total_seconds() // 60)) if open_ else None
                ),
                deadline=deadline(ticket, category),
            )
        )
    return QueuePage(
        rows=rows,
        total=min(total, COUNT_CAP),
        total_capped=total > COUNT_CAP,
        page=page,
        per_page=per_page,
        categories=categories,
    )


# --- one ticket ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineEntry:
    """One event of a ticket's history with its actor named."""

    event: TicketEvent
    actor_kind: str  # "staff" | "org" | "resident" | "system"
    actor_name: str | None


@dataclass(frozen=True)
class TicketDetail:
    """Everything the ticket page shows."""

    ticket: Ticket
    category: Category | None
    community: Community | None
    organisation: Organisation | None
    resident: Resident | None
    merged_into: str | None
    followers: int
    timeline: list[TimelineEntry]
    organisation_names: dict[int, str]
    overdue: bool
    # The staff member who acknowledged an emergency or hand-off (services.emergency).
    acknowledged_by: str | None = None


async def ticket_detail(
    session: AsyncSession, number: str, *, now: datetime | None = None
) -> TicketDetail:
    """A ticket with its names, followers and timeline (oldest first), or TicketNotFound."""
    now = aware_utc(now)
    ticket = await get_ticket(session, number)
    category = await session.get(Category, ticket.category_code) if ticket.category_code else None
    events = list(
        await session.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
        )
    )
    staff_ids: set[int] = {ticket.acknowledged_by} if ticket.acknowledged_by else set()
    org_ids: set[int] = {ticket.organisation_id} if ticket.organisation_id else set()
    for event in events:
        kind, _, ident = event.actor.partition(":")
        if kind == "staff" and ident.isdigit():
            staff_ids.add(int(ident))
        elif kind == "org" and ident.isdigit():
            org_ids.add(int(ident))
        for match in _ORG_REF.finditer(event.note or ""):
            org_ids.add(int(match.group(1)))
    staff_names: dict[int, str] = {}
    if staff_ids:
        rows = await session.execute(select(Staff.id, Staff.name).where(Staff.id.in_(staff_ids)))
        staff_names = {staff_id: name for staff_id, name in rows}
    org_names: dict[int, str] = {}
    if org_ids:
        rows = await session.execute(
            select(Organisation.id, Organisation.name).where(Organisation.id.in_(org_ids))
        )
        org_names = {org_id: name for org_id, name in rows}
    timeline = []
    for event in events:
        kind, _, ident = event.actor.partition(":")
        name: str | None = None
        if kind == "staff" and ident.isdigit():
            name = staff_names.get(int(ident))
        elif kind == "org" and ident.isdigit():
            name = org_names.get(int(ident))
        timeline.append(TimelineEntry(event=event, actor_kind=kind or "system", actor_name=name))
    merged_into = (
        await session.scalar(select(Ticket.number).where(Ticket.id == ticket.merged_into_id))
        if ticket.merged_into_id
        else None
    )
    followers = await session.scalar(
        select(func.count())
        .select_from(TicketFollower)
        .where(TicketFollower.ticket_id == ticket.id)
    )
    return TicketDetail(
        ticket=ticket,
        category=category,
        community=await session.get(Community, ticket.community_id)
        if ticket.community_id
        else None,
        organisation=(
            await session.get(Organisation, ticket.organisation_id)
            if ticket.organisation_id
            else None
        ),
        resident=await session.get(Resident, ticket.resident_id),
        merged_into=merged_into,
        followers=int(followers or 0),
        timeline=timeline,
        organisation_names=org_names,
        overdue=is_overdue(ticket, category, now),
        acknowledged_by=(
            staff_names.get(ticket.acknowledged_by) if ticket.acknowledged_by else None
        ),
    )
