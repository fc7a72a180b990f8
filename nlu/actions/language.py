"""Keeps the `language` slot in step with the language the front decided."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from i18n import normalise_language
from nlu.actions.common import latest_metadata


class ActionDetectLanguage(Action):
    """Custom slot mapping: copy the front's language decision into the slot."""

    def name(self) -> str:
        return "action_detect_language"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        chosen = normalise_language(latest_metadata(tracker).get("language"))
        if chosen and chosen != tracker.get_slot("language"):
            return [SlotSet("language", chosen)]
        return []
