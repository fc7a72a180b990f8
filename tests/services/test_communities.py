"""Placing tickets in communities by address keyword or bounding box."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.communities import find_community
from services.models import Community
from services.reference import load_communities


async def _name(session: AsyncSession, **kwargs: object) -> str | None:
    community = await find_community(session, **kwargs)  # type: ignore[arg-type]
    return None if community is None else community.name_zh


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("上海市幸福路88弄3号502室", "幸福里社区"),
        ("和平新村12号楼", "和平新村社区"),
        ("Room 3, 21 FENGLIN ROAD", "枫林苑社区"),
        ("sunshine garden building 5", "阳光花园社区"),
        ("北京市朝阳区建国路1号", None),
    ],
)
async def test_match_by_keyword(session: AsyncSession, address: str, expected: str | None) -> None:
    assert await _name(session, address=address, latitude=None, longitude=None) == expected


async def test_match_by_bbox_when_address_says_nothing(session: AsyncSession) -> None:
    for row in load_communities():
        box = row["bbox"]
        lat = (box["min_lat"] + box["max_lat"]) / 2
        lon = (box["min_lon"] + box["max_lon"]) / 2
        found = await _name(session, address="3号楼", latitude=lat, longitude=lon)
        assert found == row["name_zh"]


async def test_keyword_wins_over_bbox(session: AsyncSession) -> None:
    # A point inside 阳光花园's box, but the address names 幸福里.
    found = await _name(session, address="幸福小区", latitude=31.215, longitude=121.445)
    assert found == "幸福里社区"


async def test_outside_every_box_is_none(session: AsyncSession) -> None:
    assert await _name(session, address=None, latitude=39.9, longitude=116.4) is None
    # The gap between two neighbouring boxes belongs to neither.
    assert await _name(session, address=None, latitude=31.2097, longitude=121.435) is None


async def test_reference_boxes_do_not_overlap(session: AsyncSession) -> None:
    communities = list(await session.scalars(select(Community)))
    assert len(communities) == 4
    for i, a in enumerate(communities):
        for b in communities[i + 1 :]:
            assert a.bbox_min_lat is not None and a.bbox_max_lat is not None
            assert b.bbox_min_lat is not None and b.bbox_max_lat is not None
            assert a.bbox_min_lon is not None and a.bbox_max_lon is not None
            assert b.bbox_min_lon is not None and b.bbox_max_lon is not None
            disjoint = (
                a.bbox_max_lat < b.bbox_min_lat
                or b.bbox_max_lat < a.bbox_min_lat
                or a.bbox_max_lon < b.bbox_min_lon
                or b.bbox_max_lon < a.bbox_min_lon
            )
            assert disjoint, (a.name_zh, b.name_zh)
