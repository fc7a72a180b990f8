"""Reference data (categories, communities) kept as YAML beside this module."""

from __future__ import annotations

from decimal import Decimal
from importlib import resources
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.models import Category, Community


def _read_yaml(name: str) -> list[dict[str, Any]]:
    text = resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, list):
        raise ValueError(f"{name}: expected a list at top level")
    return data


def load_categories() -> list[dict[str, Any]]:
    """Return the categories of categories.yml."""
    return _read_yaml("categories.yml")


def category_codes() -> tuple[str, ...]:
    """The service categories' codes (the NLU's service labels), in display order."""
    return tuple(str(category["code"]) for category in load_categories())


def load_communities() -> list[dict[str, Any]]:
    """Return the communities of communities.yml."""
    return _read_yaml("communities.yml")


def community_keywords() -> tuple[str, ...]:
    """Every community's address keywords (小区 names, roads), longest first."""
    words = {k for c in load_communities() for k in c.get("keywords") or [] if k}
    return tuple(sorted(words, key=len, reverse=True))


async def load_reference_data(session: AsyncSession) -> None:
    """Add missing categories and communities and refresh category names."""
    existing_categories = {c.code: c for c in await session.scalars(select(Category))}
    for row in load_categories():
        category = existing_categories.get(row["code"])
        if category is None:
            session.add(
                Category(
                    code=row["code"],
                    name_zh=row["name_zh"],
                    name_en=row["name_en"],
                    needs_review=bool(row["needs_review"]),
                    sla_claim_hours=int(row["sla_claim_hours"]),
                    sla_done_hours=int(row["sla_done_hours"]),
                    unit_price=Decimal(str(row["unit_price"])),
                    sort_order=int(row["sort_order"]),
                )
            )
        else:
            category.name_zh = row["name_zh"]
            category.name_en = row["name_en"]

    existing_communities = set(await session.scalars(select(Community.name_zh)))
    for row in load_communities():
        if row["name_zh"] in existing_communities:
            continue
        bbox = row.get("bbox") or {}
        session.add(
            Community(
                name_zh=row["name_zh"],
                name_en=row["name_en"],
                keywords=list(row.get("keywords") or []),
                bbox_min_lat=bbox.get("min_lat"),
                bbox_min_lon=bbox.get("min_lon"),
                bbox_max_lat=bbox.get("max_lat"),
                bbox_max_lon=bbox.get("max_lon"),
                timezone=row.get("timezone", "Asia/Shanghai"),
            )
        )
    await session.flush()
