"""The request form's actions: validation, starting, changing a field, language."""

from __future__ import annotations

import re
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import ActiveLoop, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from nlu.actions import (
    ActionChangeField,
    ActionDetectLanguage,
    ActionNewRequest,
    ActionStartRequest,
    ValidateServiceRequestForm,
)
from nlu.actions.common import REQUEST_SLOTS
from nlu.actions.request_form import without_greeting
from tests.nlu.trackers import (
    FORM,
    Domain,
    make_tracker,
    responses,
    run,
    slot_values,
    user_message,
)

# --- the form's validation -----------------------------------------------------------

FORM_ACTION = ValidateServiceRequestForm()


async def _validate(domain: Domain, slot: str, value: Any, **tracker: Any) -> tuple[Any, Any]:
    dispatcher = CollectingDispatcher()
    validator = getattr(FORM_ACTION, f"validate_{slot}")
    result = await validator(value, dispatcher, make_tracker(domain, **tracker), domain)
    return result, dispatcher


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("13812345678", "+8613812345678"),
        (" 138 1234 5678 ", "+8613812345678"),
        ("+86 138-1234-5678", "+8613812345678"),
        ("8613812345678", "+8613812345678"),  # shared Telegram contact
        ("021-61234567", "+862161234567"),
    ],
)
async def test_validate_phone_accepts_numbers_as_e164(
    domain: Domain, value: str, expected: str
) -> None:
    result, dispatcher = await _validate(domain, "phone", value)
    assert result == {"phone": expected}
    assert dispatcher.messages == []


@pytest.mark.parametrize("value", ["12345", "call me", "", None, 13812345678])
async def test_validate_phone_rejects_with_the_input_echoed(domain: Domain, value: Any) -> None:
    result, dispatcher = await _validate(domain, "phone", value)
    assert result == {"phone": None}
    assert responses(dispatcher) == ["utter_invalid_phone"]
    expected = value.strip() if isinstance(value, str) else ""
    assert dispatcher.messages[0]["phone_input"] == expected


async def test_validate_phone_echo_is_cut_short(domain: Domain) -> None:
    _, dispatcher = await _validate(domain, "phone", "x" * 5_000)
    assert dispatcher.messages[0]["phone_input"] == "x" * 40


async def test_validate_phone_ignores_other_payloads(domain: Domain) -> None:
    result, dispatcher = await _validate(domain, "phone", "/cancel_request")
    assert result == {"phone": None}
    assert dispatcher.messages == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("幸福路88弄3号 1201室", "幸福路88弄3号 1201室"),
        ("  幸福路8号  ", "幸福路8号"),
        ("3号", "3号"),
    ],
)
async def test_validate_address_accepts(domain: Domain, value: str, expected: str) -> None:
    result, dispatcher = await _validate(domain, "address", value)
    assert result == {"address": expected}
    assert dispatcher.messages == []


async def test_validate_address_accepts_500_characters(domain: Domain) -> None:
    result, _ = await _validate(domain, "address", "路" * 500)
    assert result == {"address": "路" * 500}


@pytest.mark.parametrize("value", ["", "  ", "A", "路" * 501, None])
async def test_validate_address_too_short_or_too_long(domain: Domain, value: Any) -> None:
    result, dispatcher = await _validate(domain, "address", value)
    assert result == {"address": None}
    assert responses(dispatcher) == ["utter_invalid_address"]


@pytest.mark.parametrize(
    "value", ['/share_location{"latitude": 31.2, "longitude": 121.4}', "/cancel_request"]
)
async def test_validate_address_payload_is_not_an_address(domain: Domain, value: str) -> None:
    result, dispatcher = await _validate(domain, "address", value)
    assert result == {"address": None}
    assert dispatcher.messages == []


async def test_validate_description(domain: Domain) -> None:
    assert (await _validate(domain, "description", " 水管漏水 "))[0] == {"description": "水管漏水"}
    result, dispatcher = await _validate(domain, "description", "x" * 10_001)
    assert result == {"description": None}
    assert responses(dispatcher) == ["utter_invalid_description"]
    result, dispatcher = await _validate(domain, "description", "/help")
    assert result == {"description": None}
    assert dispatcher.messages == []


@pytest.mark.parametrize(
    ("slot", "value", "expected"),
    [
        ("latitude", "31.2304", 31.2304),
        ("latitude", 90, 90.0),
        ("latitude", 90.5, None),
        ("latitude", "north", None),
        ("latitude", None, None),
        ("longitude", -180, -180.0),
        ("longitude", "181", None),
        ("longitude", "nan", None),
    ],
)
async def test_validate_coordinates(domain: Domain, slot: str, value: Any, expected: Any) -> None:
    assert (await _validate(domain, slot, value))[0] == {slot: expected}


