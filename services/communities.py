"""Placing an address or a location in a community."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.models import Community


def _keyword_match(community: Community, address: str) -> int:
    """Return the length of the longest keyword of community found in address."""
    folded = address.casefold()
    return max((len(k) for k in community.keywords if k and k.casefold() in folded), default=0)


def _in_bbox(community: Community, latitude: float, longitude: float) -> bool:
    c = community
    if None in (c.bbox_min_lat, c.bbox_min_lon, c.bbox_max_lat, c.bbox_max_lon):
        return False
    assert c.bbox_min_lat is not None and c.bbox_max_lat is not None
    assert c.bbox_min_lon is not None and c.bbox_max_lon is not None
    return c.bbox_min_lat <= latitude <= c.bbox_max_lat and (
        c.bbox_min_lon <= longitude <= c.bbox_max_lon
    )


async def find_community(
    session: AsyncSession,
    *,
    address: str | None,
    latitude: float | None,
    longitude: float | None,
) -> Community | None:
    """Return the community named by the address, else containing the point, else None."""
    communities = list(await session.scalars(select(Community).order_by(Community.id)))
    if address:
        # The longest keyword wins, so "幸福里" beats a shorter road name that
        # another community happens to share.
        best = max(communities, key=lambda c: _keyword_match(c, address), default=None)
        if best is not None and _keyword_match(best, address) > 0:
            return best
    if latitude is not None and longitude is not None:
        for community in communities:
            if _in_bbox(community, latitude, longitude):
                return community
    return None


# "3栋", "3号楼", "3幢", "3座", "88弄3号" / "Building 3", "Bldg 3", "Block 3".
_BUILDING = (
    re.compile(r"(\d+)\s*(?:栋|号楼|幢|座|号(?!室))"),
    re.compile(r"\b(?:building|bldg\.?|block|blk\.?|tower)\s*(\d+)", re.IGNORECASE),
)


def building_of(address: str | None) -> str | None:
    """The building number in an address, if it names one (for spotting neighbours
    reporting the same problem); None when it does not."""
    if not address:
        return None
    for pattern in _BUILDING:
        found = pattern.search(address)
        if found:
            return found.group(1)
    return None
