"""The numbers behind the charts."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services import workflow
from services.models import Resident, Ticket
from services.reports import (
    league_table,
    median_durations,
    satisfaction_per_organisation,
    tickets_per_category_per_week,
    weeks_between,
)
from tests.services.helpers import NOW, Org, file, make_org, resident

HOUR = timedelta(hours=1)
DAY = date(2031, 5, 6)  # a Tuesday; NOW is 10:00 in Shanghai


async def _finish(
    session: AsyncSession, org: Org, *, claim: float, done: float, stars: int | None
) -> Ticket:
    ticket = await file(session, await resident(session), category="elder_care", now=NOW)
    await workflow.claim(
        session, number=ticket.number, organisation=org.organisation, now=NOW + claim * HOUR
    )
    await workflow.done(
        session, number=ticket.number, organisation=org.organisation, now=NOW + done * HOUR
    )
    if stars is not None:
        owner = await session.get(Resident, ticket.resident_id)
        assert owner is not None
        await workflow.rate(
            session, number=ticket.number, resident=owner, stars=stars, now=NOW + (done + 1) * HOUR
        )
    return ticket


async def test_weeks_start_on_monday_in_local_time(session: AsyncSession) -> None:
    assert weeks_between(date(2031, 5, 6), date(2031, 5, 19)) == [
        date(2031, 5, 5),
        date(2031, 5, 12),
        date(2031, 5, 19),
    ]
    # 2031-05-11 23:30 Shanghai is Sunday (still the week of 5 May), 15:30 UTC.
    sunday_night = NOW + timedelta(days=5, hours=13, minutes=30)
    await file(session, await resident(session), category="childcare", now=sunday_night)
    await file(session, await resident(session), category="childcare", now=NOW)
    await file(session, await resident(session), category="childcare", now=NOW + timedelta(days=7))
    weekly = await tickets_per_category_per_week(
        session, start=date(2031, 5, 5), end=date(2031, 5, 18)
    )
    assert weekly.weeks == [date(2031, 5, 5), date(2031, 5, 12)]
    assert weekly.counts["childcare"] == [2, 1]


async def test_median_times_and_satisfaction(session: AsyncSession) -> None:
    org = await make_org(session, categories=["elder_care"])
    other = await make_org(session, categories=["elder_care"])
    await _finish(session, org, claim=1, done=4, stars=5)
    await _finish(session, org, claim=3, done=10, stars=3)
    await _finish(session, other, claim=2, done=6, stars=None)
    durations = await median_durations(session, start=DAY, end=DAY)
    assert durations.to_claim["elder_care"] == 2.0
    assert durations.to_done["elder_care"] == 6.0
    satisfaction = {
        s.organisation_id: s
        for s in await satisfaction_per_organisation(session, start=DAY, end=DAY)
    }
    assert (satisfaction[org.id].average, satisfaction[org.id].ratings) == (4.0, 2)
    assert other.id not in satisfaction


async def test_league_table_best_and_worst(session: AsyncSession) -> None:
    good = await make_org(session, categories=["elder_care"])
    bad = await make_org(session, categories=["elder_care"])
    for _ in range(5):
        await _finish(session, good, claim=1, done=2, stars=5)
        await _finish(session, bad, claim=1, done=2, stars=1)
    league = await league_table(session, size=100)
    best = [o.id for o, _ in league.best]
    worst = [o.id for o, _ in league.worst]
    assert good.id in best and bad.id in worst
    assert not set(best) & set(worst)


async def test_league_table_ranks_only_organisations_with_five_ratings(
    session: AsyncSession,
) -> None:
    newcomer = await make_org(session, categories=["elder_care"])  # 4 five-star ratings
    steady = await make_org(session, categories=["elder_care"])  # 5 four-star ratings
    for _ in range(4):
        await _finish(session, newcomer, claim=1, done=2, stars=5)
    for _ in range(5):
        await _finish(session, steady, claim=1, done=2, stars=4)
    league = await league_table(session, size=100)
    ranked = [o.id for o, _ in league.best + league.worst]
    assert steady.id in ranked
    assert newcomer.id not in ranked
