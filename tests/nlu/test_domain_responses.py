"""domain.yml and the Rasa training data agree with each other and with the actions."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import string
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from rasa_sdk import Action

import nlu.actions
from config import PROJECT_ROOT
from nlu.actions.common import CATEGORIES
from nlu.tooling.classify import CATEGORY_CODES

EN_CONDITION = [{"type": "slot", "name": "language", "value": "en"}]
FORM = "service_request_form"
ASKED_SLOTS = ("description", "address", "preferred_time", "phone", "photo")
# Intents Rasa itself defines; rules may use them without declaring them.
RASA_DEFAULT_INTENTS = {"nlu_fallback", "restart", "back", "session_start"}
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")


def _load(relative: str) -> dict[str, Any]:
    with (PROJECT_ROOT / relative).open(encoding="utf-8") as handle:
        data: dict[str, Any] = yaml.safe_load(handle)
    return data


DOMAIN = _load("domain.yml")
RULES = _load("nlu/data/rules.yml")["rules"]
NLU = [
    item
    for path in sorted((PROJECT_ROOT / "nlu" / "data").glob("*.yml"))
    for item in (_load(str(path.relative_to(PROJECT_ROOT))).get("nlu") or [])
]
RESPONSES: dict[str, list[dict[str, Any]]] = DOMAIN["responses"]


def _default(variations: list[dict[str, Any]], channel: str | None = None) -> dict[str, Any]:
    defaults = [v for v in variations if "condition" not in v and v.get("channel") == channel]
    assert len(defaults) == 1
    return defaults[0]


def _english(variations: list[dict[str, Any]], channel: str | None = None) -> dict[str, Any]:
    english = [
        v for v in variations if v.get("condition") == EN_CONDITION and v.get("channel") == channel
    ]
    assert len(english) == 1
    return english[0]


def _channels(variations: list[dict[str, Any]]) -> list[str | None]:
    """None (every front) and the fronts with variations of their own (cli)."""
    return [None, *sorted({v["channel"] for v in variations if v.get("channel")})]


def _text(variation: dict[str, Any]) -> str:
    custom = variation.get("custom")
    text = custom.get("text") if isinstance(custom, dict) else variation.get("text")
    assert isinstance(text, str) and text.strip()
    return text


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def _payloads(variation: dict[str, Any]) -> list[str]:
    return [button["payload"] for button in variation.get("buttons") or []]


def _keyboard_flags(variation: dict[str, Any]) -> list[list[tuple[bool, bool]]]:
    custom = variation.get("custom") or {}
    return [
        [(bool(b.get("request_contact")), bool(b.get("request_location"))) for b in row]
        for row in custom.get("reply_keyboard") or []
    ]


def _rule_steps() -> Iterator[dict[str, Any]]:
    for rule in RULES:
        for step in rule["steps"]:
            if "or" in step:
                yield from step["or"]
            else:
                yield step


def _action_classes() -> list[type[Action]]:
    classes: list[type[Action]] = []
    for info in pkgutil.iter_modules(nlu.actions.__path__, "nlu.actions."):
        module = importlib.import_module(info.name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(value, Action)
                and value.__module__ == module.__name__
                and not inspect.isabstract(value)
            ):
                classes.append(value)
    return classes


RESPONSE_NAMES = sorted(RESPONSES)
# Every response for every front with variations of its own (None: the common ones).
RESPONSE_CHANNELS = [
    (name, channel) for name in RESPONSE_NAMES for channel in _channels(RESPONSES[name])
]
# What the terminal chat has not: location and contact buttons, buttons to tap.
_TERMINAL_UNTRUE = re.compile(r"按钮|点“|点下方|点一次|\btap\b|\bbuttons?\b", re.IGNORECASE)


def test_responses_exist() -> None:
    assert len(RESPONSE_NAMES) > 20
    assert all(name.startswith("utter_") for name in RESPONSE_NAMES)


@pytest.mark.parametrize(("name", "channel"), RESPONSE_CHANNELS)
def test_response_has_a_chinese_default_and_an_english_variation(
    name: str, channel: str | None
) -> None:
    variations = [v for v in RESPONSES[name] if v.get("channel") == channel]
    assert len(variations) == 2
    zh, en = _default(variations, channel), _english(variations, channel)
    assert _HAN.search(_text(zh)), f"{name}: the default variation should be Chinese"
    assert not _HAN.search(_text(en)), f"{name}: the English variation has Chinese in it"


@pytest.mark.parametrize(("name", "channel"), RESPONSE_CHANNELS)
def test_response_buttons_match_across_languages(name: str, channel: str | None) -> None:
    zh, en = _default(RESPONSES[name], channel), _english(RESPONSES[name], channel)
    assert _payloads(zh) == _payloads(en)
    assert len(zh.get("buttons") or []) == len(en.get("buttons") or [])
    assert _keyboard_flags(zh) == _keyboard_flags(en)


@pytest.mark.parametrize(("name", "channel"), RESPONSE_CHANNELS)
def test_response_placeholders_exist_in_english(name: str, channel: str | None) -> None:
    zh, en = _default(RESPONSES[name], channel), _english(RESPONSES[name], channel)
    assert _placeholders(_text(zh)) <= _placeholders(_text(en))


@pytest.mark.parametrize("name", RESPONSE_NAMES)
def test_a_front_of_its_own_gets_the_same_buttons_and_values(name: str) -> None:
    common = _default(RESPONSES[name])
    for channel in _channels(RESPONSES[name])[1:]:
        own = _default(RESPONSES[name], channel)
        assert _payloads(own) == _payloads(common), f"{name} on {channel}"
        assert _placeholders(_text(own)) == _placeholders(_text(common)), f"{name} on {channel}"


@pytest.mark.parametrize("name", RESPONSE_NAMES)
def test_the_terminal_is_never_told_to_tap_a_button(name: str) -> None:
    # `orders chat` shows buttons as numbers and has no location or contact button:
    # what it says (its own `channel: cli` variation, else the common one) never asks
    # for a tap or a button.
    channel = "cli" if "cli" in _channels(RESPONSES[name]) else None
    for variation in (_default(RESPONSES[name], channel), _english(RESPONSES[name], channel)):
        assert not _TERMINAL_UNTRUE.search(_text(variation)), f"{name}: {_text(variation)}"
        assert not _keyboard_flags(variation), f"{name}: a reply keyboard in the terminal"


def test_placeholder_extraction_sees_the_summary_fields() -> None:
    # Guards the check above against silently finding nothing.
    assert _placeholders(_text(_default(RESPONSES["utter_summary"]))) == {
        "category_name",
        "beneficiary_display",
        "description",
        "address_display",
        "time_display",
        "phone",
        "photo_display",
    }


def test_form_asks_for_the_expected_slots() -> None:
    required = DOMAIN["forms"][FORM]["required_slots"]
    assert set(ASKED_SLOTS) <= set(required)
    assert set(required) <= set(DOMAIN["slots"])


@pytest.mark.parametrize("slot", ASKED_SLOTS)
def test_every_asked_slot_has_a_question(slot: str) -> None:
    assert f"utter_ask_{slot}" in RESPONSES


def test_rules_use_only_declared_intents_with_examples() -> None:
    declared = set(DOMAIN["intents"])
    with_examples = {
        item["intent"] for item in NLU if "intent" in item and str(item.get("examples")).strip()
    }
    used = {step["intent"] for step in _rule_steps() if "intent" in step}
    assert "repair" in used and "confirm_submit" in used
    custom = used - RASA_DEFAULT_INTENTS
    assert custom <= declared, custom - declared
    assert custom <= with_examples, custom - with_examples


def test_every_declared_intent_has_examples() -> None:
    with_examples = {item["intent"] for item in NLU if "intent" in item}
    assert set(DOMAIN["intents"]) <= with_examples, set(DOMAIN["intents"]) - with_examples


def test_rules_use_only_declared_actions() -> None:
    known = set(DOMAIN["actions"]) | set(DOMAIN["forms"]) | set(RESPONSES)
    used = {step["action"] for step in _rule_steps() if "action" in step}
    assert "action_submit_request" in used and "action_record_alert" in used
    assert used <= known, used - known


def test_every_declared_custom_action_is_implemented() -> None:
    implemented = {cls().name() for cls in _action_classes()}
    assert set(DOMAIN["actions"]) <= implemented, set(DOMAIN["actions"]) - implemented


def test_every_implemented_action_is_declared() -> None:
    implemented = {cls().name() for cls in _action_classes()}
    assert implemented <= set(DOMAIN["actions"]), implemented - set(DOMAIN["actions"])


def test_public_surface_lists_every_action() -> None:
    exported = {getattr(nlu.actions, name) for name in nlu.actions.__all__}
    assert set(_action_classes()) <= exported


def test_custom_slot_mapping_actions_are_declared() -> None:
    for slot in DOMAIN["slots"].values():
        for mapping in slot["mappings"]:
            if mapping["type"] == "custom" and "action" in mapping:
                assert mapping["action"] in DOMAIN["actions"]


def test_category_lists_agree() -> None:
    category_intents = set(DOMAIN["intents"][: len(CATEGORIES)])
    assert set(CATEGORIES) == category_intents
    assert set(CATEGORY_CODES) == set(CATEGORIES)


def test_handoff_offer_has_a_person_and_a_retry() -> None:
    payloads = _payloads(_default(RESPONSES["utter_offer_handoff"]))
    assert payloads == ["/human_handoff", "/other_need"]


def test_category_rule_starts_the_form_for_every_category() -> None:
    rule = next(
        r for r in RULES if any(s.get("action") == "action_start_request" for s in r["steps"])
    )
    intents = {item["intent"] for item in rule["steps"][0]["or"]}
    assert intents == set(CATEGORIES)
