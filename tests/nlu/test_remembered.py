"""A returning resident is offered the phone and address of their latest ticket (issue
12): the question, the answers to it (use it, another, a new number), the purge, other
residents, and phones shown as people write them (real SQLite)."""

from __future__ import annotations

import string
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nlu.actions import ActionAskAddress, ActionAskPhone, ActionSubmitRequest
from nlu.actions.request_form import ValidateServiceRequestForm
from services import Ticket
from services.parsing import display_phone
from services.retention import purge_pii
from tests.nlu.trackers import FORM, Domain, make_tracker, run, slot_values, user_message

Sessions = async_sessionmaker[AsyncSession]
FORM_ACTION = ValidateServiceRequestForm()
ADDRESS = "幸福小区3栋2单元501"


def _sender() -> str:
    return f"cli:{uuid.uuid4().hex[:12]}"


def bot(response: str, text: str = "…") -> dict[str, Any]:
    """A bot message made from `response`, as Rasa records it."""
    return {"event": "bot", "text": text, "metadata": {"utter_action": response}}


def slot(name: str, value: Any) -> dict[str, Any]:
    return {"event": "slot", "name": name, "value": value}


async def _file(domain: Domain, sender: str, **slots: Any) -> str:
    """File a ticket for `sender` through the submit action; its number."""
    values = {
        "category": "repair",
        "request_id": uuid.uuid4().hex,
        "description": "厨房水管漏水",
        "address": ADDRESS,
        "phone": "+8613812345678",
        "photo": "skipped",
        "awaiting_confirmation": True,
        "duplicate_checked": True,
    }
    values.update(slots)
    _, dispatcher = await run(
        ActionSubmitRequest(), make_tracker(domain, slots=values, sender_id=sender), domain
    )
    [filed] = dispatcher.messages
    assert filed["response"] == "utter_ticket_filed", filed
    return str(filed["ticket_number"])


def _asking(
    domain: Domain, sender: str, requested: str, *events: dict[str, Any], **slots: Any
) -> Tracker:
    """The tracker of a form about to ask for `requested` in a new request."""
    messages = [
        slot("request_id", "r2"),
        *events,
        user_message("明天下午", "inform"),
    ]
    return make_tracker(
        domain,
        slots={"request_id": "r2", "requested_slot": requested, **slots},
        messages=messages,
        active_loop=FORM,
        sender_id=sender,
    )


def _answering(
    domain: Domain, sender: str, requested: str, text: str, intent: str, **slots: Any
) -> Tracker:
    """The tracker of a resident answering the remembered `requested` offer."""
    offer = f"utter_ask_{requested}_remembered"
    messages = [slot("request_id", "r2"), bot(offer), user_message(text, intent)]
    return make_tracker(
        domain,
        slots={"request_id": "r2", "requested_slot": requested, **slots},
        messages=messages,
        active_loop=FORM,
        sender_id=sender,
    )


# --- phones as people write them -------------------------------------------------------


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("+8613812345678", "138 1234 5678"),
        ("+862162345678", "021 6234 5678"),
        ("+861062345678", "010 6234 5678"),
        ("+85291234567", "+852 9123 4567"),
        ("not a number", "not a number"),
        (None, None),
    ],
)
def test_phones_are_shown_in_the_national_format(stored: str | None, shown: str | None) -> None:
    assert display_phone(stored) == shown


# --- the question ------------------------------------------------------------------


async def test_a_new_resident_is_asked_the_usual_questions(
    domain: Domain, database: Sessions
) -> None:
    sender = _sender()
    _, dispatcher = await run(ActionAskPhone(), _asking(domain, sender, "phone"), domain)
    _, asked_address = await run(ActionAskAddress(), _asking(domain, sender, "address"), domain)
    assert [m["response"] for m in dispatcher.messages + asked_address.messages] == [
        "utter_ask_phone",
        "utter_ask_address",
    ]


async def test_a_returning_resident_is_offered_the_phone_and_address_of_the_last_ticket(
    domain: Domain, database: Sessions
) -> None:
    sender = _sender()
    await _file(domain, sender, phone="+8613900001111", address="和平里5号楼101")
    await _file(domain, sender)  # the latest one is offered
    _, dispatcher = await run(ActionAskPhone(), _asking(domain, sender, "phone"), domain)
    [asked] = dispatcher.messages
    assert (asked["response"], asked["phone"]) == ("utter_ask_phone_remembered", "138 1234 5678")
    _, dispatcher = await run(ActionAskAddress(), _asking(domain, sender, "address"), domain)
    [asked] = dispatcher.messages
    assert (asked["response"], asked["address"]) == ("utter_ask_address_remembered", ADDRESS)


async def test_a_landline_is_offered_as_people_write_it(domain: Domain, database: Sessions) -> None:
    sender = _sender()
    await _file(domain, sender, phone="+862162345678")
    _, dispatcher = await run(ActionAskPhone(), _asking(domain, sender, "phone"), domain)
    assert dispatcher.messages[0]["phone"] == "021 6234 5678"


