"""Settlement (政府买单): what each organisation is paid for a period.

Counted: every ticket closed within the period that its organisation completed —
closed after being done, whether the resident rated it, the 7-day auto-close
closed it unrated, or staff closed it after the work was done (DESIGN.md). A ticket
staff closed, rejected or merged before it was done, or one the resident cancelled,
is not paid. The price is the category's unit price now (prices are not versioned;
change them between settlement periods). Money is Decimal throughout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.errors import InvalidInput
from services.lifecycle import TicketStatus
from services.models import Category, Organisation, Ticket

ZERO = Decimal("0.00")
MAX_PERIOD = timedelta(days=3 * 366)


@dataclass(frozen=True)
class SettlementLine:
    """One paid ticket."""

    number: str
    category_code: str
    category_zh: str
    category_en: str
    done_at: datetime
    closed_at: datetime
    rating: int | None
    unit_price: Decimal


@dataclass(frozen=True)
class OrganisationSettlement:
    """What one organisation is paid for the period."""

    organisation_id: int
    name: str
    lines: list[SettlementLine]

    @property
    def count(self) -> int:
        return len(self.lines)

    @property
    def total(self) -> Decimal:
        return sum((line.unit_price for line in self.lines), ZERO)

    @property
    def rated(self) -> int:
        return sum(1 for line in self.lines if line.rating is not None)

    @property
    def average_rating(self) -> Decimal | None:
        ratings = [line.rating for line in self.lines if line.rating is not None]
        if not ratings:
            return None
        return (Decimal(sum(ratings)) / len(ratings)).quantize(Decimal("0.01"))


@dataclass(frozen=True)
class Settlement:
    """Every organisation's settlement for a period (dates inclusive, local time)."""

    start: date
    end: date
    organisations: list[OrganisationSettlement]

    @property
    def count(self) -> int:
        return sum(o.count for o in self.organisations)

    @property
    def total(self) -> Decimal:
        return sum((o.total for o in self.organisations), ZERO)


def period_bounds(start: date, end: date, timezone: str) -> tuple[datetime, datetime]:
    """[start 00:00, the day after end 00:00) in the time zone, as aware datetimes."""
    if end < start:
        raise InvalidInput("the period ends before it starts")
    if end - start > MAX_PERIOD:
        raise InvalidInput("the period is too long")
    zone = ZoneInfo(timezone)
    return (
        datetime.combine(start, time(0), tzinfo=zone),
        datetime.combine(end + timedelta(days=1), time(0), tzinfo=zone),
    )


async def settle(
    session: AsyncSession,
    *,
    start: date,
    end: date,
    timezone: str = "Asia/Shanghai",
    communities: Sequence[int] | None = None,
) -> Settlement:
    """The settlement of [start, end] (local dates, inclusive); `communities` limits
    it to those communities' tickets (plus tickets of no known community)."""
    since, until = period_bounds(start, end, timezone)
    query = (
        select(Ticket, Organisation, Category)
        .join(Organisation, Organisation.id == Ticket.organisation_id)
        .join(Category, Category.code == Ticket.category_code)
        .where(
            Ticket.status == TicketStatus.CLOSED.value,
            Ticket.done_at.is_not(None),
            Ticket.closed_at >= since,
            Ticket.closed_at < until,
        )
        .order_by(Organisation.name, Organisation.id, Ticket.closed_at, Ticket.id)
    )
    if communities is not None:
        query = query.where(
            or_(Ticket.community_id.in_(list(communities)), Ticket.community_id.is_(None))
        )
    grouped: dict[int, OrganisationSettlement] = {}
    for ticket, organisation, category in await session.execute(query):
        assert ticket.done_at is not None and ticket.closed_at is not None
        entry = grouped.setdefault(
            organisation.id, OrganisationSettlement(organisation.id, organisation.name, [])
        )
        entry.lines.append(
            SettlementLine(
                number=ticket.number,
                category_code=category.code,
                category_zh=category.name_zh,
                category_en=category.name_en,
                done_at=ticket.done_at,
                closed_at=ticket.closed_at,
                rating=ticket.rating,
                unit_price=Decimal(category.unit_price).quantize(Decimal("0.01")),
            )
        )
    return Settlement(start=start, end=end, organisations=list(grouped.values()))
