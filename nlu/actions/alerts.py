"""Emergencies and requests for a person become staff tickets, never a dead end.

An emergency is answered with the advice of its kind (services/reference/emergencies.yml:
the most life-threatening kind's number first), then the urgent ticket's number; the
ticket carries every contact already known for the resident (the conversation's slots
and words, else their latest earlier ticket), and when none is known the resident is
asked once for a phone and a location. A request for a person gets the community's
hotline and office hours, and a ticket whose need is the resident's last request.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from nlu.actions.common import current_resident, language, transaction, wake_notifier
from services import AlertKind, Resident, Ticket, record_alert
from services.alerts import Contact, TranscriptLine
from services.models import Community
from services.parsing import find_address, find_phone, parse_phone
from services.reference import community_keywords
from services.reference.emergency_kinds import GENERAL, hotline_for, kinds_of

logger = logging.getLogger(__name__)

TRANSCRIPT_MESSAGES = 10
TRANSCRIPT_LINES = 20
MAX_DESCRIPTION_CHARS = 2000
_KINDS = {"emergency": AlertKind.EMERGENCY, "human_handoff": AlertKind.HANDOFF}
# What a resident says around a request without saying what they need.
_NOT_A_REQUEST = {
    "human_handoff",
    "greet",
    "goodbye",
    "thank",
    "affirm",
    "deny",
    "help",
    "check_status",
    "out_of_scope",
}


def typed_messages(tracker: Tracker, limit: int) -> list[str]:
    """The resident's last `limit` typed messages, oldest first (button payloads skipped)."""
    texts = [
        str(event.get("text"))
        for event in tracker.events
        if event.get("event") == "user"
        and event.get("text")
        and not str(event.get("text")).startswith("/")
    ]
    return texts[-limit:]


def conversation_lines(tracker: Tracker, limit: int = TRANSCRIPT_LINES) -> list[TranscriptLine]:
    """The conversation's last `limit` lines, oldest first: what the resident typed
    (button presses left out) and what the assistant answered. Staff read it beside a
    staff ticket's need (`Ticket.transcript`)."""
    lines: list[TranscriptLine] = []
    for event in tracker.events:
        text = str(event.get("text") or "").strip()
        if not text:
            continue
        if event.get("event") == "user" and not text.startswith("/"):
            lines.append(TranscriptLine("resident", text))
        elif event.get("event") == "bot":
            lines.append(TranscriptLine("assistant", text))
    return lines[-limit:]


def request_messages(tracker: Tracker, limit: int = TRANSCRIPT_MESSAGES) -> list[str]:
    """The resident's last `limit` typed messages that ask for something (not a
    greeting, a thanks or the request for a person itself), oldest first, in their words:
    the latest is a hand-off ticket's need."""
    texts = [
        str(event.get("text"))
        for event in tracker.events
        if event.get("event") == "user"
        and event.get("text")
        and not str(event.get("text")).startswith("/")
        and ((event.get("parse_data") or {}).get("intent") or {}).get("name") not in _NOT_A_REQUEST
    ]
    return texts[-limit:]


def emergency_advice(text: str) -> str:
    """The response with the advice for what the message describes."""
    kinds = kinds_of(text)
    return f"utter_emergency_{kinds[0].code if kinds else GENERAL}"