async def test_validate_preferred_time_understood(domain: Domain) -> None:
    result, dispatcher = await _validate(domain, "preferred_time", "明天下午三点")
    assert result["preferred_time"] == "明天下午三点"
    start, end = result["preferred_time_iso"].split("|")
    assert start.endswith("T15:00:00+08:00")
    assert end > start
    assert dispatcher.messages == []


async def test_validate_preferred_time_any_time_is_kept_as_words(domain: Domain) -> None:
    result, _ = await _validate(domain, "preferred_time", "随时都可以")
    assert result == {"preferred_time": "随时都可以", "preferred_time_iso": None}


async def test_validate_preferred_time_too_long(domain: Domain) -> None:
    result, dispatcher = await _validate(domain, "preferred_time", "明" * 201)
    assert result == {"preferred_time": None}
    assert responses(dispatcher) == ["utter_invalid_time"]


PHOTO_ENTITY = [{"entity": "photo_ref", "value": "0f3a.jpg"}]


async def test_validate_photo_skipped(domain: Domain) -> None:
    result, dispatcher = await _validate(domain, "photo", "skipped")
    assert result == {"photo": "skipped"}
    assert dispatcher.messages == []


async def test_validate_photo_shared_photo_is_accepted(domain: Domain) -> None:
    message = user_message('/share_photo{"photo_ref": "0f3a.jpg"}', "share_photo", PHOTO_ENTITY)
    result, dispatcher = await _validate(domain, "photo", "0f3a.jpg", messages=[message])
    assert result == {"photo": "0f3a.jpg"}
    assert dispatcher.messages == []


@pytest.mark.parametrize("value", ["没有照片", "../../etc/passwd", "other.jpg"])
async def test_validate_photo_text_gets_a_hint(domain: Domain, value: str) -> None:
    message = user_message(value, None, [])
    result, dispatcher = await _validate(domain, "photo", value, messages=[message])
    assert result == {"photo": None}
    assert responses(dispatcher) == ["utter_photo_hint"]


async def test_validate_photo_typed_name_of_another_photo_is_not_accepted(
    domain: Domain,
) -> None:
    shared = user_message('/share_photo{"photo_ref": "0f3a.jpg"}', "share_photo", PHOTO_ENTITY)
    typed = user_message("evil.jpg", None, [])
    result, _ = await _validate(domain, "photo", "evil.jpg", messages=[shared, typed])
    assert result == {"photo": None}


async def test_validate_photo_payload_gets_no_hint(domain: Domain) -> None:
    result, dispatcher = await _validate(domain, "photo", "/help")
    assert result == {"photo": None}
    assert dispatcher.messages == []


def _form_slots(domain: Domain) -> list[str]:
    return list(domain["forms"][FORM]["required_slots"])


async def test_required_slots_never_ask_for_coordinates(domain: Domain) -> None:
    slots = await FORM_ACTION.required_slots(
        _form_slots(domain), CollectingDispatcher(), make_tracker(domain), domain
    )
    assert slots == ["description", "address", "preferred_time", "phone", "photo"]


async def test_required_slots_drop_address_for_a_pin(domain: Domain) -> None:
    domain_slots = _form_slots(domain)
    tracker = make_tracker(domain, slots={"latitude": 31.23, "longitude": 121.47})
    slots = await FORM_ACTION.required_slots(domain_slots, CollectingDispatcher(), tracker, domain)
    assert slots == ["description", "preferred_time", "phone", "photo"]
    assert domain_slots == _form_slots(domain)  # the domain's list is left alone


async def test_required_slots_keep_address_for_half_a_pin(domain: Domain) -> None:
    tracker = make_tracker(domain, slots={"latitude": 31.23})
    slots = await FORM_ACTION.required_slots(
        _form_slots(domain), CollectingDispatcher(), tracker, domain
    )
    assert "address" in slots


async def test_form_asks_for_the_time_after_a_location_pin(domain: Domain) -> None:
    pin = user_message(
        '/share_location{"latitude": 31.23, "longitude": 121.47}',
        "share_location",
        [{"entity": "latitude", "value": 31.23}, {"entity": "longitude", "value": 121.47}],
    )
    tracker = make_tracker(
        domain,
        slots={
            "category": "repair",
            "description": "水管漏水",
            "latitude": 31.23,
            "longitude": 121.47,
            "requested_slot": "address",
        },
        messages=[pin],
        active_loop=FORM,
    )
    events = await FORM_ACTION.run(CollectingDispatcher(), tracker, domain)
    assert slot_values(events)["requested_slot"] == "preferred_time"


