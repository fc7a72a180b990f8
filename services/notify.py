"""What each party is told about a ticket: the card's parameters, the buttons, and
outbox messages to the resident (and followers), an organisation's chats or the staff
responsible; written in the caller's transaction, rendered in the reader's language
when sent."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from i18n import t
from services.models import (
    Category,
    Community,
    Organisation,
    OutboxMessage,
    Resident,
    Ticket,
    TicketFollower,
)
from services.outbox import SENT, Button, Recipient, enqueue
from services.parties import organisation_chats, staff_chats
from services.payloads import Action, encode
from services.privacy import mask_text

# Resident channels that have a sender for outbox messages (Telegram's notifier, the
# terminal chat, the web chat); others (open311) read the status themselves.
NOTIFIED_CHANNELS = frozenset({"telegram", "cli", "web"})
# Card parameters that are the resident's own words: masked for whoever may not read
# them yet (organisations before the claim, neighbours who joined the ticket).
FREE_TEXT_PARAMS = ("description", "time", "note", "reason")
# A parameter value that is a catalogue code (a reason chosen from a list), not free text.
CODE_PREFIX = "reason_"
# Card parameters that are the resident's contact: the holder's alone.
CONTACT_PARAMS = ("address", "location", "phone")
# Cards that carry the holder's full view of a ticket (text and contact).
HOLDER_CARDS = ("o_claimed", "o_assigned", "o_reopened", "o_handed_over")
# The parameter of an outbox row that makes it an edit of a message sent before
# (by its id in that chat) instead of a new message.
EDIT_PARAM = "edit_message_id"


def localised(zh: str, en: str) -> dict[str, str]:
    """A parameter the renderer shows in the reader's language."""
    return {"zh": zh, "en": en}


DEFAULT_TIMEZONE = "Asia/Shanghai"


def absolute_time(moment: datetime, timezone: str, language: str) -> str:
    """A date and time nobody can read on the wrong day: "12月5日(周六) 14:00" /
    "Sat 5 Dec 14:00", in the local timezone (month and weekday names from the
    catalogue)."""
    local = moment.astimezone(ZoneInfo(timezone))
    return t(
        "when_format",
        language,
        month=t("when_months", language).split()[local.month - 1],
        day=local.day,
        weekday=t("when_weekdays", language).split()[local.weekday()],
        clock=local.strftime("%H:%M"),
    )


def preferred_time(
    ticket: Ticket, timezone: str = DEFAULT_TIMEZONE, *, masked: bool = False
) -> str | dict[str, str]:
    """The preferred time as organisations and staff read it: the absolute date and
    time understood (if any) with the resident's own words beside it (masked for
    whoever may not read them yet); "-" when there is neither."""
    words = ticket.preferred_time_text
    if words is not None and masked:
        words = mask_text(words)
    if ticket.preferred_time_at is None:
        return words or "-"
    when = {
        language: absolute_time(ticket.preferred_time_at, timezone, language)
        for language in ("zh", "en")
    }
    if not words:
        return when
    return {
        language: t("when_with_words", language, when=text, words=words)
        for language, text in when.items()
    }


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


