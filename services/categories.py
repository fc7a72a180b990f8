"""Reading the service categories (reference data)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.models import Category


async def list_categories(session: AsyncSession) -> dict[str, Category]:
    """All categories by code, in their display order."""
    rows = await session.scalars(select(Category).order_by(Category.sort_order, Category.code))
    return {category.code: category for category in rows}


async def category_codes(session: AsyncSession) -> list[str]:
    """Every category code, in display order (for errors that name an unknown one)."""
    rows = await session.scalars(select(Category.code).order_by(Category.sort_order, Category.code))
    return list(rows)
