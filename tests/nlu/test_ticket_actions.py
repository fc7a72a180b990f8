"""Actions that touch tickets: submit, status, cancel, summary (real SQLite)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from rasa_sdk.events import ActiveLoop, SlotSet
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nlu.actions import (
    ActionCancelRequest,
    ActionJoinTicket,
    ActionOfferCategories,
    ActionSetCategory,
    ActionShowStatus,
    ActionShowSummary,
    ActionSubmitRequest,
)
from nlu.actions.common import REQUEST_SLOTS
from services import Resident, Ticket
from services.models import TicketFollower
from tests.nlu.trackers import (
    FORM,
    NUMBER,
    Domain,
    make_tracker,
    responses,
    run,
    slot_values,
    user_message,
)

# --- actions that touch the database -------------------------------------------------

Sessions = async_sessionmaker[AsyncSession]


def _sender() -> str:
    return f"cli:{uuid.uuid4().hex[:12]}"


def _filled(**overrides: Any) -> dict[str, Any]:
    slots = {
        "category": "repair",
        "request_id": uuid.uuid4().hex,
        "description": "厨房水管漏水",
        "address": "幸福路88弄3号1201室",
        "preferred_time": "明天下午三点",
        "preferred_time_iso": "2031-03-10T15:00:00+08:00|2031-03-10T15:59:59+08:00",
        "phone": "+8613812345678",
        "photo": "skipped",
        "awaiting_confirmation": True,
        # Filing tests share one database: neighbours' tickets are not the point here.
        "duplicate_checked": True,
    }
    slots.update(overrides)
    return slots


async def _tickets_of(sessions: Sessions, sender_id: str) -> list[Ticket]:
    channel, external_id = sender_id.split(":", 1)
    async with sessions() as session:
        rows = await session.scalars(
            select(Ticket)
            .join(Resident, Ticket.resident_id == Resident.id)
            .where(Resident.channel == channel, Resident.external_id == external_id)
        )
        return list(rows)


async def test_submit_files_one_ticket(domain: Domain, database: Sessions) -> None:
    sender = _sender()
    tracker = make_tracker(domain, slots=_filled(), sender_id=sender)
    events, dispatcher = await run(ActionSubmitRequest(), tracker, domain)
    assert responses(dispatcher) == ["utter_ticket_filed"]
    number = dispatcher.messages[0]["ticket_number"]
    assert NUMBER.match(number)
    assert dispatcher.messages[0]["status_name"] == "待接单"  # repair needs no review
    values = slot_values(events)
    assert values["ticket_number"] == number
    assert all(values[name] is None for name in REQUEST_SLOTS)
    assert values["awaiting_confirmation"] is False
    [ticket] = await _tickets_of(database, sender)
    assert ticket.number == number
    assert ticket.category_code == "repair"
    assert ticket.description == "厨房水管漏水"
    assert ticket.address == "幸福路88弄3号1201室"
    assert ticket.phone == "+8613812345678"
    assert ticket.photo_path is None
    assert ticket.preferred_time_text == "明天下午三点"
    assert ticket.preferred_time_at is not None


async def test_submit_twice_files_once(domain: Domain, database: Sessions) -> None:
    sender = _sender()
    tracker = make_tracker(domain, slots=_filled(), sender_id=sender)
    _, first = await run(ActionSubmitRequest(), tracker, domain)
    _, second = await run(ActionSubmitRequest(), tracker, domain)
    assert first.messages[0]["ticket_number"] == second.messages[0]["ticket_number"]
    assert len(await _tickets_of(database, sender)) == 1


async def test_submit_in_english_with_a_location_pin(domain: Domain, database: Sessions) -> None:
    sender = _sender()
    slots = _filled(
        language="en",
        category="legal_aid",
        address=None,
        latitude=31.2304,
        longitude=121.4737,
        photo="0f3a.jpg",
    )
    _, dispatcher = await run(
        ActionSubmitRequest(), make_tracker(domain, slots=slots, sender_id=sender), domain
    )
    assert dispatcher.messages[0]["status_name"] == "awaiting review"
    [ticket] = await _tickets_of(database, sender)
    assert ticket.address is None
    assert float(ticket.latitude) == pytest.approx(31.2304)
    assert ticket.photo_path == "0f3a.jpg"


@pytest.mark.parametrize("missing", ["phone", "description", "category", "request_id", "address"])
async def test_submit_incomplete_request(domain: Domain, database: Sessions, missing: str) -> None:
    sender = _sender()
    tracker = make_tracker(domain, slots=_filled(**{missing: None}), sender_id=sender)
    events, dispatcher = await run(ActionSubmitRequest(), tracker, domain)
    assert events == []
    assert responses(dispatcher) == ["utter_nothing_to_submit"]
    assert await _tickets_of(database, sender) == []


async def test_status_without_tickets(domain: Domain, database: Sessions) -> None:
    tracker = make_tracker(domain, sender_id=_sender())
    events, dispatcher = await run(ActionShowStatus(), tracker, domain)
    assert events == []
    assert responses(dispatcher) == ["utter_no_tickets"]


async def test_status_lists_the_filed_ticket(domain: Domain, database: Sessions) -> None:
    sender = _sender()
    _, filed = await run(
        ActionSubmitRequest(), make_tracker(domain, slots=_filled(), sender_id=sender), domain
    )
    number = filed.messages[0]["ticket_number"]
    tracker = make_tracker(domain, slots={"language": "en"}, sender_id=sender)
    _, dispatcher = await run(ActionShowStatus(), tracker, domain)
    assert responses(dispatcher) == ["utter_status"]
    lines = dispatcher.messages[0]["ticket_lines"]
    assert number in lines
    assert "Repairs" in lines
    assert "waiting for an organisation" in lines


async def test_cancel_inside_the_form_drops_the_request(domain: Domain, database: Sessions) -> None:
    tracker = make_tracker(domain, slots=_filled(), active_loop=FORM, sender_id=_sender())
    events, dispatcher = await run(ActionCancelRequest(), tracker, domain)
    assert responses(dispatcher) == ["utter_request_abandoned"]
    assert ActiveLoop(None) in events
    assert all(slot_values(events)[name] is None for name in REQUEST_SLOTS)


async def test_cancel_with_nothing_to_cancel(domain: Domain, database: Sessions) -> None:
    tracker = make_tracker(domain, sender_id=_sender())
    events, dispatcher = await run(ActionCancelRequest(), tracker, domain)
    assert events == []
    assert responses(dispatcher) == ["utter_nothing_to_cancel"]


async def test_cancel_offers_open_tickets(domain: Domain, database: Sessions) -> None:
    sender = _sender()
    _, filed = await run(
        ActionSubmitRequest(), make_tracker(domain, slots=_filled(), sender_id=sender), domain
    )
    number = filed.messages[0]["ticket_number"]
    _, dispatcher = await run(ActionCancelRequest(), make_tracker(domain, sender_id=sender), domain)
    assert responses(dispatcher) == ["utter_cancel_which"]
    assert dispatcher.messages[0]["buttons"] == [
        {"title": f"取消 {number}", "payload": f"t:cancel:{number}"}
    ]


async def test_summary_of_a_pinned_request(domain: Domain, database: Sessions) -> None:
    slots = _filled(address=None, latitude=31.2304, longitude=121.4737, language="en")
    tracker = make_tracker(domain, slots=slots, active_loop=None, sender_id=_sender())
    events, dispatcher = await run(ActionShowSummary(), tracker, domain)
    assert events == [SlotSet("awaiting_confirmation", True)]
    [message] = dispatcher.messages
    assert message["response"] == "utter_summary"
    assert message["category_name"] == "Repairs"
    assert message["address_display"] == "Location pin 31.23040, 121.47370"
    assert message["time_display"] == "明天下午三点 (03-10 15:00–15:59)"
    assert message["photo_display"] == "none"
    assert message["phone"] == "+8613812345678"


async def test_summary_cuts_a_long_description(domain: Domain, database: Sessions) -> None:
    tracker = make_tracker(domain, slots=_filled(description="漏" * 600), sender_id=_sender())
    _, dispatcher = await run(ActionShowSummary(), tracker, domain)
    assert dispatcher.messages[0]["description"] == "漏" * 500 + "…"
    assert dispatcher.messages[0]["address_display"] == "幸福路88弄3号1201室"


async def test_the_categories_are_offered_with_the_current_one_ticked(
    domain: Domain, database: Sessions
) -> None:
    tracker = make_tracker(domain, slots=_filled(category="elder_care"), sender_id=_sender())
    events, dispatcher = await run(ActionOfferCategories(), tracker, domain)
    assert events == []
    [message] = dispatcher.messages
    assert message["response"] == "utter_choose_category"
    buttons = message["buttons"]
    assert len(buttons) == 11
    assert buttons[0] == {"title": "维修", "payload": '/choose_category{"category": "repair"}'}
    assert buttons[1] == {
        "title": "✓ 助老",
        "payload": '/choose_category{"category": "elder_care"}',
    }
    assert sum(b["title"].startswith("✓") for b in buttons) == 1


async def test_a_chosen_category_replaces_the_old_and_shows_the_summary(
    domain: Domain, database: Sessions
) -> None:
    chosen = user_message(
        '/choose_category{"category": "mediation"}',
        "choose_category",
        [{"entity": "category", "value": "mediation"}],
    )
    slots = _filled(language="en", duplicate_checked=True)
    tracker = make_tracker(domain, slots=slots, messages=[chosen], sender_id=_sender())
    events, dispatcher = await run(ActionSetCategory(), tracker, domain)
    assert slot_values(events) == {
        "category": "mediation",
        "duplicate_checked": False,
        "awaiting_confirmation": True,
    }
    [message] = dispatcher.messages
    assert (message["response"], message["category_name"]) == ("utter_summary", "Dispute mediation")


async def test_an_unknown_chosen_category_keeps_the_old_one(
    domain: Domain, database: Sessions
) -> None:
    chosen = user_message("/choose_category", "choose_category", [])
    tracker = make_tracker(domain, slots=_filled(), messages=[chosen], sender_id=_sender())
    events, dispatcher = await run(ActionSetCategory(), tracker, domain)
    assert slot_values(events)["category"] == "repair"
    assert dispatcher.messages[0]["category_name"] == "维修"


@pytest.mark.parametrize("action", [ActionOfferCategories(), ActionSetCategory()])
async def test_changing_the_category_without_a_request_says_so(
    domain: Domain, database: Sessions, action: Any
) -> None:
    tracker = make_tracker(domain, slots={}, sender_id=_sender())
    events, dispatcher = await run(action, tracker, domain)
    assert (events, responses(dispatcher)) == ([], ["utter_nothing_to_submit"])


async def test_a_neighbours_open_ticket_is_offered_instead_of_a_duplicate(
    domain: Domain, database: Sessions
) -> None:
    first, neighbour = _sender(), _sender()
    lift = {"category": "property", "description": "3号楼电梯坏了", "address": "枫林苑3号楼"}
    tracker = make_tracker(domain, slots=_filled(**lift), sender_id=first)
    _, filed = await run(ActionSubmitRequest(), tracker, domain)
    number = filed.messages[0]["ticket_number"]

    # Another building of the same community: the lift is a shared facility, still offered.
    slots = _filled(**{**lift, "address": "枫林苑5号楼"}, duplicate_checked=False)
    tracker = make_tracker(domain, slots=slots, sender_id=neighbour)
    events, offered = await run(ActionSubmitRequest(), tracker, domain)
    assert responses(offered) == ["utter_duplicate_found"]
    assert offered.messages[0]["duplicate_number"] == number
    assert [b["payload"] for b in offered.messages[0]["buttons"]] == [
        f'/join_ticket{{"ticket_number": "{number}"}}',
        "/confirm_submit",
    ]
    assert slot_values(events) == {"duplicate_checked": True}
    assert await _tickets_of(database, neighbour) == []

    # "File mine anyway" presses submit again: now it is filed.
    tracker = make_tracker(domain, slots={**slots, "duplicate_checked": True}, sender_id=neighbour)
    _, second = await run(ActionSubmitRequest(), tracker, domain)
    assert responses(second) == ["utter_ticket_filed"]
    assert len(await _tickets_of(database, neighbour)) == 1


async def test_a_repair_in_another_building_is_not_a_duplicate(
    domain: Domain, database: Sessions
) -> None:
    leak = {"category": "repair", "description": "水管漏水", "address": "和平新村2栋301"}
    tracker = make_tracker(domain, slots=_filled(**leak), sender_id=_sender())
    await run(ActionSubmitRequest(), tracker, domain)
    other = _filled(**{**leak, "address": "和平新村9栋301"}, duplicate_checked=False)
    _, dispatcher = await run(
        ActionSubmitRequest(), make_tracker(domain, slots=other, sender_id=_sender()), domain
    )
    assert responses(dispatcher) == ["utter_ticket_filed"]


async def test_joining_a_neighbours_ticket_files_nothing(
    domain: Domain, database: Sessions
) -> None:
    first, neighbour = _sender(), _sender()
    lights = {"category": "property", "description": "楼道灯不亮", "address": "阳光花园1栋"}
    _, filed = await run(
        ActionSubmitRequest(),
        make_tracker(domain, slots=_filled(**lights), sender_id=first),
        domain,
    )
    number = filed.messages[0]["ticket_number"]
    message = user_message(
        "/join_ticket", "join_ticket", entities=[{"entity": "ticket_number", "value": number}]
    )
    tracker = make_tracker(domain, slots=_filled(**lights), messages=[message], sender_id=neighbour)
    events, joined = await run(ActionJoinTicket(), tracker, domain)
    assert responses(joined) == ["utter_joined_ticket"]
    values = slot_values(events)
    assert values["ticket_number"] == number
    assert all(values[name] is None for name in REQUEST_SLOTS)
    assert await _tickets_of(database, neighbour) == []
    async with database() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.number == number))
        assert ticket is not None
        followers = await session.scalars(
            select(Resident.external_id)
            .join(TicketFollower, TicketFollower.resident_id == Resident.id)
            .where(TicketFollower.ticket_id == ticket.id)
        )
        assert list(followers) == [neighbour.split(":", 1)[1]]
    # A closed or unknown ticket cannot be joined: the resident is told, nothing breaks.
    gone = user_message(
        "/join_ticket",
        "join_ticket",
        entities=[{"entity": "ticket_number", "value": "RO-000000-0000"}],
    )
    tracker = make_tracker(domain, slots=_filled(**lights), messages=[gone], sender_id=neighbour)
    _, failed = await run(ActionJoinTicket(), tracker, domain)
    assert responses(failed) == ["utter_join_failed"]
