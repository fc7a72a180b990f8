"""Building rasa-sdk trackers for action tests, and running actions."""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

Domain = dict[str, Any]
FORM = "service_request_form"
NUMBER = re.compile(r"^RO-\d{6}-\d{4}$")


def tracker_slots(domain: Domain, **values: Any) -> dict[str, Any]:
    slots: dict[str, Any] = {name: None for name in domain["slots"]}
    slots.update(language="zh", awaiting_confirmation=False, requested_slot=None)
    slots.update(values)
    return slots


def user_message(
    text: str,
    intent: str | None = None,
    entities: list[dict[str, Any]] | None = None,
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "event": "user",
        "text": text,
        "parse_data": {
            "text": text,
            "intent": {"name": intent, "confidence": 1.0} if intent else {},
            "entities": entities or [],
        },
        "metadata": metadata or {},
    }


def make_tracker(
    domain: Domain,
    *,
    slots: dict[str, Any] | None = None,
    messages: list[dict[str, Any]] | None = None,
    active_loop: str | None = None,
    sender_id: str = "cli:tester",
) -> Tracker:
    """A tracker whose latest message is the last of `messages` (built with _user)."""
    messages = messages or []
    latest: dict[str, Any] = {}
    if messages:
        last = messages[-1]
        latest = {**last["parse_data"], "metadata": last["metadata"]}
    return Tracker.from_dict(
        {
            "sender_id": sender_id,
            "slots": tracker_slots(domain, **(slots or {})),
            "latest_message": latest,
            "events": messages,
            "active_loop": {"name": active_loop} if active_loop else {},
        }
    )


def slot_values(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


def responses(dispatcher: CollectingDispatcher) -> list[str]:
    return [message["response"] for message in dispatcher.messages]


async def run(action: Any, tracker: Tracker, domain: Domain) -> tuple[Any, CollectingDispatcher]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, domain)
    return events, dispatcher
