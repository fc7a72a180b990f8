"""Who a token is, and which ticket it may read or act on (the JSON API asks,
web/api/): an organisation knows of the tickets it may claim or holds, a staff member
those of their communities; a ticket an organisation may not know of is "no such
ticket", since numbers are sequential and a refusal would confirm that it exists.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from services import matching
from services.errors import BadCredentials, NotYourTicket, TicketNotFound
from services.models import Organisation, Staff, Ticket
from services.numbers import is_number
from services.parties import organisation_by_token, staff_by_token, staff_sees
from services.tickets import get_ticket

Party = Organisation | Staff
PartyKind = Literal["organisation", "staff"]


async def party_of(session: AsyncSession, token: str, kind: PartyKind) -> Party:
    """The active organisation or staff member (as `kind` says) whose token this is;
    BadCredentials otherwise."""
    if kind == "organisation":
        return await organisation_by_token(session, token)
    return await staff_by_token(session, token)


async def token_kind(session: AsyncSession, token: str) -> PartyKind | None:
    """Whose token this is: an active organisation's, a staff member's, or nobody's."""
    kinds: tuple[PartyKind, ...] = ("organisation", "staff")
    for kind in kinds:
        try:
            await party_of(session, token, kind)
        except BadCredentials:
            continue
        return kind
    return None


async def any_party(session: AsyncSession, token: str) -> Party:
    """The organisation or staff member whose token this is; BadCredentials otherwise."""
    try:
        return await organisation_by_token(session, token)
    except BadCredentials:
        try:
            return await staff_by_token(session, token)
        except BadCredentials:
            raise BadCredentials("unknown token") from None


async def existing(session: AsyncSession, number: str) -> Ticket:
    """The ticket with this number; TicketNotFound for anything that cannot name one."""
    if not is_number(number):
        raise TicketNotFound(number)
    return await get_ticket(session, number)


async def check_visible(session: AsyncSession, organisation: Organisation, ticket: Ticket) -> None:
    """TicketNotFound, as for no such ticket, unless the organisation may know of it."""
    if not await matching.may_see(session, organisation, ticket):
        raise TicketNotFound(ticket.number)


async def readable(session: AsyncSession, party: Party, number: str) -> Ticket:
    """The ticket this party may read: an organisation's (TicketNotFound otherwise), or
    one of a staff member's communities (NotYourTicket otherwise)."""
    ticket = await existing(session, number)
    if isinstance(party, Staff):
        if not party.active or not staff_sees(party, ticket.community_id):
            raise NotYourTicket(number)
    else:
        await check_visible(session, party, ticket)
    return ticket


async def holder_of(session: AsyncSession, ticket: Ticket) -> Organisation | None:
    """The organisation the ticket is with, if any."""
    if not ticket.organisation_id:
        return None
    return await session.get(Organisation, ticket.organisation_id)
