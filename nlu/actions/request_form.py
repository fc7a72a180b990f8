"""The service request form: starting it, validating answers, changing one field."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from config.settings import get_settings
from nlu.actions.common import CATEGORIES, clear_request, coordinate
from nlu.actions.remembered import accepted, at_offer, declined
from nlu.corrections import read_correction
from services.parsing import (
    find_address,
    find_beneficiary,
    find_phone,
    find_time_text,
    parse_phone,
    parse_preferred_time,
)
from services.reference import community_keywords, load_categories

MAX_DESCRIPTION = 10_000
MAX_ADDRESS = 500
CHANGEABLE = ("description", "address", "preferred_time", "phone", "photo")
# Slots that belong together: changing the key clears them all.
_LINKED = {
    "address": ("address", "latitude", "longitude"),
    "preferred_time": ("preferred_time", "preferred_time_iso"),
}

Events = list[dict[str, Any]]
Domain = dict[str, Any]
COMMUNITY_KEYWORDS = community_keywords()


def _typed_text_before_payload(tracker: Tracker) -> str | None:
    """The need in the resident's words for this request.

    A typed request is its own description. A category button pressed after an
    unclear message (the clarifying question) takes that message as description.
    """
    user_events = [event for event in tracker.events if event.get("event") == "user"]
    if not user_events:
        return None
    latest = str(user_events[-1].get("text") or "")
    if latest and not latest.startswith("/"):
        return latest
    if len(user_events) > 1:
        previous = str(user_events[-2].get("text") or "")
        if previous and not previous.startswith("/"):
            return previous
    return None


class ActionStartRequest(Action):
    """Starts a request: its category from the intent, its description from the message."""

    def name(self) -> str:
        return "action_start_request"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> Events:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        if intent not in CATEGORIES:
            return []
        description = _typed_text_before_payload(tracker)
        if description is not None:
            description = without_greeting(description)
        if description is not None and len(description.strip()) > MAX_DESCRIPTION:
            description = None
        events = [
            SlotSet("category", intent),
            SlotSet("description", description.strip() if description else None),
            SlotSet("request_id", uuid.uuid4().hex),
            SlotSet("awaiting_confirmation", False),
            SlotSet("clarify_misses", 0),
            SlotSet("acknowledgement", understood(domain, tracker, str(intent))),
        ]
        if description:
            events += _details_in(description, tracker)
        return events


# A greeting before the need ("你好，我家水管漏了") is not part of the need.
_GREETING = re.compile(
    r"^(?:(?:你好|您好|喂|哈喽|嗨|在吗|在不在|早上好|上午好|下午好|晚上好|大家好"
    r"|hello|hi|hey|good (?:morning|afternoon|evening))(?![a-z])[\s,，.。!！?？~～、]*)+",
    re.IGNORECASE,
)


def without_greeting(text: str) -> str:
    """The text without the greetings it opens with (all of it when it is nothing else)."""
    rest = _GREETING.sub("", text.strip(), count=1)
    return rest or text


def response_text(domain: Domain, response: str, lang: str, **values: str) -> str:
    """A response of domain.yml in the resident's language, filled in: for sentences
    that open another message rather than being sent alone."""
    variations: list[dict[str, Any]] = (domain.get("responses") or {}).get(response) or []
    default: dict[str, Any] = {}
    for variation in variations:
        conditions = variation.get("condition") or []
        if any(condition.get("value") == lang for condition in conditions):
            return str(variation.get("text") or "").format(**values)
        if not conditions and not default:
            default = variation
    return str(default.get("text") or "").format(**values)


def understood(domain: Domain, tracker: Tracker, category: str) -> str:
    """What the first question of a request opens with: the category understood."""
    lang = "en" if tracker.get_slot("language") == "en" else "zh"
    facts = _CATEGORY_FACTS.get(category, {})
    name = str(facts.get("name_en" if lang == "en" else "name_zh") or category)
    return response_text(domain, "utter_understood", lang, category_name=name)


class ActionResetAcknowledgement(Action):
    """Slot mapping of `acknowledgement`, run on every message before anything else: the
    opening of the last question is not repeated with the next one. (A reset from the
    form's validation would count as an answer, and the form would not let a /cancel
    through.)"""

    def name(self) -> str:
        return "action_reset_acknowledgement"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> Events:
        if not tracker.get_slot("acknowledgement") or _started_this_turn(tracker):
            return []  # the form's activation extracts again, after the request started
        return [SlotSet("acknowledgement", "")]


def _started_this_turn(tracker: Tracker) -> bool:
    """Whether this message started the request (its first question is being asked)."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return False
        if event.get("event") == "action" and event.get("name") == "action_start_request":
            return True
    return False