# --- starting, changing, language ----------------------------------------------------


async def test_start_request_from_typed_text(domain: Domain) -> None:
    tracker = make_tracker(domain, messages=[user_message("  我家厨房水管漏水了 ", "repair")])
    events, dispatcher = await run(ActionStartRequest(), tracker, domain)
    values = slot_values(events)
    assert values["category"] == "repair"
    assert values["description"] == "我家厨房水管漏水了"
    assert re.fullmatch(r"[0-9a-f]{32}", values["request_id"])
    assert values["awaiting_confirmation"] is False
    assert dispatcher.messages == []


async def test_start_request_keeps_a_phone_number_written_in_the_request(domain: Domain) -> None:
    text = "马桶堵了，麻烦联系我 138-1234-5678"
    tracker = make_tracker(domain, messages=[user_message(text, "repair")])
    events, _ = await run(ActionStartRequest(), tracker, domain)
    assert slot_values(events)["phone"] == "+8613812345678"
    without = make_tracker(domain, messages=[user_message("马桶堵了", "repair")])
    events, _ = await run(ActionStartRequest(), without, domain)
    assert "phone" not in slot_values(events)


async def test_start_request_keeps_address_time_and_who_written_in_the_request(
    domain: Domain,
) -> None:
    text = "帮我妈修一下厨房水管，地址幸福小区3栋2单元501，明天下午三点来"
    tracker = make_tracker(domain, messages=[user_message(text, "repair")])
    values = slot_values((await run(ActionStartRequest(), tracker, domain))[0])
    assert values["address"] == "幸福小区3栋2单元501"
    assert values["preferred_time"] == "明天下午三点"
    assert values["preferred_time_iso"] and "T15:00:00" in values["preferred_time_iso"]
    assert values["beneficiary"] == "mother"

    english = (
        "My elderly father's sink is blocked, flat 501 building 3 Xingfu Road, tomorrow morning"
    )
    tracker = make_tracker(
        domain, messages=[user_message(english, "repair")], slots={"language": "en"}
    )
    values = slot_values((await run(ActionStartRequest(), tracker, domain))[0])
    assert values["address"] == "flat 501 building 3 Xingfu Road"
    assert values["preferred_time"] == "tomorrow morning"
    assert values["beneficiary"] == "father"

    # A building number is not a date, and a bare need fills nothing in.
    plain = make_tracker(domain, messages=[user_message("7号楼的电梯坏了", "property")])
    values = slot_values((await run(ActionStartRequest(), plain, domain))[0])
    assert "preferred_time" not in values and "address" not in values
    assert values["beneficiary"] is None


async def test_start_request_gives_each_request_its_own_id(domain: Domain) -> None:
    tracker = make_tracker(domain, messages=[user_message("水管漏水", "repair")])
    first, _ = await run(ActionStartRequest(), tracker, domain)
    second, _ = await run(ActionStartRequest(), tracker, domain)
    assert slot_values(first)["request_id"] != slot_values(second)["request_id"]


async def test_start_request_from_a_category_button_takes_the_earlier_message(
    domain: Domain,
) -> None:
    messages = [
        user_message("家里那个东西又坏了", "nlu_fallback"),
        user_message("/repair", "repair"),
    ]
    events, _ = await run(ActionStartRequest(), make_tracker(domain, messages=messages), domain)
    values = slot_values(events)
    assert values["category"] == "repair"
    assert values["description"] == "家里那个东西又坏了"


async def test_start_request_from_buttons_only_has_no_description(domain: Domain) -> None:
    messages = [user_message("/greet", "greet"), user_message("/elder_care", "elder_care")]
    events, _ = await run(ActionStartRequest(), make_tracker(domain, messages=messages), domain)
    assert slot_values(events)["category"] == "elder_care"
    assert slot_values(events)["description"] is None


async def test_start_request_drops_a_description_that_is_too_long(domain: Domain) -> None:
    tracker = make_tracker(domain, messages=[user_message("漏" * 10_001, "repair")])
    events, _ = await run(ActionStartRequest(), tracker, domain)
    assert slot_values(events)["description"] is None


@pytest.mark.parametrize("intent", ["greet", "nlu_fallback", None])
async def test_start_request_needs_a_category_intent(domain: Domain, intent: str | None) -> None:
    tracker = make_tracker(domain, messages=[user_message("你好", intent)])
    assert (await run(ActionStartRequest(), tracker, domain))[0] == []


