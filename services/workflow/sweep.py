"""The periodic sweep: escalation of unclaimed and overdue tickets, auto-close of done ones."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services import emergency
from services.errors import (
    IllegalTransition,
)
from services.lifecycle import OPEN, values
from services.lifecycle import TicketStatus as S
from services.models import (
    Category,
    Ticket,
)
from services.notify import (
    notify_residents,
)
from services.tickets import (
    SYSTEM_ACTOR,
    aware_utc,
    transition,
)
from services.workflow.staff import escalate

AUTO_CLOSE_AFTER = timedelta(days=7)


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
            Ticket.status.in_(values(OPEN)),
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
