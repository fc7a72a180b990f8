"""The contract line of `orders classify` for one parsed message."""

from __future__ import annotations

from typing import Any

import pytest

from nlu.actions.common import CATEGORIES
from nlu.tooling.classify import classification


def _parsed(*ranking: tuple[str, float]) -> dict[str, Any]:
    items = [{"name": name, "confidence": confidence} for name, confidence in ranking]
    return {"text": "x", "intent": items[0] if items else None, "intent_ranking": items}


@pytest.mark.parametrize("category", CATEGORIES)
def test_category_intent(category: str) -> None:
    result = classification("text", _parsed((category, 0.91234567), ("greet", 0.05)))
    assert result == {
        "text": "text",
        "label": category,
        "intent": "request_service",
        "category": category,
        "confidence": 0.9123,
    }


def test_conversation_intent() -> None:
    result = classification("你好", _parsed(("greet", 0.99), ("repair", 0.01)))
    assert result == {
        "text": "你好",
        "label": "greet",
        "intent": "greet",
        "category": None,
        "confidence": 0.99,
    }


def test_nlu_fallback_is_skipped_for_the_best_real_intent() -> None:
    parsed = _parsed(("nlu_fallback", 0.7), ("elder_care", 0.42), ("repair", 0.3))
    result = classification("看看我妈", parsed)
    assert result["label"] == "elder_care"
    assert result["intent"] == "request_service"
    assert result["category"] == "elder_care"
    assert result["confidence"] == 0.42


def test_nlu_fallback_before_a_conversation_intent() -> None:
    result = classification("hmm", _parsed(("nlu_fallback", 0.7), ("out_of_scope", 0.2)))
    assert result["label"] == "out_of_scope"
    assert result["intent"] == "out_of_scope"
    assert result["category"] is None


def test_empty_parse_is_out_of_scope() -> None:
    assert classification("", {}) == {
        "text": "",
        "label": "out_of_scope",
        "intent": "out_of_scope",
        "category": None,
        "confidence": 0.0,
    }


def test_intent_without_ranking() -> None:
    result = classification("x", {"intent": {"name": "repair", "confidence": 0.5}})
    assert result["label"] == "repair"
    assert result["confidence"] == 0.5


def test_nameless_ranking_entries_are_skipped() -> None:
    parsed = {"intent_ranking": [{"confidence": 0.9}, {"name": "", "confidence": 0.8}]}
    parsed["intent_ranking"].append({"name": "thank", "confidence": 0.1})
    result = classification("x", parsed)
    assert result["label"] == "thank"
    assert result["confidence"] == 0.1


def test_missing_confidence_is_zero() -> None:
    result = classification("x", {"intent": {"name": "greet", "confidence": None}})
    assert result["confidence"] == 0.0
    assert isinstance(result["confidence"], float)