def _change(
    domain: Domain, field: str | None, text: str | None = None, *, filling: bool = True
) -> Tracker:
    entities = [{"entity": "field", "value": field}] if field else []
    if text is None:
        text = f'/change_field{{"field": "{field}"}}' if field else "我要改一下"
    slots = {"request_id": "r1", "category": "repair"} if filling else {}
    return make_tracker(
        domain, slots=slots, messages=[user_message(text, "change_field", entities)]
    )


@pytest.mark.parametrize(
    ("field", "cleared"),
    [
        ("address", {"address", "latitude", "longitude"}),
        ("preferred_time", {"preferred_time", "preferred_time_iso"}),
        ("phone", {"phone"}),
        ("description", {"description"}),
        ("photo", {"photo"}),
    ],
)
async def test_change_field_clears_linked_slots(
    domain: Domain, field: str, cleared: set[str]
) -> None:
    events, _ = await run(ActionChangeField(), _change(domain, field), domain)
    values = slot_values(events)
    assert values == {
        "awaiting_confirmation": False,
        "field_to_change": None,
        **dict.fromkeys(cleared),
    }


@pytest.mark.parametrize(
    ("field", "text", "expected"),
    [
        ("address", "地址错了，应该是6栋2单元301", {"address": "6栋2单元301"}),
        ("phone", "电话写错了，是13912345678", {"phone": "13912345678"}),
        ("preferred_time", "时间改成后天上午", {"preferred_time": "后天上午"}),
        ("description", "需求写错了，应该是厨房水管漏水", {"description": "厨房水管漏水"}),
        (
            "preferred_time",
            "change the time to Saturday morning",
            {"preferred_time": "Saturday morning"},
        ),
    ],
)
async def test_a_typed_correction_sets_the_new_value(
    domain: Domain, field: str, text: str, expected: dict[str, str]
) -> None:
    events, dispatcher = await run(ActionChangeField(), _change(domain, field, text), domain)
    values = slot_values(events)
    assert {name: values[name] for name in expected} == expected
    assert values["awaiting_confirmation"] is False
    assert dispatcher.messages == []


async def test_a_correction_of_the_address_drops_the_pin(domain: Domain) -> None:
    events, _ = await run(
        ActionChangeField(), _change(domain, "address", "地址错了，是7栋"), domain
    )
    values = slot_values(events)
    assert (values["address"], values["latitude"], values["longitude"]) == ("7栋", None, None)


async def test_the_value_of_another_field_is_not_taken(domain: Domain) -> None:
    # The button says "address"; the words correct the phone: only the address is cleared.
    events, _ = await run(
        ActionChangeField(), _change(domain, "address", "电话写错了，是13912345678"), domain
    )
    assert slot_values(events)["address"] is None
    assert "phone" not in slot_values(events)


async def test_nothing_to_change_when_no_request_is_being_filled_in(domain: Domain) -> None:
    tracker = _change(domain, "address", "地址错了，应该是6栋", filling=False)
    events, dispatcher = await run(ActionChangeField(), tracker, domain)
    assert responses(dispatcher) == ["utter_nothing_to_change"]
    assert FollowupAction("action_listen") in events
    assert "address" not in slot_values(events)


@pytest.mark.parametrize("field", ["category", "request_id", "language", None])
async def test_change_field_refuses_other_slots(domain: Domain, field: str | None) -> None:
    events, _ = await run(ActionChangeField(), _change(domain, field), domain)
    assert slot_values(events) == {"awaiting_confirmation": False, "field_to_change": None}


async def test_new_request_forgets_the_request_and_asks(domain: Domain) -> None:
    tracker = make_tracker(domain, slots={"category": "repair"}, active_loop=FORM)
    events, dispatcher = await run(ActionNewRequest(), tracker, domain)
    assert responses(dispatcher) == ["utter_ask_need"]
    assert ActiveLoop(None) in events
    values = slot_values(events)
    assert set(REQUEST_SLOTS) <= set(values)
    assert all(values[name] is None for name in REQUEST_SLOTS)


@pytest.mark.parametrize(
    ("metadata", "slot", "expected"),
    [
        ({"language": "en"}, "zh", [SlotSet("language", "en")]),
        ({"language": "zh"}, "en", [SlotSet("language", "zh")]),
        ({"language": "en-GB"}, "zh", [SlotSet("language", "en")]),
        ({"language": "en"}, "en", []),
        ({"language": "fr"}, "zh", []),
        ({}, "en", []),
    ],
)
async def test_detect_language_copies_metadata(
    domain: Domain, metadata: dict[str, Any], slot: str, expected: list[Any]
) -> None:
    tracker = make_tracker(
        domain, slots={"language": slot}, messages=[user_message("hi", None, [], metadata)]
    )
    assert (await run(ActionDetectLanguage(), tracker, domain))[0] == expected