async def test_another_residents_phone_and_address_are_never_offered(
    domain: Domain, database: Sessions
) -> None:
    await _file(domain, _sender())
    stranger = _sender()
    _, dispatcher = await run(ActionAskPhone(), _asking(domain, stranger, "phone"), domain)
    _, asked_address = await run(ActionAskAddress(), _asking(domain, stranger, "address"), domain)
    assert [m["response"] for m in dispatcher.messages + asked_address.messages] == [
        "utter_ask_phone",
        "utter_ask_address",
    ]
    assert not {"phone", "address"} & set(dispatcher.messages[0] | asked_address.messages[0])


async def test_a_pin_only_ticket_offers_no_address(domain: Domain, database: Sessions) -> None:
    sender = _sender()
    await _file(domain, sender, address=None, latitude=31.23, longitude=121.47)
    _, dispatcher = await run(ActionAskAddress(), _asking(domain, sender, "address"), domain)
    assert [m["response"] for m in dispatcher.messages] == ["utter_ask_address"]
    _, dispatcher = await run(ActionAskPhone(), _asking(domain, sender, "phone"), domain)
    assert [m["response"] for m in dispatcher.messages] == ["utter_ask_phone_remembered"]


async def test_purged_details_are_not_offered(domain: Domain, database: Sessions) -> None:
    sender = _sender()
    number = await _file(domain, sender)
    long_ago = datetime.now(UTC) - timedelta(days=400)
    async with database() as session, session.begin():
        await session.execute(
            update(Ticket)
            .where(Ticket.number == number)
            .values(status="cancelled", closed_at=long_ago, updated_at=long_ago)
        )
        assert (await purge_pii(session)).tickets >= 1
    _, dispatcher = await run(ActionAskPhone(), _asking(domain, sender, "phone"), domain)
    _, asked_address = await run(ActionAskAddress(), _asking(domain, sender, "address"), domain)
    assert [m["response"] for m in dispatcher.messages + asked_address.messages] == [
        "utter_ask_phone",
        "utter_ask_address",
    ]


async def test_the_offer_is_made_once_per_request(domain: Domain, database: Sessions) -> None:
    sender = _sender()
    await _file(domain, sender)
    declined = [bot("utter_ask_phone_remembered"), user_message("/deny", "deny")]
    tracker = _asking(domain, sender, "phone", *declined)
    _, dispatcher = await run(ActionAskPhone(), tracker, domain)
    assert [m["response"] for m in dispatcher.messages] == ["utter_ask_phone"]
    # An offer made in an earlier request does not count.
    earlier = make_tracker(
        domain,
        slots={"request_id": "r3", "requested_slot": "phone"},
        messages=[
            *declined,
            slot("request_id", None),
            slot("request_id", "r3"),
            user_message("明天", "inform"),
        ],
        active_loop=FORM,
        sender_id=sender,
    )
    _, dispatcher = await run(ActionAskPhone(), earlier, domain)
    assert [m["response"] for m in dispatcher.messages] == ["utter_ask_phone_remembered"]


# --- the answers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("/affirm", "affirm"),
        ("好", "affirm"),
        ("可以", "affirm"),
        ("对", "greet"),
        ("是的。", None),
    ],
)
async def test_a_yes_takes_the_remembered_phone_and_address(
    domain: Domain, database: Sessions, text: str, intent: str | None
) -> None:
    sender = _sender()
    await _file(domain, sender, phone="+862162345678")
    phone = _answering(domain, sender, "phone", text, intent or "")
    assert await FORM_ACTION.extract_phone(CollectingDispatcher(), phone, domain) == {
        "phone": "+862162345678"
    }
    address = _answering(domain, sender, "address", text, intent or "")
    assert await FORM_ACTION.extract_address(CollectingDispatcher(), address, domain) == {
        "address": ADDRESS
    }


async def test_use_it_fills_the_phone_and_the_form_goes_on(
    domain: Domain, database: Sessions
) -> None:
    sender = _sender()
    await _file(domain, sender)
    tracker = _answering(
        domain,
        sender,
        "phone",
        "/affirm",
        "affirm",
        category="repair",
        description="灯坏了",
        address=ADDRESS,
        preferred_time="明天",
    )
    tracker.events.append(slot("phone", "/affirm"))  # what the from_text mapping made of it
    tracker.slots["phone"] = "/affirm"
    dispatcher = CollectingDispatcher()
    events = await FORM_ACTION.run(dispatcher, tracker, domain)
    values = slot_values(events)
    assert (values["phone"], values["requested_slot"]) == ("+8613812345678", "photo")
    assert dispatcher.messages == []