def _details_in(description: str, tracker: Tracker) -> Events:
    """What the request itself already says: a phone number, an address, a time, who
    it is for. Those answers are not asked again (the summary shows them all)."""
    events: Events = []
    phone = find_phone(description)
    if phone and not tracker.get_slot("phone"):
        events.append(SlotSet("phone", phone))
    address = find_address(description, COMMUNITY_KEYWORDS)
    has_pin = tracker.get_slot("latitude") is not None
    if address and 2 <= len(address) <= MAX_ADDRESS and not has_pin:
        events.append(SlotSet("address", address))
    settings = get_settings()
    now = datetime.now(UTC)
    when = find_time_text(description, now=now, timezone=settings.timezone)
    if when:
        window = parse_preferred_time(when, now=now, timezone=settings.timezone)
        events.append(SlotSet("preferred_time", when))
        if window is not None:
            events.append(
                SlotSet(
                    "preferred_time_iso", f"{window.start.isoformat()}|{window.end.isoformat()}"
                )
            )
    events.append(SlotSet("beneficiary", find_beneficiary(description)))
    return events


class ActionNewRequest(Action):
    """Drops the request being filled in and asks for the new need."""

    def name(self) -> str:
        return "action_new_request"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> Events:
        dispatcher.utter_message(response="utter_ask_need")
        return [ActiveLoop(None), SlotSet("requested_slot", None), *clear_request()]


class ActionChangeField(Action):
    """Changes one answer: to the value a typed correction gives ("地址错了，应该是6栋
    2单元301"), else clears it so that the form asks for that one only. The form then
    validates the new value like any answer and shows the summary again."""

    def name(self) -> str:
        return "action_change_field"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> Events:
        field = next(tracker.get_latest_entity_values("field"), None)
        text = str(tracker.latest_message.get("text") or "")
        correction = read_correction(text)
        events: Events = [SlotSet("awaiting_confirmation", False), SlotSet("field_to_change", None)]
        if field not in CHANGEABLE:
            return events
        if not tracker.get_slot("request_id"):
            # Nothing is being filled in: a filed ticket is changed by staff.
            dispatcher.utter_message(response="utter_nothing_to_change")
            return [*events, FollowupAction("action_listen")]
        events += [SlotSet(name, None) for name in _LINKED.get(field, (field,))]
        value = correction.value if correction and correction.field == field else None
        if value and field != "photo":
            events.append(SlotSet(field, value))
        return events