def _float(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def conversation_contact(tracker: Tracker) -> Contact:
    """The phone and the place the conversation already holds: the request's slots,
    else the resident's typed words (newest first)."""
    texts = list(reversed(typed_messages(tracker, TRANSCRIPT_MESSAGES * 3)))
    phone = parse_phone(str(tracker.get_slot("phone") or ""))
    if phone is None:
        phone = next((p for p in map(find_phone, texts) if p), None)
    latitude = _float(tracker.get_slot("latitude"))
    longitude = _float(tracker.get_slot("longitude"))
    if latitude is None or longitude is None:
        latitude = longitude = None
    address = str(tracker.get_slot("address") or "").strip() or None
    if address is None and latitude is None:
        keywords = community_keywords()
        address = next((a for a in (find_address(t, keywords) for t in texts) if a), None)
    return Contact(phone=phone, address=address, latitude=latitude, longitude=longitude)


async def latest_ticket(session: AsyncSession, resident: Resident) -> Ticket | None:
    """The resident's latest ticket (of any kind), or None."""
    return await session.scalar(
        select(Ticket)
        .where(Ticket.resident_id == resident.id)
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
        .limit(1)
    )


def with_earlier(contact: Contact, earlier: Ticket | None) -> Contact:
    """The contact, its gaps filled from the resident's latest earlier ticket."""
    if earlier is None:
        return contact
    phone = contact.phone or earlier.phone
    if contact.has_location:
        return Contact(phone, contact.address, contact.latitude, contact.longitude)
    return Contact(phone, earlier.address, earlier.latitude, earlier.longitude)


async def _community_name(session: AsyncSession, ticket: Ticket | None) -> str | None:
    if ticket is None or ticket.community_id is None:
        return None
    return await session.scalar(
        select(Community.name_zh).where(Community.id == ticket.community_id)
    )


def hotline_params(community_name_zh: str | None, lang: str) -> dict[str, str]:
    """The template values of a hotline sentence for the community (else the street)."""
    hotline = hotline_for(community_name_zh)
    return {
        "hotline": hotline.number,
        "office_hours": hotline.office_hours(lang),
        "public_hotline": hotline.public,
    }


async def resident_hotline(tracker: Tracker) -> dict[str, str]:
    """The hotline of the resident's community (of their latest ticket), for any reply
    that offers a person; the street's when it is not known or the store is down."""
    lang = language(tracker)
    try:
        async with transaction() as session:
            resident = await current_resident(session, tracker)
            name = await _community_name(session, await latest_ticket(session, resident))
    except SQLAlchemyError:
        logger.exception("alert.hotline_lookup_failed sender=%s", tracker.sender_id)
        name = None
    return hotline_params(name, lang)


class ActionRecordAlert(Action):
    """Files an urgent staff ticket for an emergency, or a ticket asking for a person,
    and tells the resident its number (and what to do, whom to call)."""

    def name(self) -> str:
        return "action_record_alert"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        kind = _KINDS.get(str(intent))
        if kind is None:
            return []
        said = str(tracker.latest_message.get("text") or "")
        if kind is AlertKind.EMERGENCY:
            # The advice first: it must reach the resident even if the store is down.
            dispatcher.utter_message(response=emergency_advice(said))
            description = "\n".join(typed_messages(tracker, 1)) or str(intent)
        else:
            # The need is the last request in the resident's words; the conversation
            # around it goes beside it, not into it.
            description = "\n".join(request_messages(tracker, 1)) or said or str(intent)
        description = description[:MAX_DESCRIPTION_CHARS]
        lang = language(tracker)
        user_events = [e for e in tracker.events if e.get("event") == "user"]
        moment = user_events[-1].get("timestamp") if user_events else None
        contact = conversation_contact(tracker)
        try:
            async with transaction() as session:
                resident = await current_resident(session, tracker)
                earlier = await latest_ticket(session, resident)
                if kind is AlertKind.HANDOFF:
                    # A person calls the number the resident gave in this conversation.
                    contact = Contact(phone=contact.phone or (earlier.phone if earlier else None))
                else:
                    contact = with_earlier(contact, earlier)
                ticket = await record_alert(
                    session,
                    resident=resident,
                    kind=kind,
                    description=description,
                    language=lang,
                    idempotency_key=f"{tracker.sender_id}:{kind.value}:{moment}",
                    contact=contact,
                    transcript=conversation_lines(tracker),
                )
                number = ticket.number
                community = await _community_name(session, ticket) or await _community_name(
                    session, earlier
                )
        except SQLAlchemyError:
            # The resident has already been told what to do; staff will see the log.
            logger.exception("alert.record_failed kind=%s sender=%s", kind, tracker.sender_id)
            if kind is AlertKind.HANDOFF:
                dispatcher.utter_message(
                    response="utter_handoff_hotline", **hotline_params(None, lang)
                )
            return []
        logger.warning("alert.recorded kind=%s ticket=%s", kind.value, number)
        if kind is AlertKind.EMERGENCY:
            known = contact.phone is not None or contact.has_location
            dispatcher.utter_message(
                response="utter_emergency_filed" if known else "utter_emergency_filed_ask",
                ticket_number=number,
            )
            if not known and not tracker.active_loop.get("name"):
                # The next message's phone or place completes this ticket
                # (nlu/actions/emergency_followup.py).
                await wake_notifier()
                return [SlotSet("emergency_ticket", number)]
        else:
            dispatcher.utter_message(
                response="utter_handoff_filed",
                ticket_number=number,
                **hotline_params(community, lang),
            )
        await wake_notifier()
        return []
