"""Settlement (政府买单): which tickets are paid, and totals to the cent (Decimal)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from services import workflow
from services.models import Category, Resident, Ticket
from services.settlement import Settlement, period_bounds, settle
from tests.services.helpers import NOW, Org, file, make_org, make_staff, resident

HOUR = timedelta(hours=1)
# NOW is 2031-05-06 10:00 in Shanghai.
DAY = date(2031, 5, 6)


async def _done(session: AsyncSession, org: Org, *, at: timedelta = HOUR) -> Ticket:
    who = await resident(session)
    ticket = await file(session, who, now=NOW)
    await workflow.claim(session, number=ticket.number, organisation=org.organisation, now=NOW)
    await workflow.done(session, number=ticket.number, organisation=org.organisation, now=NOW + at)
    return ticket


async def _rated(session: AsyncSession, org: Org, stars: int) -> Ticket:
    ticket = await _done(session, org)
    owner = await session.get(Resident, ticket.resident_id)
    assert owner is not None
    await workflow.rate(
        session, number=ticket.number, resident=owner, stars=stars, now=NOW + 2 * HOUR
    )
    return ticket


def _mine(result: Settlement, *orgs: Org) -> dict[int, list[str]]:
    ids = {org.id for org in orgs}
    return {
        o.organisation_id: [line.number for line in o.lines]
        for o in result.organisations
        if o.organisation_id in ids
    }


async def test_paid_tickets_and_exact_totals(session: AsyncSession) -> None:
    repair = await session.get(Category, "repair")
    assert repair is not None
    repair.unit_price = Decimal("33.33")
    staff = await make_staff(session, role="admin")
    first = await make_org(session)
    second = await make_org(session)
    rated_5 = await _rated(session, first, 5)
    rated_2 = await _rated(session, first, 2)
    # Done, never confirmed: the 7-day sweep closes it unrated; it is paid.
    unrated = await _done(session, first)
    await workflow.sweep(session, now=NOW + timedelta(days=7, hours=2))
    # Done, then closed by staff: the work was done, it is paid.
    staff_closed = await _done(session, second)
    await workflow.close(
        session,
        number=staff_closed.number,
        staff=staff.staff,
        reason="reason_handled",
        now=NOW + 3 * HOUR,
    )
    # Not paid: closed by staff before the work was done, cancelled, still done-unconfirmed.
    withdrawn = await file(session, await resident(session), now=NOW)
    await workflow.claim(
        session, number=withdrawn.number, organisation=second.organisation, now=NOW
    )
    await workflow.close(
        session, number=withdrawn.number, staff=staff.staff, reason="reason_handled", now=NOW + HOUR
    )
    pending = await _done(session, second, at=timedelta(days=8))

    result = await settle(session, start=DAY, end=DAY + timedelta(days=30))
    assert _mine(result, first, second) == {
        first.id: [rated_5.number, rated_2.number, unrated.number],
        second.id: [staff_closed.number],
    }
    by_id = {o.organisation_id: o for o in result.organisations}
    assert by_id[first.id].total == Decimal("99.99")
    assert by_id[first.id].rated == 2
    assert by_id[first.id].average_rating == Decimal("3.50")
    assert by_id[second.id].total == Decimal("33.33")
    assert by_id[second.id].average_rating is None
    assert all(
        isinstance(line.unit_price, Decimal) for o in result.organisations for line in o.lines
    )
    assert withdrawn.number not in str(result) and pending.number not in str(result)
    # The grand total is the exact sum of the organisations' totals.
    assert result.total == sum((o.total for o in result.organisations), Decimal("0.00"))


async def test_the_period_is_local_dates_inclusive(session: AsyncSession) -> None:
    org = await make_org(session)
    ticket = await _rated(session, org, 4)  # closed at 12:00 Shanghai on DAY
    assert _mine(await settle(session, start=DAY, end=DAY), org) == {org.id: [ticket.number]}
    assert (
        _mine(
            await settle(session, start=DAY - timedelta(days=3), end=DAY - timedelta(days=1)), org
        )
        == {}
    )
    assert (
        _mine(
            await settle(session, start=DAY + timedelta(days=1), end=DAY + timedelta(days=2)), org
        )
        == {}
    )
    since, until = period_bounds(DAY, DAY, "Asia/Shanghai")
    assert until - since == timedelta(days=1)
    with pytest.raises(ValueError):
        period_bounds(DAY, DAY - timedelta(days=1), "Asia/Shanghai")


async def test_staff_settle_their_communities_only(session: AsyncSession) -> None:
    org = await make_org(session, communities=None)
    ticket = await _rated(session, org, 5)  # in 幸福里社区
    assert ticket.community_id is not None
    other = ticket.community_id + 1
    assert _mine(await settle(session, start=DAY, end=DAY, communities=[other]), org) == {}
    assert _mine(
        await settle(session, start=DAY, end=DAY, communities=[ticket.community_id]), org
    ) == {org.id: [ticket.number]}