async def test_a_yes_somewhere_else_is_no_answer(domain: Domain, database: Sessions) -> None:
    sender = _sender()
    await _file(domain, sender)
    usual = make_tracker(
        domain,
        slots={"request_id": "r2", "requested_slot": "phone"},
        messages=[bot("utter_ask_phone"), user_message("好", "affirm")],
        active_loop=FORM,
        sender_id=sender,
    )
    assert await FORM_ACTION.extract_phone(CollectingDispatcher(), usual, domain) == {}
    elsewhere = _answering(domain, sender, "phone", "好", "affirm")
    elsewhere.slots["requested_slot"] = "preferred_time"
    assert await FORM_ACTION.extract_phone(CollectingDispatcher(), elsewhere, domain) == {}
    assert await FORM_ACTION.extract_address(CollectingDispatcher(), elsewhere, domain) == {}


async def test_a_new_number_typed_at_the_offer_is_the_phone(
    domain: Domain, database: Sessions
) -> None:
    sender = _sender()
    await _file(domain, sender)
    tracker = _answering(domain, sender, "phone", "021-6234 5678", "check_status")
    assert await FORM_ACTION.extract_phone(CollectingDispatcher(), tracker, domain) == {
        "phone": "021-6234 5678"
    }
    dispatcher = CollectingDispatcher()
    result = await FORM_ACTION.validate_phone("139 0000 1111", dispatcher, tracker, domain)
    assert result == {"phone": "+8613900001111"} and dispatcher.messages == []


@pytest.mark.parametrize(
    ("text", "intent"), [("/deny", "deny"), ("不用了", "deny"), ("换一个", "deny")]
)
async def test_another_asks_the_usual_question_without_an_error(
    domain: Domain, database: Sessions, text: str, intent: str
) -> None:
    sender = _sender()
    await _file(domain, sender)
    phone = _answering(domain, sender, "phone", text, intent)
    assert await FORM_ACTION.extract_phone(CollectingDispatcher(), phone, domain) == {}
    dispatcher = CollectingDispatcher()
    assert await FORM_ACTION.validate_phone(text, dispatcher, phone, domain) == {"phone": None}
    address = _answering(domain, sender, "address", text, intent)
    assert await FORM_ACTION.extract_address(CollectingDispatcher(), address, domain) == {}
    assert await FORM_ACTION.validate_address(text, dispatcher, address, domain) == {
        "address": None
    }
    assert dispatcher.messages == []


async def test_a_new_address_typed_at_the_offer_is_the_address(
    domain: Domain, database: Sessions
) -> None:
    sender = _sender()
    await _file(domain, sender)
    tracker = _answering(domain, sender, "address", "和平里5号楼101", "repair")
    assert await FORM_ACTION.extract_address(CollectingDispatcher(), tracker, domain) == {}
    result = await FORM_ACTION.validate_address(
        "和平里5号楼101", CollectingDispatcher(), tracker, domain
    )
    assert result == {"address": "和平里5号楼101"}


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("不是，是和平里5号楼101", "deny"),
        ("是和平里5号楼101", "affirm"),
        ("no, Room 1202, Building 7", "deny"),
    ],
)
async def test_an_address_said_with_a_yes_or_a_no_is_the_new_address(
    domain: Domain, database: Sessions, text: str, intent: str
) -> None:
    sender = _sender()
    await _file(domain, sender)
    tracker = _answering(domain, sender, "address", text, intent)
    assert await FORM_ACTION.extract_address(CollectingDispatcher(), tracker, domain) == {}
    dispatcher = CollectingDispatcher()
    assert await FORM_ACTION.validate_address(text, dispatcher, tracker, domain) == {
        "address": text
    }
    assert dispatcher.messages == []


async def test_not_a_phone_after_the_usual_question_is_still_an_error(domain: Domain) -> None:
    tracker = make_tracker(
        domain,
        slots={"requested_slot": "phone"},
        messages=[bot("utter_ask_phone"), user_message("不用了", "deny")],
        active_loop=FORM,
    )
    dispatcher = CollectingDispatcher()
    assert await FORM_ACTION.validate_phone("不用了", dispatcher, tracker, domain) == {
        "phone": None
    }
    assert [m["response"] for m in dispatcher.messages] == ["utter_invalid_phone"]


# --- the sentences -------------------------------------------------------------------


def test_the_offers_exist_in_both_languages_with_two_buttons(domain: Domain) -> None:
    responses: dict[str, list[dict[str, Any]]] = domain["responses"]
    # {acknowledgement}: the slot every form question opens with (empty but for the first).
    given = {
        "utter_ask_phone_remembered": {"acknowledgement", "phone"},
        "utter_ask_address_remembered": {"acknowledgement", "address"},
    }
    for name, values in given.items():
        variants = responses[name]
        assert len(variants) == 2 and variants[1]["condition"][0]["value"] == "en"
        for variant in variants:
            fields = {f for _, f, _, _ in string.Formatter().parse(variant["text"]) if f}
            assert fields == values, (name, variant["text"])
            assert [b["payload"] for b in variant["buttons"]] == ["/affirm", "/deny"]
    assert {"action_ask_phone", "action_ask_address"} <= set(domain["actions"])
