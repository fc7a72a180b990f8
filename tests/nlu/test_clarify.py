"""The clarifying question offers the likeliest categories only."""

from __future__ import annotations

from typing import Any

from nlu.actions.clarify import likeliest_categories


def test_top_three_categories_skip_other_intents_and_unlikely_ones() -> None:
    ranking = [
        {"name": "nlu_fallback", "confidence": 0.4},
        {"name": "repair", "confidence": 0.35},
        {"name": "greet", "confidence": 0.2},
        {"name": "property", "confidence": 0.2},
        {"name": "mediation", "confidence": 0.1},
        {"name": "elder_care", "confidence": 0.06},
        {"name": "policy", "confidence": 0.01},
    ]
    assert likeliest_categories(ranking) == ["repair", "property", "mediation"]


def test_nothing_plausible_gives_no_category() -> None:
    assert likeliest_categories([{"name": "policy", "confidence": 0.01}]) == []
    assert likeliest_categories([]) == []


async def test_unsure_offers_choices_then_a_person_after_two_misses(
    domain: dict[str, object], database: object
) -> None:
    from rasa_sdk.executor import CollectingDispatcher

    from nlu.actions.clarify import ActionClarifyCategory
    from tests.nlu.trackers import make_tracker

    message: dict[str, Any] = {
        "event": "user",
        "text": "家里有点麻烦事",
        "parse_data": {
            "text": "家里有点麻烦事",
            "intent": {"name": "nlu_fallback", "confidence": 0.4},
            "intent_ranking": [
                {"name": "nlu_fallback", "confidence": 0.4},
                {"name": "repair", "confidence": 0.3},
                {"name": "mediation", "confidence": 0.2},
            ],
            "entities": [],
        },
        "metadata": {},
    }
    action = ActionClarifyCategory()
    for misses in (0, 1):
        tracker = make_tracker(domain, slots={"clarify_misses": misses}, messages=[message])
        tracker.latest_message["intent_ranking"] = message["parse_data"]["intent_ranking"]
        dispatcher = CollectingDispatcher()
        events = await action.run(dispatcher, tracker, domain)
        [sent] = dispatcher.messages
        assert sent["response"] == "utter_clarify_category"
        assert [b["payload"] for b in sent["buttons"]] == ["/repair", "/mediation", "/other_need"]
        assert [b["title"] for b in sent["buttons"]] == ["维修", "纠纷调解", "都不是，我换个说法"]
        assert events[0]["value"] == misses + 1
    tracker = make_tracker(domain, slots={"clarify_misses": 2}, messages=[message])
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, domain)
    assert [m["response"] for m in dispatcher.messages] == ["utter_offer_handoff"]
    assert events[0]["value"] == 0
