"""Never a dead end: when unsure, offer the likeliest categories; after two misses,
offer a person."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from desk.render import category_name
from i18n import t
from nlu.actions.alerts import resident_hotline
from nlu.actions.common import CATEGORIES, language, transaction
from services.categories import list_categories
from services.models import Category

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
            # The community's hotline is offered with the person.
            dispatcher.utter_message(
                response="utter_offer_handoff", **await resident_hotline(tracker)
            )
            return [SlotSet("clarify_misses", 0)]
        lang = language(tracker)
        async with transaction() as session:
            categories = await list_categories(session)
        return [
            *offer_categories(dispatcher, tracker, lang, categories),
            SlotSet("clarify_misses", misses),
        ]


def offer_categories(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    lang: str,
    categories: Mapping[str, Category],
) -> list[dict[str, Any]]:
    """Asks which of the likeliest categories is meant (from the classifier's ranking
    of the latest message), with 'something else'."""
    choices = likeliest_categories(tracker.latest_message.get("intent_ranking") or [])
    buttons = [
        {"title": category_name(categories, code, lang), "payload": f"/{code}"} for code in choices
    ] + [{"title": t("something_else", lang), "payload": "/other_need"}]
    dispatcher.utter_message(response="utter_clarify_category", buttons=buttons)
    return []
