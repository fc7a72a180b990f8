"""Filing a resident's ticket and routing it; probable duplicates and following one."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.communities import building_of, find_community
from services.errors import (
    IllegalTransition,
)
from services.lifecycle import OPEN, values
from services.lifecycle import TicketStatus as S
from services.models import (
    Resident,
    Ticket,
    TicketEvent,
    TicketFollower,
)
from services.notify import (
    card_params,
    notify_staff,
    review_buttons,
)
from services.tickets import (
    Filed,
    NewTicket,
    aware_utc,
    create_service_ticket,
    get_ticket,
    resident_actor,
)
from services.workflow.offers import offer

DUPLICATE_WINDOW = timedelta(days=3)


async def file_ticket(
    session: AsyncSession,
    *,
    resident: Resident,
    request: NewTicket,
    now: datetime | None = None,
) -> Filed:
    """File a resident's ticket and route it: straight to matching organisations, or to
    staff for review. Filing again with the same key returns the first ticket, with
    `created` False, and routes nothing."""
    now = aware_utc(now)
    ticket, created = await create_service_ticket(
        session, resident=resident, request=request, now=now
    )
    if not created:  # filed before, or another request won the race on the key
        return Filed(ticket, False)
    if ticket.status == S.PUBLISHED:
        await offer(session, ticket, now=now)
    else:
        await notify_staff(
            session,
            ticket,
            "s_review",
            params=await card_params(session, ticket, contact=False),
            buttons=review_buttons(ticket.number),
            now=now,
        )
    return Filed(ticket, True)


# Shared facilities (a lift, stairwell lights, rubbish): one problem for the whole
# community. Other categories are matched within the same building only.
COMMUNITY_WIDE = frozenset({"property"})


async def find_duplicates(
    session: AsyncSession,
    *,
    resident: Resident,
    category_code: str,
    address: str | None,
    latitude: float | None,
    longitude: float | None,
    now: datetime | None = None,
    limit: int = 3,
) -> list[Ticket]:
    """Open tickets of the last few days that are probably the same problem: same
    category, same community, and (except for shared facilities) the same building;
    never the resident's own. Newest first."""
    now = aware_utc(now)
    community = await find_community(
        session, address=address, latitude=latitude, longitude=longitude
    )
    if community is None:
        return []
    building = building_of(address)
    if category_code not in COMMUNITY_WIDE and building is None:
        return []
    rows = await session.scalars(
        select(Ticket)
        .where(
            Ticket.category_code == category_code,
            Ticket.community_id == community.id,
            Ticket.status.in_(values(OPEN)),
            Ticket.created_at >= now - DUPLICATE_WINDOW,
            Ticket.resident_id != resident.id,
        )
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
        .limit(50)
    )
    found = [
        ticket
        for ticket in rows
        if category_code in COMMUNITY_WIDE or building_of(ticket.address) == building
    ]
    return found[:limit]


async def follow(
    session: AsyncSession, *, number: str, resident: Resident, now: datetime | None = None
) -> Ticket:
    """The resident joins an open ticket (once) and is told what happens to it."""
    now = aware_utc(now)
    ticket = await get_ticket(session, number)
    if ticket.status not in OPEN:
        raise IllegalTransition(ticket.status, "followed")
    if ticket.resident_id == resident.id:
        return ticket
    already = await session.get(TicketFollower, (ticket.id, resident.id))
    if already is None:
        async with session.begin_nested():
            session.add(
                TicketFollower(ticket_id=ticket.id, resident_id=resident.id, created_at=now)
            )
        session.add(
            TicketEvent(
                ticket_id=ticket.id,
                actor=resident_actor(resident),
                action="followed",
                from_status=ticket.status,
                to_status=ticket.status,
                created_at=now,
            )
        )
        await session.flush()
    return ticket
