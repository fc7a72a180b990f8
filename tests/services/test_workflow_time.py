"""What time does to tickets (the sweep), organisations' standings, and staff alerts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from services import matching, workflow
from services.alerts import AlertKind, record_alert
from services.lifecycle import TicketStatus
from services.models import Resident, Ticket
from services.tickets import get_ticket
from tests.services.helpers import (
    NOW,
    Org,
    button_data,
    events,
    file,
    keys,
    make_org,
    make_staff,
    outbox,
    resident,
)

S = TicketStatus
HOUR = timedelta(hours=1)
SECOND = timedelta(seconds=1)


async def _sweep(
    session: AsyncSession, at: timedelta, mine: list[Ticket]
) -> tuple[set[str], set[str]]:
    """Sweep at NOW + at; which of `mine` were escalated and auto-closed."""
    numbers = {t.number for t in mine}
    result = await workflow.sweep(session, now=NOW + at)
    return set(result.escalated) & numbers, set(result.auto_closed) & numbers


# --- sweep ----------------------------------------------------------------------------------


async def test_unclaimed_past_claim_sla_escalated_once(session: AsyncSession) -> None:
    member = await make_staff(session)
    org = await make_org(session)
    ticket = await file(session, await resident(session))  # repair: claim SLA 24 h
    assert await _sweep(session, 24 * HOUR, [ticket]) == (set(), set())
    assert ticket.escalated_at is None
    assert await _sweep(session, 24 * HOUR + SECOND, [ticket]) == ({ticket.number}, set())
    assert ticket.escalated_at == NOW + 24 * HOUR + SECOND
    assert ticket.status == S.PUBLISHED
    [flag] = [e for e in await events(session, ticket) if e.action == "escalated"]
    assert (flag.actor, flag.from_status, flag.to_status, flag.note) == (
        "system",
        "published",
        "published",
        "reason_unclaimed",
    )
    [told] = await outbox(session, chat=member.chat, key="s_escalated")
    assert told.ticket_id == ticket.id
    assert (told.params["reason"], told.params["hours"]) == ("reason_unclaimed", 24)
    assert button_data(told) == [[f"s:asg:{ticket.number}"]]
    # Not twice.
    assert await _sweep(session, 48 * HOUR, [ticket]) == (set(), set())
    assert len([e for e in await events(session, ticket) if e.action == "escalated"]) == 1
    assert len(await outbox(session, chat=member.chat, key="s_escalated")) == 1
    assert await keys(session, org.chat) == ["o_offer"]


async def test_claim_sla_counts_from_publication(session: AsyncSession) -> None:
    member = await make_staff(session)
    ticket = await file(session, await resident(session), category="policy")  # claim SLA 24 h
    # Waiting for review past the SLA is escalated as unreviewed ...
    assert await _sweep(session, 24 * HOUR, [ticket]) == (set(), set())
    assert await _sweep(session, 30 * HOUR, [ticket]) == ({ticket.number}, set())
    [flag] = [e for e in await events(session, ticket) if e.action == "escalated"]
    assert flag.note == "reason_unreviewed"
    # ... and approving starts the wait for a claim afresh (the flag is cleared).
    await workflow.approve(session, number=ticket.number, staff=member.staff, now=NOW + 30 * HOUR)
    assert await _sweep(session, 54 * HOUR, [ticket]) == (set(), set())
    assert await _sweep(session, 54 * HOUR + SECOND, [ticket]) == ({ticket.number}, set())


@pytest.mark.parametrize("started", [False, True])
async def test_claimed_past_done_sla_escalated(session: AsyncSession, started: bool) -> None:
    member = await make_staff(session)
    org = await make_org(session, categories=["property"])  # done SLA 48 h
    ticket = await file(session, await resident(session), category="property")
    await workflow.claim(
        session, number=ticket.number, organisation=org.organisation, now=NOW + HOUR
    )
    if started:
        await workflow.start(
            session, number=ticket.number, organisation=org.organisation, now=NOW + 2 * HOUR
        )
    assert await _sweep(session, 49 * HOUR, [ticket]) == (set(), set())
    assert await _sweep(session, 49 * HOUR + SECOND, [ticket]) == ({ticket.number}, set())
    [flag] = [e for e in await events(session, ticket) if e.action == "escalated"]
    assert (flag.actor, flag.note) == ("system", "reason_overdue")
    [told] = await outbox(session, chat=member.chat, key="s_escalated")
    assert told.params["organisation"] == org.organisation.name
    assert await _sweep(session, 100 * HOUR, [ticket]) == (set(), set())


async def test_done_unrated_closed_after_seven_days(session: AsyncSession) -> None:
    org = await make_org(session)
    owner = await resident(session)
    ticket = await file(session, owner)
    await workflow.claim(session, number=ticket.number, organisation=org.organisation, now=NOW)
    await workflow.done(session, number=ticket.number, organisation=org.organisation, now=NOW)
    week = timedelta(days=7)
    assert await _sweep(session, week, [ticket]) == (set(), set())
    assert ticket.status == S.DONE
    assert await _sweep(session, week + SECOND, [ticket]) == (set(), {ticket.number})
    assert (await keys(session, owner.external_id))[-1] == "n_auto_closed"
    session.expunge_all()
    stored = await get_ticket(session, ticket.number)
    assert stored.status == S.CLOSED
    assert stored.rating is None
    assert stored.closed_at == NOW + week + SECOND
    last = (await events(session, stored))[-1]
    assert (last.actor, last.from_status, last.to_status, last.note) == (
        "system",
        "done",
        "closed",
        "unrated",
    )
    # Once closed, never again.
    assert await _sweep(session, 2 * week, [stored]) == (set(), set())
    # A done ticket is not escalated, however late.
    assert stored.escalated_at is None


async def test_sweep_leaves_finished_and_staff_tickets_alone(session: AsyncSession) -> None:
    await make_staff(session, role="admin", communities=())
    owner = await resident(session)
    member = await make_staff(session)
    cancelled = await file(session, owner)
    await workflow.cancel(session, number=cancelled.number, resident=owner)
    closed = await file(session, owner)
    await workflow.close(session, number=closed.number, staff=member.staff, reason="x")
    alert = await record_alert(
        session,
        resident=owner,
        kind=AlertKind.HANDOFF,
        description="找人工",
        language="zh",
        idempotency_key=None,
        now=NOW,
    )
    assert await _sweep(session, timedelta(days=30), [cancelled, closed, alert]) == (set(), set())


# --- standings ------------------------------------------------------------------------------


async def _finish(
    session: AsyncSession,
    org: Org,
    owner: Resident,
    *,
    stars: int | None,
    late: bool = False,
) -> Ticket:
    ticket = await file(session, owner)
    await workflow.claim(session, number=ticket.number, organisation=org.organisation, now=NOW)
    finished_at = NOW + (timedelta(hours=100) if late else HOUR)  # repair: done SLA 72 h
    await workflow.done(
        session, number=ticket.number, organisation=org.organisation, now=finished_at
    )
    if stars is not None:
        await workflow.rate(session, number=ticket.number, resident=owner, stars=stars)
    return ticket


async def test_standings(session: AsyncSession) -> None:
    org = await make_org(session, communities=None)
    fresh = await make_org(session, communities=None)
    owner = await resident(session)
    await _finish(session, org, owner, stars=5)
    await _finish(session, org, owner, stars=2, late=True)
    await _finish(session, org, owner, stars=None)  # done, waiting for a rating
    # One released ticket, and one held (open load).
    released = await file(session, owner)
    await workflow.claim(session, number=released.number, organisation=org.organisation)
    await workflow.release(
        session, number=released.number, organisation=org.organisation, reason="忙"
    )
    held = await file(session, owner)
    await workflow.claim(session, number=held.number, organisation=org.organisation)
    reopened = await _finish(session, org, owner, stars=None)
    await workflow.not_fixed(session, number=reopened.number, resident=owner)

    result = await matching.standings(session, [org.id, fresh.id])
    mine = result[org.id]
    assert mine.organisation_id == org.id
    assert mine.average_rating == pytest.approx(3.5)
    assert mine.ratings == 2
    assert mine.completed == 3  # the reopened one is not done any more
    assert mine.on_time_rate == pytest.approx(2 / 3)
    assert mine.releases == 1
    assert mine.open_load == 2  # held + reopened
    blank = result[fresh.id]
    assert (blank.average_rating, blank.ratings, blank.completed) == (None, 0, 0)
    assert (blank.on_time_rate, blank.releases, blank.open_load) == (None, 0, 0)
    assert await matching.standings(session, []) == {}


async def test_candidates_prefer_on_time_at_equal_rating(session: AsyncSession) -> None:
    punctual = await make_org(session, communities=None)
    tardy = await make_org(session, communities=None)
    owner = await resident(session)
    await _finish(session, tardy, owner, stars=4, late=True)
    await _finish(session, punctual, owner, stars=4)
    ticket = await file(session, owner)
    found = await matching.candidates(session, ticket)
    assert [o.id for o in found] == [punctual.id, tardy.id]
    assert [o.id for o in await matching.candidates(session, ticket, exclude=[punctual.id])] == [
        tardy.id
    ]


# --- alerts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "urgent"), [(AlertKind.EMERGENCY, True), (AlertKind.HANDOFF, True)]
)
async def test_record_alert_tells_every_staff_member_once(
    session: AsyncSession, kind: AlertKind, urgent: bool
) -> None:
    admin = await make_staff(session, role="admin", communities=())
    local = await make_staff(session, communities=["和平新村社区"])
    org = await make_org(session, communities=None)
    owner = await resident(session)
    ticket = await record_alert(
        session,
        resident=owner,
        kind=kind,
        description="厨房有煤气味",
        language="zh",
        idempotency_key=f"alert:{kind}:1",
        now=NOW,
    )
    again = await record_alert(
        session,
        resident=owner,
        kind=kind,
        description="厨房有煤气味",
        language="zh",
        idempotency_key=f"alert:{kind}:1",
        now=NOW + HOUR,
    )
    assert again.id == ticket.id
    assert (ticket.kind, ticket.urgent, ticket.status) == (kind.value, urgent, "submitted")
    assert ticket.category_code is None and ticket.community_id is None
    assert ticket.created_at == NOW
    for member in (admin, local):
        [message] = await outbox(session, chat=member.chat)
        assert message.message_key == f"s_alert_{kind.value}"
        assert message.ticket_id == ticket.id
        assert message.params["resident"] == "张三"
        assert message.params["description"] == "厨房有煤气味"
        assert message.params["category"] == "label_needs_person"
        # Staff's own steps (services.emergency), acknowledge first; no dispatch wording.
        assert button_data(message)[0] == [f"s:ack:{ticket.number}"]
        assert f"s:res:{ticket.number}" in button_data(message)[-1]
    assert await outbox(session, chat=org.chat) == []
    assert [
        (e.actor, e.from_status, e.to_status, e.note) for e in await events(session, ticket)
    ] == [(f"resident:telegram:{owner.external_id}", None, "submitted", kind.value)]
    # Staff close it when dealt with.
    await workflow.close(session, number=ticket.number, staff=admin.staff, reason="已处理")
    assert ticket.status == S.CLOSED


async def test_alerts_without_key_are_separate(session: AsyncSession) -> None:
    member = await make_staff(session, role="admin", communities=())
    owner = await resident(session)
    for _ in range(2):
        await record_alert(
            session,
            resident=owner,
            kind=AlertKind.HANDOFF,
            description="人工",
            language="zh",
            idempotency_key=None,
            now=NOW,
        )
    assert await keys(session, member.chat) == ["s_alert_handoff", "s_alert_handoff"]


async def test_a_reopened_ticket_not_taken_back_is_escalated(session: AsyncSession) -> None:
    member = await make_staff(session)
    org = await make_org(session)
    ticket = await file(session, await resident(session))  # repair: claim SLA 24 h
    customer = await session.get(Resident, ticket.resident_id)
    assert customer is not None
    await workflow.claim(session, number=ticket.number, organisation=org.organisation, now=NOW)
    await workflow.done(session, number=ticket.number, organisation=org.organisation, now=NOW)
    await workflow.not_fixed(session, number=ticket.number, resident=customer, now=NOW + 2 * HOUR)
    assert await _sweep(session, 26 * HOUR, [ticket]) == (set(), set())
    assert await _sweep(session, 26 * HOUR + SECOND, [ticket]) == ({ticket.number}, set())
    [told] = await outbox(session, chat=member.chat, key="s_escalated")
    assert told.params["reason"] == "reason_unclaimed"


async def test_claiming_clears_the_flag_so_overdue_work_is_escalated_again(
    session: AsyncSession,
) -> None:
    await make_staff(session)
    org = await make_org(session)
    ticket = await file(session, await resident(session))  # repair: 24 h to claim, 72 h to do
    assert await _sweep(session, 25 * HOUR, [ticket]) == ({ticket.number}, set())
    await workflow.claim(
        session, number=ticket.number, organisation=org.organisation, now=NOW + 26 * HOUR
    )
    assert ticket.escalated_at is None
    assert await _sweep(session, 98 * HOUR, [ticket]) == (set(), set())
    assert await _sweep(session, 98 * HOUR + SECOND, [ticket]) == ({ticket.number}, set())
    flags = [e.note for e in await events(session, ticket) if e.action == "escalated"]
    assert flags == ["reason_unclaimed", "reason_overdue"]
