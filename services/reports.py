"""The numbers behind the staff charts: tickets per category per week, median time
to claim and to done, satisfaction per organisation, and the league table (红黑榜).

Times are grouped by week (Monday) in the community time zone. Medians are taken
in Python over the period's tickets (SQLite has no percentile function; on
PostgreSQL percentile_cont would do it in the database if periods grow long).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Date, cast, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.matching import Standing, organisation_table
from services.models import Category, Organisation, Ticket
from services.settlement import period_bounds

LEAGUE_SIZE = 5
# The 红黑榜 ranks an organisation by its residents' ratings only once it has this many:
# one 5-star rating does not put a newcomer on top.
LEAGUE_MIN_RATINGS = 5


def _visible(communities: Sequence[int] | None) -> list[ColumnElement[bool]]:
    if communities is None:
        return []
    return [or_(Ticket.community_id.in_(list(communities)), Ticket.community_id.is_(None))]


def week_of(day: date) -> date:
    """The Monday of the day's week."""
    return day - timedelta(days=day.weekday())


def weeks_between(start: date, end: date) -> list[date]:
    """Every Monday from start's week to end's week."""
    first, last = week_of(start), week_of(end)
    return [first + timedelta(weeks=i) for i in range((last - first).days // 7 + 1)]


def _week_expression(session: AsyncSession, timezone: str) -> ColumnElement[str]:
    """SQL: the Monday (YYYY-MM-DD) of a ticket's filing week in the time zone."""
    if session.get_bind().dialect.name == "postgresql":
        local = func.timezone(literal(timezone), Ticket.created_at)
        return func.to_char(cast(func.date_trunc("week", local), Date), "YYYY-MM-DD")
    # SQLite stores UTC text; a fixed offset is exact for zones without DST (China).
    offset = datetime.now(ZoneInfo(timezone)).utcoffset() or timedelta(0)
    hours = int(offset.total_seconds() // 3600)
    return func.date(Ticket.created_at, f"{hours:+d} hours", "weekday 0", "-6 days")


@dataclass(frozen=True)
class WeeklyCounts:
    """Tickets filed per category per week."""

    weeks: list[date]
    counts: dict[str, list[int]]  # category code -> one count per week


async def tickets_per_category_per_week(
    session: AsyncSession,
    *,
    start: date,
    end: date,
    timezone: str = "Asia/Shanghai",
    communities: Sequence[int] | None = None,
) -> WeeklyCounts:
    """How many tickets of each category were filed in each week of [start, end]."""
    since, until = period_bounds(start, end, timezone)
    week = _week_expression(session, timezone).label("week")
    rows = await session.execute(
        select(Ticket.category_code, week, func.count().label("n"))
        .where(
            Ticket.category_code.is_not(None),
            Ticket.created_at >= since,
            Ticket.created_at < until,
            *_visible(communities),
        )
        .group_by(Ticket.category_code, week)
    )
    weeks = weeks_between(start, end)
    index = {w.isoformat(): i for i, w in enumerate(weeks)}
    counts: dict[str, list[int]] = {}
    for code, week_text, n in rows:
        position = index.get(str(week_text)[:10])
        if code is None or position is None:
            continue
        counts.setdefault(code, [0] * len(weeks))[position] += int(n)
    return WeeklyCounts(weeks=weeks, counts=counts)


@dataclass(frozen=True)
class Durations:
    """Median hours from publication to claim and from filing to done, per category."""

    to_claim: dict[str, float]
    to_done: dict[str, float]
    overall_to_claim: float | None
    overall_to_done: float | None


def _hours(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() / 3600


async def median_durations(
    session: AsyncSession,
    *,
    start: date,
    end: date,
    timezone: str = "Asia/Shanghai",
    communities: Sequence[int] | None = None,
) -> Durations:
    """Medians over the tickets filed in [start, end]."""
    since, until = period_bounds(start, end, timezone)
    rows = await session.execute(
        select(
            Ticket.category_code,
            Ticket.created_at,
            Ticket.published_at,
            Ticket.claimed_at,
            Ticket.done_at,
        ).where(
            Ticket.category_code.is_not(None),
            Ticket.created_at >= since,
            Ticket.created_at < until,
            *_visible(communities),
        )
    )
    claim: dict[str, list[float]] = defaultdict(list)
    done: dict[str, list[float]] = defaultdict(list)
    for code, created_at, published_at, claimed_at, done_at in rows:
        if code is None:
            continue
        if published_at is not None and claimed_at is not None and claimed_at >= published_at:
            claim[code].append(_hours(claimed_at, published_at))
        if done_at is not None:
            done[code].append(_hours(done_at, created_at))
    every_claim = [h for hours in claim.values() for h in hours]
    every_done = [h for hours in done.values() for h in hours]
    return Durations(
        to_claim={code: statistics.median(hours) for code, hours in claim.items()},
        to_done={code: statistics.median(hours) for code, hours in done.items()},
        overall_to_claim=statistics.median(every_claim) if every_claim else None,
        overall_to_done=statistics.median(every_done) if every_done else None,
    )


@dataclass(frozen=True)
class Satisfaction:
    """An organisation's ratings in the period."""

    organisation_id: int
    name: str
    average: float
    ratings: int


async def satisfaction_per_organisation(
    session: AsyncSession,
    *,
    start: date,
    end: date,
    timezone: str = "Asia/Shanghai",
    communities: Sequence[int] | None = None,
) -> list[Satisfaction]:
    """Average rating of each organisation over tickets closed in [start, end], best first."""
    since, until = period_bounds(start, end, timezone)
    rows = await session.execute(
        select(
            Organisation.id,
            Organisation.name,
            func.avg(Ticket.rating).label("average"),
            func.count(Ticket.rating).label("n"),
        )
        .join(Organisation, Organisation.id == Ticket.organisation_id)
        .where(
            Ticket.rating.is_not(None),
            Ticket.closed_at >= since,
            Ticket.closed_at < until,
            *_visible(communities),
        )
        .group_by(Organisation.id, Organisation.name)
    )
    found = [
        Satisfaction(int(org_id), name, float(average), int(n)) for org_id, name, average, n in rows
    ]
    return sorted(found, key=lambda s: (-s.average, -s.ratings, s.name))


@dataclass(frozen=True)
class League:
    """The 红黑榜: the best and the worst organisations by rating, then on-time rate."""

    best: list[tuple[Organisation, Standing]]
    worst: list[tuple[Organisation, Standing]]


def _league_key(standing: Standing) -> tuple[float, float]:
    rating = standing.average_rating if standing.average_rating is not None else 0.0
    on_time = standing.on_time_rate if standing.on_time_rate is not None else 0.0
    return (rating, on_time)


async def league_table(
    session: AsyncSession, *, size: int = LEAGUE_SIZE, min_ratings: int = LEAGUE_MIN_RATINGS
) -> League:
    """Active organisations with at least `min_ratings` ratings, ranked by average
    rating then on-time rate (all time); nobody is on both lists."""
    ranked = [
        (organisation, standing)
        for organisation, standing in await organisation_table(session)
        if organisation.active and standing.ratings >= min_ratings
    ]
    ranked.sort(key=lambda pair: (_league_key(pair[1]), pair[0].name), reverse=True)
    # With few organisations, split them in halves so both lists mean something.
    half = min(size, (len(ranked) + 1) // 2)
    best = ranked[:half]
    worst = list(reversed(ranked[half:]))[:size]
    return League(best=best, worst=worst)


async def category_names(session: AsyncSession) -> dict[str, Category]:
    """Categories by code, in display order."""
    rows = await session.scalars(select(Category).order_by(Category.sort_order, Category.code))
    return {category.code: category for category in rows}