def _is_payload(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("/")


# A question asked where the form expects an address or a time ("上门要收费吗？", "who
# will come?"): a question mark, a closing question particle, or an English sentence
# opening with an interrogative. "什么时候都行" is an answer, not a question.
_QUESTION = re.compile(
    r"[?？]\s*$|[吗嘛呢么]\s*[。.!！~～]*\s*$"
    r"|^\s*(?:how|who|what|when|why|which|is|are|do|does|can|could|will|would|should)\b",
    re.IGNORECASE,
)
_CATEGORY_FACTS = {str(row["code"]): row for row in load_categories()}


def is_question(text: str) -> bool:
    """Whether a form answer is a question rather than an address or a time."""
    return bool(_QUESTION.search(text))


def _answer_question(dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
    """Answer a question asked inside the form from the category's reference data
    (free for residents, who comes, how soon); the form then asks its question again."""
    facts = _CATEGORY_FACTS.get(str(tracker.get_slot("category") or ""), {})
    english = tracker.get_slot("language") == "en"
    dispatcher.utter_message(
        response="utter_form_question",
        category_name=str(facts.get("name_en" if english else "name_zh") or "-"),
        claim_hours=str(facts.get("sla_claim_hours") or 24),
        done_hours=str(facts.get("sla_done_hours") or 72),
    )


def _answer_to(tracker: Tracker, slot: str) -> str | None:
    """The resident's typed message, when the form has just asked for `slot`."""
    if tracker.get_slot("requested_slot") != slot or tracker.get_slot(slot):
        return None
    text = str(tracker.latest_message.get("text") or "").strip()
    return text if text and not _is_payload(text) else None


class ValidateServiceRequestForm(FormValidationAction):
    """Checks each answer of the service request form; a bad answer is asked again."""

    def name(self) -> str:
        return "validate_service_request_form"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: Domain,
    ) -> list[str]:
        slots = [name for name in domain_slots if name not in ("latitude", "longitude")]
        if tracker.get_slot("latitude") is not None and tracker.get_slot("longitude") is not None:
            slots.remove("address")
        return slots

    # While the form asks for the phone or the time, an answer that reads as one fills
    # it whatever the classifier thought of it ("021-6234 5678" looks like a ticket
    # query, "这周六下午" like a request for help): the answer to the question asked
    # wins over the intent.
    async def extract_phone(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> dict[str, Any]:
        text = _answer_to(tracker, "phone")
        if text and parse_phone(text):
            return {"phone": text}
        # A yes to "还用 138 1234 5678 吗？" takes the remembered phone.
        phone = await accepted(tracker, "phone")
        return {"phone": phone} if phone else {}

    async def extract_address(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> dict[str, Any]:
        # A yes to "还是上次的地址「…」吗？" takes the remembered address.
        address = await accepted(tracker, "address")
        return {"address": address} if address else {}

    async def extract_preferred_time(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> dict[str, Any]:
        text = _answer_to(tracker, "preferred_time")
        if not text or len(text) > 200:
            return {}
        settings = get_settings()
        window = parse_preferred_time(text, now=datetime.now(UTC), timezone=settings.timezone)
        return {"preferred_time": text} if window else {}

    async def validate_description(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> dict[str, Any]:
        text = value.strip() if isinstance(value, str) else ""
        if _is_payload(text):
            return {"description": None}
        if not text or len(text) > MAX_DESCRIPTION:
            dispatcher.utter_message(response="utter_invalid_description")
            return {"description": None}
        return {"description": text}

    async def validate_address(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> dict[str, Any]:
        text = value.strip() if isinstance(value, str) else ""
        if _is_payload(text) or declined(tracker, "address"):
            return {"address": None}  # "another address": the usual question follows
        if is_question(text):
            _answer_question(dispatcher, tracker)
            return {"address": None}
        if not 2 <= len(text) <= MAX_ADDRESS:
            dispatcher.utter_message(response="utter_invalid_address")
            return {"address": None}
        return {"address": text}

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> Events:
        events: Events = await super().run(dispatcher, tracker, domain)
        # The opening ("收到，这是维修方面的需求。", "定位收到了…") goes with one question.
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        if (
            intent == "share_location"
            and coordinate(tracker.get_slot("latitude"), 90.0) is not None
        ):
            lang = "en" if tracker.get_slot("language") == "en" else "zh"
            return [
                SlotSet("acknowledgement", response_text(domain, "utter_pin_taken", lang)),
                *events,
            ]
        return events

    async def validate_latitude(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> dict[str, Any]:
        return {"latitude": coordinate(value, 90.0)}

    async def validate_longitude(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> dict[str, Any]:
        return {"longitude": coordinate(value, 180.0)}

    async def validate_preferred_time(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> dict[str, Any]:
        text = value.strip() if isinstance(value, str) else ""
        if _is_payload(text):
            return {"preferred_time": None}
        if not text or len(text) > 200:
            dispatcher.utter_message(response="utter_invalid_time")
            return {"preferred_time": None}
        if is_question(text):
            _answer_question(dispatcher, tracker)
            return {"preferred_time": None}
        settings = get_settings()
        window = parse_preferred_time(text, now=datetime.now(UTC), timezone=settings.timezone)
        understood = f"{window.start.isoformat()}|{window.end.isoformat()}" if window else None
        return {"preferred_time": text, "preferred_time_iso": understood}

    async def validate_phone(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> dict[str, Any]:
        text = value.strip() if isinstance(value, str) else ""
        if _is_payload(text) and not text.startswith("/share_contact"):
            return {"phone": None}
        phone = parse_phone(text)
        if phone is None and at_offer(tracker, "phone"):
            return {"phone": None}  # not the remembered one: the usual question follows
        if phone is None:
            dispatcher.utter_message(response="utter_invalid_phone", phone_input=text[:40])
            return {"phone": None}
        return {"phone": phone}

    async def validate_photo(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> dict[str, Any]:
        if value == "skipped" or value in _shared_photos(tracker):
            return {"photo": value}
        if not _is_payload(value):
            dispatcher.utter_message(response="utter_photo_hint")
        return {"photo": None}


def _shared_photos(tracker: Tracker) -> set[str]:
    """Photos the resident sent in this conversation (a photo may precede the request)."""
    return {
        str(entity.get("value"))
        for event in tracker.events
        if event.get("event") == "user"
        for entity in (event.get("parse_data") or {}).get("entities") or []
        if entity.get("entity") == "photo_ref"
    }
