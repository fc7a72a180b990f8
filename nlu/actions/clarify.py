"""Never a dead end: when unsure, offer the likeliest categories; after two misses,
offer a person."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from nlu.actions.common import CATEGORIES, language, transaction
from orders.i18n import t
from orders.render import category_name
from services.categories import list_categories

MAX_CHOICES = 3
MIN_CONFIDENCE = 0.05
MISSES_BEFORE_HANDOFF = 2


def likeliest_categories(ranking: list[dict[str, Any]]) -> list[str]:
    """Up to three categories the model found plausible, most likely first."""
    ranked = [
        item["name"]
        for item in ranking
        if item.get("name") in CATEGORIES and float(item.get("confidence") or 0) >= MIN_CONFIDENCE
    ]
    return ranked[:MAX_CHOICES]


class ActionClarifyCategory(Action):
    """Asks which of the likeliest categories is meant, with 'something else'."""

    def name(self) -> str:
        return "action_clarify_category"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        misses = int(tracker.get_slot("clarify_misses") or 0) + 1
        if misses > MISSES_BEFORE_HANDOFF:
            dispatcher.utter_message(response="utter_offer_handoff")
            return [SlotSet("clarify_misses", 0)]
        choices = likeliest_categories(tracker.latest_message.get("intent_ranking") or [])
        lang = language(tracker)
        async with transaction() as session:
            categories = await list_categories(session)
        buttons = [
            {"title": category_name(categories, code, lang), "payload": f"/{code}"}
            for code in choices
        ] + [{"title": t("something_else", lang), "payload": "/other_need"}]
        dispatcher.utter_message(response="utter_clarify_category", buttons=buttons)
        return [SlotSet("clarify_misses", misses)]