def masked_params(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters as a party that may not read the resident's words sees them: free
    text masked (services/privacy.py), no contact."""
    shown = {
        name: _masked(value) if name in FREE_TEXT_PARAMS else value
        for name, value in params.items()
    }
    return {name: value for name, value in shown.items() if name not in CONTACT_PARAMS}


def _masked(value: Any) -> Any:
    """A free-text parameter masked: a string, or each language of a localised one (the
    preferred time with the resident's words beside it)."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, Mapping):
        return {
            key: mask_text(text) if isinstance(text, str) else text for key, text in value.items()
        }
    return value


def follower_params(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters as a neighbour who joined the ticket sees them: the progress only.
    Nobody's free text (the resident's, an organisation's note, a staff member's
    reason) and no contact; a reason code ("reason_handled") stays, it is ours."""
    return {
        name: (
            value
            if name not in FREE_TEXT_PARAMS
            or (isinstance(value, str) and value.startswith(CODE_PREFIX))
            else "-"
        )
        for name, value in params.items()
        if name not in CONTACT_PARAMS
    }


async def card_params(
    session: AsyncSession,
    ticket: Ticket,
    *,
    contact: bool,
    masked: bool = False,
    timezone: str = DEFAULT_TIMEZONE,
) -> dict[str, Any]:
    """What an organisation's or staff member's card shows; the resident's phone and
    exact address only with `contact` (after the organisation has claimed); with
    `masked` (an organisation that does not hold the ticket) the description and time
    with phone numbers, flat numbers and names masked. The time is the absolute date
    and time understood with the resident's words beside it (preferred_time)."""
    params: dict[str, Any] = {
        "number": ticket.number,
        "category": await _category_param(session, ticket),
        "community": await _community_param(session, ticket),
        "description": ticket.description,
        "time": preferred_time(ticket, timezone),
        "beneficiary": f"label_for_{ticket.beneficiary or 'self'}",
    }
    if masked:
        return masked_params(params)
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
        told = {"number": ticket.number, **(params or {})}
        enqueue(
            session,
            Recipient(resident.channel, resident.external_id, _resident_language(resident, ticket)),
            key,
            # A neighbour who joined hears the progress, never anyone's words or contact.
            params=told if index == 0 else follower_params(told),
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


async def hide_holder_cards(
    session: AsyncSession,
    ticket: Ticket,
    organisation: Organisation,
    *,
    now: datetime | None = None,
) -> int:
    """The organisation no longer holds the ticket (a release, a reassignment): each of
    its cards with the full text and the contact becomes the masked card
    (`o_card_hidden`) in the outbox, and one already sent to Telegram is edited into
    it there. Returns how many cards were hidden."""
    chats = {
        (link.channel, link.chat_id) for link in await organisation_chats(session, organisation.id)
    }
    cards = await session.scalars(
        select(OutboxMessage)
        .where(
            OutboxMessage.ticket_id == ticket.id,
            OutboxMessage.message_key.in_(HOLDER_CARDS),
        )
        .order_by(OutboxMessage.id)
    )
    hidden = 0
    for card in cards:
        if (card.channel, card.chat_id) not in chats:
            continue  # the card of the organisation holding it now
        # The stored row becomes the masked card: one not sent yet is sent as such.
        shown = masked_params(dict(card.params))
        card.message_key, card.params, card.buttons = "o_card_hidden", shown, []
        hidden += 1
        if card.state == SENT and card.sent_message_id and card.channel == "telegram":
            enqueue(
                session,
                Recipient(card.channel, card.chat_id, card.language),
                "o_card_hidden",
                params={**shown, EDIT_PARAM: card.sent_message_id},
                ticket=ticket,
                now=now,
            )
    await session.flush()
    return hidden


def offer_buttons(number: str) -> list[list[Button]]:
    return [[Button("btn_claim", encode(Action.CLAIM, number))]]


def claimed_buttons(number: str) -> list[list[Button]]:
    return [
        [Button("btn_start", encode(Action.START, number))],
        [Button("btn_release", encode(Action.RELEASE, number))],
    ]


def working_buttons(number: str) -> list[list[Button]]:
    return [
        [Button("btn_done", encode(Action.DONE, number))],
        [Button("btn_release", encode(Action.RELEASE, number))],
    ]


def rating_buttons(number: str) -> list[list[Button]]:
    return [
        [
            Button("btn_stars", encode(Action.RATE, number, stars), {"stars": stars})
            for stars in range(1, 6)
        ],
        [Button("btn_not_fixed", encode(Action.NOT_FIXED, number))],
    ]


def review_buttons(number: str) -> list[list[Button]]:
    return [
        [
            Button("btn_approve", encode(Action.APPROVE, number)),
            Button("btn_reject", encode(Action.REJECT, number)),
        ],
        [Button("btn_assign", encode(Action.ASSIGN, number))],
    ]
