"""Emergencies and requests for a person become staff tickets, never a dead end."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import SQLAlchemyError

from nlu.actions.common import current_resident, language, transaction, wake_notifier
from services import AlertKind, record_alert

logger = logging.getLogger(__name__)

TRANSCRIPT_MESSAGES = 10
_KINDS = {"emergency": AlertKind.EMERGENCY, "human_handoff": AlertKind.HANDOFF}


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


class ActionRecordAlert(Action):
    """Files an urgent staff ticket for an emergency, or a ticket asking for a person
    with the conversation so far."""

    def name(self) -> str:
        return "action_record_alert"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        kind = _KINDS.get(str(intent))
        if kind is None:
            return []
        limit = 1 if kind is AlertKind.EMERGENCY else TRANSCRIPT_MESSAGES
        description = "\n".join(typed_messages(tracker, limit)) or str(intent)
        user_events = [e for e in tracker.events if e.get("event") == "user"]
        moment = user_events[-1].get("timestamp") if user_events else None
        try:
            async with transaction() as session:
                resident = await current_resident(session, tracker)
                ticket = await record_alert(
                    session,
                    resident=resident,
                    kind=kind,
                    description=description,
                    language=language(tracker),
                    idempotency_key=f"{tracker.sender_id}:{kind.value}:{moment}",
                )
                number = ticket.number
        except SQLAlchemyError:
            # The resident has already been told what to do; staff will see the log.
            logger.exception("alert.record_failed kind=%s sender=%s", kind, tracker.sender_id)
            return []
        logger.warning("alert.recorded kind=%s ticket=%s", kind.value, number)
        await wake_notifier()
        return []
