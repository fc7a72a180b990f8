"""What admins manage from the dashboard: signing staff in, organisations (edit,
suspend), categories (review flag, SLAs, unit price) and the staff list.

Functions take the caller's session and never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.categories import category_codes
from services.errors import InvalidInput, NotFound, UnknownCategory
from services.models import Category, Community, Organisation, Staff
from services.parties import hash_password, password_matches

# Verifying against this keeps a sign-in with an unknown name as slow as a wrong
# password, so timing does not tell which names exist.
_DUMMY_HASH = hash_password("not-a-real-password")
MAX_SLA_HOURS = 24 * 365
MAX_UNIT_PRICE = Decimal("99999999.99")


async def authenticate_staff(session: AsyncSession, name: str, password: str) -> Staff | None:
    """The active staff member with this name and password, else None."""
    staff = await session.scalar(select(Staff).where(Staff.name == name.strip()))
    if staff is None or not staff.active or not staff.password_hash:
        await password_matches(_DUMMY_HASH, password)
        return None
    return staff if await password_matches(staff.password_hash, password) else None


async def set_staff_language(session: AsyncSession, staff_id: int, language: str) -> None:
    """Remember a staff member's interface (and notification) language."""
    staff = await session.get(Staff, staff_id)
    if staff is not None:
        staff.language = language
        await session.flush()


async def list_staff(session: AsyncSession) -> list[Staff]:
    """Every staff member, admins first, then by name."""
    rows = await session.scalars(select(Staff).order_by(Staff.role, Staff.name))
    return list(rows)


async def list_categories(session: AsyncSession) -> list[Category]:
    """Every category in display order."""
    rows = await session.scalars(select(Category).order_by(Category.sort_order, Category.code))
    return list(rows)


async def list_communities(session: AsyncSession) -> list[Community]:
    """Every community by id."""
    rows = await session.scalars(select(Community).order_by(Community.id))
    return list(rows)


async def list_organisations(session: AsyncSession) -> list[Organisation]:
    """Every organisation by name (suspended ones too)."""
    rows = await session.scalars(select(Organisation).order_by(Organisation.name))
    return list(rows)


@dataclass(frozen=True)
class CategorySettings:
    """What staff may change about a category."""

    needs_review: bool
    sla_claim_hours: int
    sla_done_hours: int
    unit_price: Decimal


def parse_unit_price(text: str) -> Decimal:
    """A unit price in CNY as typed (e.g. "80" or "80.50"), or InvalidInput."""
    try:
        price = Decimal(text.strip())
    except InvalidOperation:
        raise InvalidInput("not a number") from None
    if not price.is_finite() or price < 0 or price > MAX_UNIT_PRICE:
        raise InvalidInput("out of range")
    if price != price.quantize(Decimal("0.01")):
        raise InvalidInput("more than two decimals")
    return price.quantize(Decimal("0.01"))


async def update_category(session: AsyncSession, code: str, values: CategorySettings) -> Category:
    """Change a category's review flag, SLAs and unit price."""
    category = await session.get(Category, code)
    if category is None:
        raise UnknownCategory(code, await category_codes(session))
    for hours in (values.sla_claim_hours, values.sla_done_hours):
        if not 1 <= hours <= MAX_SLA_HOURS:
            raise InvalidInput("SLA hours out of range")
    category.needs_review = values.needs_review
    category.sla_claim_hours = values.sla_claim_hours
    category.sla_done_hours = values.sla_done_hours
    category.unit_price = values.unit_price
    await session.flush()
    return category


async def update_organisation(
    session: AsyncSession,
    organisation_id: int,
    *,
    name: str,
    contact: str | None,
    categories: Sequence[str],
    communities: Sequence[int] | None,
) -> Organisation:
    """Change an organisation's name, contact, categories and communities (None: all)."""
    organisation = await session.get(Organisation, organisation_id)
    if organisation is None:
        raise NotFound(f"organisation {organisation_id}")
    if not name.strip():
        raise InvalidInput("an organisation needs a name")
    found_categories = []
    for code in categories:
        category = await session.get(Category, code)
        if category is None:
            raise UnknownCategory(code, await category_codes(session))
        found_categories.append(category)
    found_communities = []
    for community_id in communities or []:
        community = await session.get(Community, community_id)
        if community is None:
            raise NotFound(f"community {community_id}")
        found_communities.append(community)
    organisation.name = name.strip()
    organisation.contact = (contact or "").strip() or None
    organisation.categories = found_categories
    organisation.all_communities = communities is None
    organisation.communities = found_communities
    await session.flush()
    return organisation
