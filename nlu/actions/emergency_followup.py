"""The answer to the emergency's one question for a phone and a location.

When an emergency ticket knows no way to reach or find the resident, the reply asks
once for a phone and a location (nlu/actions/alerts.py) and remembers the ticket's
number in the slot `emergency_ticket`. Whatever the classifier makes of the next
message ("13812345678" reads as out of scope, an address as a property request), a
phone, a pin, a shared contact or an address in it completes that ticket and staff are
told at once: `action_read_emergency_answer` (a custom slot mapping, run on every
message) notices the answer and sets `emergency_answer`, and a rule conditioned on it
runs `action_attach_emergency_contact` instead of what the message would otherwise start.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import SQLAlchemyError

from nlu.actions.common import coordinate, current_resident, transaction, wake_notifier
from services.alerts import Contact, add_alert_contact
from services.parsing import find_address, find_phone, parse_phone
from services.reference import community_keywords

logger = logging.getLogger(__name__)

Events = list[dict[str, Any]]


def _entity(tracker: Tracker, name: str) -> Any:
    return next(tracker.get_latest_entity_values(name), None)


def answer_contact(tracker: Tracker) -> Contact:
    """The phone and the place the latest message gives: a pin, a shared contact, or
    typed words."""
    latitude = coordinate(_entity(tracker, "latitude"), 90.0)
    longitude = coordinate(_entity(tracker, "longitude"), 180.0)
    if latitude is None or longitude is None:
        latitude = longitude = None
    shared = _entity(tracker, "phone")
    phone = parse_phone(str(shared)) if shared else None
    text = str(tracker.latest_message.get("text") or "")
    address = None
    if not text.startswith("/") and len(text) <= 500:
        phone = phone or parse_phone(text) or find_phone(text)
        address = find_address(text, community_keywords())
    return Contact(phone=phone, address=address, latitude=latitude, longitude=longitude)


def _gives_contact(contact: Contact) -> bool:
    return contact.phone is not None or contact.has_location


class ActionReadEmergencyAnswer(Action):
    """Slot mapping of `emergency_answer`: whether this message answers the emergency's
    question (a ticket is waiting for it and the message gives a phone or a place)."""

    def name(self) -> str:
        return "action_read_emergency_answer"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> Events:
        answers = bool(tracker.get_slot("emergency_ticket")) and _gives_contact(
            answer_contact(tracker)
        )
        if answers == bool(tracker.get_slot("emergency_answer")):
            return []
        return [SlotSet("emergency_answer", answers)]


class ActionAttachEmergencyContact(Action):
    """Adds the phone and the place the resident gave to their emergency ticket and
    tells them staff have it."""

    def name(self) -> str:
        return "action_attach_emergency_contact"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> Events:
        number = str(tracker.get_slot("emergency_ticket") or "")
        done = [SlotSet("emergency_ticket", None), SlotSet("emergency_answer", False)]
        contact = answer_contact(tracker)
        try:
            async with transaction() as session:
                resident = await current_resident(session, tracker)
                ticket = await add_alert_contact(
                    session, resident=resident, number=number, contact=contact
                )
        except SQLAlchemyError:
            logger.exception("alert.contact_failed ticket=%s", number)
            dispatcher.utter_message(response="utter_emergency_contact_failed")
            return done
        if ticket is None:
            return done
        logger.warning("alert.contact_added ticket=%s", number)
        dispatcher.utter_message(response="utter_emergency_contact_added", ticket_number=number)
        await wake_notifier()
        return done