async def test_detect_language_without_any_message(domain: Domain) -> None:
    assert (await run(ActionDetectLanguage(), make_tracker(domain), domain))[0] == []


# --- the answer to the question asked wins over the intent (issue 12) --------------------


@pytest.mark.parametrize(
    ("slot", "text", "intent"),
    [
        ("phone", "021-6234 5678", "check_status"),
        ("phone", "021-62345678", "check_status"),
        ("phone", "(021) 6234-5678 转 801", "help"),
        ("preferred_time", "这周六下午", "help"),
        ("preferred_time", "Saturday morning", "check_status"),
    ],
)
async def test_an_answer_that_reads_as_the_asked_field_fills_it_whatever_the_intent(
    domain: Domain, slot: str, text: str, intent: str
) -> None:
    tracker = make_tracker(
        domain,
        slots={"requested_slot": slot},
        messages=[user_message(text, intent)],
        active_loop=FORM,
    )
    extract = getattr(FORM_ACTION, f"extract_{slot}")
    assert await extract(CollectingDispatcher(), tracker, domain) == {slot: text}


@pytest.mark.parametrize(
    ("slot", "text", "requested"),
    [
        ("phone", "我的工单怎么样了", "phone"),
        ("phone", "021-6234 5678", "address"),
        ("phone", "/check_status", "phone"),
        ("preferred_time", "上门要收费吗？", "preferred_time"),
        ("preferred_time", "明天下午", "phone"),
    ],
)
async def test_other_messages_fill_nothing(
    domain: Domain, slot: str, text: str, requested: str
) -> None:
    tracker = make_tracker(
        domain,
        slots={"requested_slot": requested},
        messages=[user_message(text, "check_status")],
        active_loop=FORM,
    )
    extract = getattr(FORM_ACTION, f"extract_{slot}")
    assert await extract(CollectingDispatcher(), tracker, domain) == {}


# --- a question inside the form is answered, never stored (issue 12) ----------------------


@pytest.mark.parametrize(
    "text",
    [
        "上门要收费吗？",
        "上门要收费吗",
        "要多少钱?",
        "谁来修呢",
        "Is it free?",
        "how long will it take",
        "who will come",
    ],
)
@pytest.mark.parametrize("slot", ["address", "preferred_time"])
async def test_a_question_is_answered_and_not_stored(domain: Domain, slot: str, text: str) -> None:
    result, dispatcher = await _validate(domain, slot, text, slots={"category": "repair"})
    assert result[slot] is None
    [answer] = dispatcher.messages
    assert answer["response"] == "utter_form_question"
    assert answer["category_name"] == "维修" and answer["claim_hours"] == "24"


@pytest.mark.parametrize(
    ("slot", "text"),
    [
        ("address", "幸福小区3栋2单元501"),
        ("address", "Flat 501, Building 3, Xingfu Estate"),
        ("preferred_time", "什么时候都行"),
        ("preferred_time", "随时都可以"),
        ("preferred_time", "明天下午"),
    ],
)
async def test_answers_are_not_questions(domain: Domain, slot: str, text: str) -> None:
    result, dispatcher = await _validate(domain, slot, text, slots={"category": "repair"})
    assert result[slot] == text
    assert dispatcher.messages == []


# --- what the first question opens with; greetings ----------------------------------


@pytest.mark.parametrize(
    ("text", "need"),
    [
        ("你好，我家水管漏了", "我家水管漏了"),
        ("您好！在吗？楼道灯坏了", "楼道灯坏了"),
        ("Hello! My tap is leaking", "My tap is leaking"),
        ("hi, the lift is broken", "the lift is broken"),
        ("history lessons for my son", "history lessons for my son"),  # not "hi"
        ("你好", "你好"),  # nothing else: kept
    ],
)
def test_a_greeting_is_not_part_of_the_need(text: str, need: str) -> None:
    assert without_greeting(text) == need


async def test_the_request_opens_with_the_category_understood(domain: Domain) -> None:
    tracker = make_tracker(domain, messages=[user_message("你好，我家水管漏了", "repair")])
    values = slot_values((await run(ActionStartRequest(), tracker, domain))[0])
    assert values["description"] == "我家水管漏了"
    assert values["acknowledgement"] == "收到，这是维修方面的需求。"
    english = make_tracker(
        domain, slots={"language": "en"}, messages=[user_message("my tap leaks", "repair")]
    )
    values = slot_values((await run(ActionStartRequest(), english, domain))[0])
    assert values["acknowledgement"].startswith("Got it: this is a request for Repairs")
