"""Service tickets as a public view shows them, and the queries that find them.

Outside systems (the Open311 endpoint, web/open311/) read tickets through this module
only. Privacy rule (docs/open311.md): a ticket as shown never holds the resident's
name, phone, e-mail or exact address. The address is reduced to the community and the
street-level part of the address (`coarse_address`), coordinates are rounded to
3 decimals (about 100 m), and the description is masked by `services.privacy.mask_text`
with building numbers hidden too (a public view). Only service tickets are public:
emergency and hand-off tickets are staff business.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.lifecycle import TicketStatus
from services.models import Category, Community, Organisation, Ticket
from services.privacy import drop_units, mask_text

S = TicketStatus

# The most tickets one query returns, and the most ticket numbers it looks up.
MAX_RESULTS = 1000
MAX_IDS = 100
COORDINATE_DECIMALS = 3

# --- privacy -----------------------------------------------------------------------------

# Numbers left in an address are kept only as street numbers (幸福路100号, 88弄).
_NON_STREET_NUMBER = re.compile(r"\d+(?!\d|\s*(?:号|弄|路|街|巷|道))")
_SPACES = re.compile(r"[ \t]{2,}")
_EDGE_PUNCTUATION = " ,，、;；.。-—:："


def scrub_text(text: str) -> str:
    """Free text as a public view shows it: `mask_text` with building numbers hidden."""
    return mask_text(text, keep_building=False)


def coarse_address(address: str | None, community: str | None) -> str | None:
    """The community and the street-level part of an address: no building, unit, flat,
    room or floor numbers and no other numbers than street numbers (幸福路100号)."""
    street = ""
    if address:
        text = _NON_STREET_NUMBER.sub(" ", drop_units(address))
        parts = [p.strip(_EDGE_PUNCTUATION) for p in re.split(r"[\s,，、;；]+", text)]
        street = " ".join(p for p in parts if p)
    pieces = [piece for piece in (community, street) if piece]
    if len(pieces) == 2 and pieces[0] in pieces[1]:
        pieces = [pieces[1]]
    joined = scrub_text(_SPACES.sub(" ", " ".join(pieces)).strip())
    return joined[:200] or None


def coarse_coordinate(value: float | None) -> float | None:
    """A coordinate rounded to about 100 m."""
    if value is None or not math.isfinite(value):
        return None
    return round(value, COORDINATE_DECIMALS)


# --- the public view ---------------------------------------------------------------------


@dataclass(frozen=True)
class PublicTicket:
    """A service ticket as a public view may show it (already stripped of personal data)."""

    number: str
    status: str
    category_code: str | None
    category: Category | None
    description: str
    organisation_name: str | None  # the organisation holding (or last holding) it
    merged_into: str | None  # the number of the ticket it was merged into
    created_at: datetime
    updated_at: datetime
    expected_at: datetime | None
    address: str | None
    latitude: float | None
    longitude: float | None
    media_url: str | None


def expected_at(ticket: Ticket, category: Category | None) -> datetime | None:
    """When the ticket should be done by its category's deadlines, if they run."""
    if category is None:
        return None
    if ticket.status in (S.CLAIMED, S.IN_PROGRESS) and ticket.claimed_at is not None:
        return ticket.claimed_at + timedelta(hours=category.sla_done_hours)
    if ticket.status == S.PUBLISHED and ticket.published_at is not None:
        hours = category.sla_claim_hours + category.sla_done_hours
        return ticket.published_at + timedelta(hours=hours)
    return None


async def public_tickets(session: AsyncSession, tickets: Sequence[Ticket]) -> list[PublicTicket]:
    """The tickets as a public view shows them (a few queries for the whole page, not
    per row)."""
    if not tickets:
        return []
    categories = {c.code: c for c in await session.scalars(select(Category))}
    community_ids = {t.community_id for t in tickets if t.community_id is not None}
    communities = {
        c.id: c
        for c in (
            await session.scalars(select(Community).where(Community.id.in_(community_ids)))
            if community_ids
            else []
        )
    }
    organisation_ids = {t.organisation_id for t in tickets if t.organisation_id is not None}
    organisations = (
        {
            row.id: row.name
            for row in await session.execute(
                select(Organisation.id, Organisation.name).where(
                    Organisation.id.in_(organisation_ids)
                )
            )
        }
        if organisation_ids
        else {}
    )
    merged_ids = {t.merged_into_id for t in tickets if t.merged_into_id is not None}
    merged = (
        {
            row.id: row.number
            for row in await session.execute(
                select(Ticket.id, Ticket.number).where(Ticket.id.in_(merged_ids))
            )
        }
        if merged_ids
        else {}
    )
    shown = []
    for ticket in tickets:
        category = categories.get(ticket.category_code) if ticket.category_code else None
        community = communities.get(ticket.community_id) if ticket.community_id else None
        shown.append(
            PublicTicket(
                number=ticket.number,
                status=ticket.status,
                category_code=ticket.category_code,
                category=category,
                description=scrub_text(ticket.description),
                organisation_name=(
                    organisations.get(ticket.organisation_id) if ticket.organisation_id else None
                ),
                merged_into=(
                    merged.get(ticket.merged_into_id) if ticket.merged_into_id is not None else None
                ),
                created_at=ticket.created_at,
                updated_at=ticket.updated_at,
                expected_at=expected_at(ticket, category),
                address=coarse_address(ticket.address, community.name_zh if community else None),
                latitude=coarse_coordinate(ticket.latitude),
                longitude=coarse_coordinate(ticket.longitude),
                media_url=ticket.media_url,
            )
        )
    return shown


# --- finding tickets ---------------------------------------------------------------------


@dataclass(frozen=True)
class TicketQuery:
    """Either ticket numbers, or a time window with optional filters.

    Window and order use tickets.created_at, newest first."""

    numbers: tuple[str, ...] = ()
    category_codes: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()  # our statuses; empty: every status
    start: datetime | None = None
    end: datetime | None = None
    limit: int = MAX_RESULTS
    offset: int = 0


async def find_tickets(session: AsyncSession, query: TicketQuery) -> list[Ticket]:
    """The service tickets a query asks for. With numbers, every other filter is
    ignored."""
    if query.numbers:
        rows = await session.scalars(
            select(Ticket)
            .where(Ticket.number.in_(query.numbers[:MAX_IDS]), Ticket.kind == "service")
            .order_by(Ticket.created_at.desc(), Ticket.id.desc())
        )
        return list(rows)
    statement = select(Ticket).where(Ticket.kind == "service")
    if query.start is not None:
        statement = statement.where(Ticket.created_at >= query.start)
    if query.end is not None:
        statement = statement.where(Ticket.created_at <= query.end)
    if query.category_codes:
        statement = statement.where(Ticket.category_code.in_(query.category_codes))
    if query.statuses:
        statement = statement.where(Ticket.status.in_(query.statuses))
    statement = (
        statement.order_by(Ticket.created_at.desc(), Ticket.id.desc())
        .limit(min(query.limit, MAX_RESULTS))
        .offset(query.offset)
    )
    return list(await session.scalars(statement))


async def find_ticket(session: AsyncSession, number: str) -> Ticket | None:
    """One service ticket by its number, or None."""
    if not number or len(number) > 20:
        return None
    return await session.scalar(
        select(Ticket).where(Ticket.number == number, Ticket.kind == "service")
    )
