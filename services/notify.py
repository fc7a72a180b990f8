"""What each party is told about a ticket: the card's parameters, the buttons, and
outbox messages to the resident (and followers), an organisation's chats or the staff
responsible; written in the caller's transaction, rendered in the reader's language
when sent."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.models import Category, Community, Organisation, Resident, Ticket, TicketFollower
from services.outbox import Button, Recipient, enqueue
from services.parties import organisation_chats, staff_chats

# Resident channels that have a sender for outbox messages (Telegram's notifier, the
# terminal chat, the web chat); others (open311) read the status themselves.
NOTIFIED_CHANNELS = frozenset({"telegram", "cli", "web"})


def localised(zh: str, en: str) -> dict[str, str]:
    """A parameter the renderer shows in the reader's language."""
    return {"zh": zh, "en": en}


# --- notification helpers -----------------------------------------------------------------


async def _category_param(session: AsyncSession, ticket: Ticket) -> dict[str, str] | str:
    if ticket.category_code is None:
        return "label_needs_person"
    category = await session.get(Category, ticket.category_code)
    assert category is not None
    return localised(category.name_zh, category.name_en)


async def _community_param(session: AsyncSession, ticket: Ticket) -> dict[str, str] | str:
    community = await session.get(Community, ticket.community_id) if ticket.community_id else None
    if community is None:
        return "label_no_community"
    return localised(community.name_zh, community.name_en)


async def card_params(session: AsyncSession, ticket: Ticket, *, contact: bool) -> dict[str, Any]:
    """What an organisation's or staff member's card shows; the resident's phone and
    exact address only with `contact` (after the organisation has claimed)."""
    params: dict[str, Any] = {
        "number": ticket.number,
        "category": await _category_param(session, ticket),
        "community": await _community_param(session, ticket),
        "description": ticket.description,
        "time": ticket.preferred_time_text or "-",
        "beneficiary": f"label_for_{ticket.beneficiary or 'self'}",
    }
    if contact:
        location = (
            f"{ticket.latitude:.5f},{ticket.longitude:.5f}"
            if ticket.latitude is not None and ticket.longitude is not None
            else "-"
        )
        params |= {
            "address": ticket.address or "-",
            "location": location,
            "phone": ticket.phone or "-",
        }
    return params


def _resident_language(resident: Resident, ticket: Ticket) -> str:
    return resident.language_choice or resident.language or ticket.language


async def notify_residents(
    session: AsyncSession,
    ticket: Ticket,
    key: str,
    *,
    params: dict[str, Any] | None = None,
    buttons: Sequence[Sequence[Button]] = (),
    reply_kind: str | None = None,
    followers: bool = True,
    now: datetime | None = None,
) -> None:
    """Tell the ticket's resident (and the neighbours who joined it)."""
    residents = [await session.get(Resident, ticket.resident_id)]
    if followers:
        residents += list(
            await session.scalars(
                select(Resident)
                .join(TicketFollower, TicketFollower.resident_id == Resident.id)
                .where(TicketFollower.ticket_id == ticket.id)
                .order_by(Resident.id)
            )
        )
    for index, resident in enumerate(residents):
        assert resident is not None
        if resident.channel not in NOTIFIED_CHANNELS:
            continue  # e.g. Open311 clients poll for status; nothing would send it
        enqueue(
            session,
            Recipient(resident.channel, resident.external_id, _resident_language(resident, ticket)),
            key,
            params={"number": ticket.number, **(params or {})},
            # Only the ticket's own resident rates or reopens it.
            buttons=buttons if index == 0 else (),
            ticket=ticket,
            reply_kind=reply_kind if index == 0 else None,
            now=now,
        )


async def notify_organisation(
    session: AsyncSession,
    organisation: Organisation,
    ticket: Ticket,
    key: str,
    *,
    params: dict[str, Any] | None = None,
    buttons: Sequence[Sequence[Button]] = (),
    now: datetime | None = None,
) -> None:
    """Tell every chat linked to the organisation."""
    for link in await organisation_chats(session, organisation.id):
        enqueue(
            session,
            Recipient(link.channel, link.chat_id, organisation.language),
            key,
            params={"number": ticket.number, **(params or {})},
            buttons=buttons,
            ticket=ticket,
            now=now,
        )


async def notify_staff(
    session: AsyncSession,
    ticket: Ticket,
    key: str,
    *,
    params: dict[str, Any] | None = None,
    buttons: Sequence[Sequence[Button]] = (),
    now: datetime | None = None,
) -> int:
    """Tell the staff responsible for the ticket's community; returns how many chats."""
    chats = await staff_chats(session, ticket.community_id)
    for staff, link in chats:
        enqueue(
            session,
            Recipient(link.channel, link.chat_id, staff.language),
            key,
            params={"number": ticket.number, **(params or {})},
            buttons=buttons,
            ticket=ticket,
            now=now,
        )
    return len(chats)


def offer_buttons(number: str) -> list[list[Button]]:
    return [[Button("btn_claim", f"o:claim:{number}")]]


def claimed_buttons(number: str) -> list[list[Button]]:
    return [
        [Button("btn_start", f"o:start:{number}")],
        [Button("btn_release", f"o:rel:{number}")],
    ]


def working_buttons(number: str) -> list[list[Button]]:
    return [
        [Button("btn_done", f"o:done:{number}")],
        [Button("btn_release", f"o:rel:{number}")],
    ]


def rating_buttons(number: str) -> list[list[Button]]:
    return [
        [
            Button("btn_stars", f"r:rate:{number}:{stars}", {"stars": stars})
            for stars in range(1, 6)
        ],
        [Button("btn_not_fixed", f"r:nf:{number}")],
    ]


def review_buttons(number: str) -> list[list[Button]]:
    return [
        [Button("btn_approve", f"s:ok:{number}"), Button("btn_reject", f"s:rej:{number}")],
        [Button("btn_assign", f"s:asg:{number}")],
    ]
