"""A returning resident is offered the phone and the address of their latest ticket.

When the request form is about to ask for the phone or the address and the
resident's latest earlier ticket (`alerts.latest_ticket`) still holds one (the
retention purge erases them), the question becomes "还用 138 1234 5678 吗？" /
"还是上次的地址「…」吗？" with use-it / another buttons. A yes (the button, or typed)
fills the slot with the remembered value (`ValidateServiceRequestForm`); anything
else is asked the usual question, which keeps the share-contact / send-location
keyboard. The offer is made once per request: after "another", a question, or a
change at the summary the usual question is asked.

The value is looked up for the conversation's own resident only, so it is only ever
shown to that resident. A location pin of an earlier ticket is not offered: a pin is
where the phone was when it was sent (maybe not the home), and the usual question
sends a fresh one with one tap.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import SQLAlchemyError

from nlu.actions.alerts import latest_ticket
from nlu.actions.common import current_resident, transaction
from services.parsing import display_phone, find_address
from services.reference import community_keywords

logger = logging.getLogger(__name__)

Events = list[dict[str, Any]]
Domain = dict[str, Any]
# The form's question for a slot when a remembered value is offered, and the usual one.
OFFER = {"phone": "utter_ask_phone_remembered", "address": "utter_ask_address_remembered"}
USUAL = {"phone": "utter_ask_phone", "address": "utter_ask_address"}
# A typed yes to the offer, besides what the classifier reads as `affirm`.
_YES = frozenset(
    "好 好的 好滴 行 是 是的 对 对的 对啊 可以 嗯 嗯嗯 没错 就这个 用这个 "
    "yes yeah yep ok okay sure same".split()
)
_TRIM = re.compile(r"[\s。.!！~～,，、?？]+")
_DIGIT = re.compile(r"\d")
COMMUNITY_KEYWORDS = community_keywords()


async def remembered(tracker: Tracker, slot: str) -> str | None:
    """The phone (E.164) or typed address of this conversation's resident's latest
    earlier ticket; None when there is none, it was purged, or the store is down."""
    try:
        async with transaction() as session:
            resident = await current_resident(session, tracker)
            earlier = await latest_ticket(session, resident)
    except SQLAlchemyError:
        logger.exception("remembered.lookup_failed slot=%s sender=%s", slot, tracker.sender_id)
        return None
    if earlier is None:
        return None
    value = (earlier.phone if slot == "phone" else earlier.address) or ""
    return value.strip() or None


def _asked(event: dict[str, Any]) -> str | None:
    """The response a bot message was made from."""
    if event.get("event") != "bot":
        return None
    name = (event.get("metadata") or {}).get("utter_action")
    return str(name) if name else None


def offered_in_request(tracker: Tracker, slot: str) -> bool:
    """Whether the remembered `slot` has been offered since this request started."""
    for event in reversed(tracker.events):
        if event.get("event") == "slot" and event.get("name") == "request_id":
            if event.get("value"):
                return False
        if _asked(event) == OFFER[slot]:
            return True
    return False


def at_offer(tracker: Tracker, slot: str) -> bool:
    """Whether the resident is answering the offer of the remembered `slot`: the form
    asks for it and the bot's latest message is that offer."""
    if tracker.get_slot("requested_slot") != slot:
        return False
    latest = next((e for e in reversed(tracker.events) if e.get("event") == "bot"), None)
    return latest is not None and _asked(latest) == OFFER[slot]


def _intent(tracker: Tracker) -> str | None:
    return (tracker.latest_message.get("intent") or {}).get("name")


def says_yes(tracker: Tracker) -> bool:
    """The latest message is a yes: the use-it button or a typed 好/是/对/可以/yes."""
    text = _TRIM.sub("", str(tracker.latest_message.get("text") or "")).lower()
    return _intent(tracker) == "affirm" or text in _YES


def _gives_address(tracker: Tracker, slot: str) -> bool:
    """Whether the answer to the address offer is itself an address ("不是，是6栋101"):
    it names an estate or building, or has a number in it."""
    text = str(tracker.latest_message.get("text") or "")
    if slot != "address" or text.startswith("/"):
        return False
    return bool(_DIGIT.search(text) or find_address(text, COMMUNITY_KEYWORDS))


async def accepted(tracker: Tracker, slot: str) -> str | None:
    """The remembered value, when the resident says yes to its offer."""
    if at_offer(tracker, slot) and says_yes(tracker) and not _gives_address(tracker, slot):
        return await remembered(tracker, slot)
    return None


def declined(tracker: Tracker, slot: str) -> bool:
    """Whether the resident says no to the offer (the another button, a typed 不是/换一个)
    without giving the new value in the same breath."""
    return (
        at_offer(tracker, slot)
        and _intent(tracker) == "deny"
        and not says_yes(tracker)
        and not _gives_address(tracker, slot)
    )


async def ask(dispatcher: CollectingDispatcher, tracker: Tracker, slot: str) -> Events:
    """Asks for `slot`: the remembered value once per request, else the usual question."""
    value = None
    if not offered_in_request(tracker, slot):
        value = await remembered(tracker, slot)
    if value is None:
        dispatcher.utter_message(response=USUAL[slot])
    elif slot == "phone":
        dispatcher.utter_message(response=OFFER["phone"], phone=display_phone(value))
    else:
        dispatcher.utter_message(response=OFFER["address"], address=value)
    return []


class ActionAskPhone(Action):
    """Offers "还用 138 1234 5678 吗？" to a returning resident, else the usual question."""

    def name(self) -> str:
        return "action_ask_phone"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> Events:
        return await ask(dispatcher, tracker, "phone")


class ActionAskAddress(Action):
    """Offers "还是上次的地址「…」吗？" to a returning resident, else the usual question."""

    def name(self) -> str:
        return "action_ask_address"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> Events:
        return await ask(dispatcher, tracker, "address")
