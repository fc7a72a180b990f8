"""Actions that touch tickets: submit, status, cancel, summary (real SQLite)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

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
from nlu.actions.cancel_and_rate import ActionNotFixedInWords, ActionRateInWords
from nlu.actions.common import REQUEST_SLOTS
from nlu.actions.named import cue_scores, sounds_not_fixed, stars_in
from nlu.actions.status import status_answer
from services import Resident, Ticket, file_ticket, workflow
from services.categories import list_categories
from services.models import TicketFollower
from services.parties import create_organisation
from services.reference import category_codes
from services.tickets import NewTicket, get_or_create_resident, get_ticket
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

CATEGORY_CODES = tuple(sorted(category_codes()))

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
    assert ticket.latitude is not None
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
    assert responses(dispatcher) == ["utter_status", None]
    lines = dispatcher.messages[0]["ticket_lines"]
    assert number in lines
    assert "Repairs" in lines
    assert "waiting for an organisation" in lines
    # "Has anyone taken it?": answered about the newest open ticket, with the wait.
    answer = dispatcher.messages[1]["text"]
    assert answer.startswith(f"{number}: no organisation has taken it yet")
    assert "1 min" in answer and "after 24 hours" in answer


async def _filed_ticket(database: Sessions, sender: str) -> Ticket:
    channel, external_id = sender.split(":", 1)
    async with database() as session, session.begin():
        resident = await get_or_create_resident(session, channel=channel, external_id=external_id)
        return (
            await file_ticket(
                session,
                resident=resident,
                request=NewTicket(
                    category_code="repair",
                    description="厨房水管漏水",
                    address="幸福路88弄3号1201室",
                    latitude=None,
                    longitude=None,
                    preferred_time_text=None,
                    preferred_time_at=None,
                    phone="+8613812345678",
                    photo_path=None,
                    language="zh",
                    idempotency_key=None,
                ),
            )
        ).ticket


async def test_status_answers_who_has_the_ticket_and_how_long_it_waited(
    domain: Domain, database: Sessions
) -> None:
    sender = _sender()
    ticket = await _filed_ticket(database, sender)
    published = ticket.published_at or ticket.created_at
    async with database() as session:
        categories = await list_categories(session)
        rows = [await get_ticket(session, ticket.number)]
        later = published + timedelta(hours=2, minutes=5)
        waiting = await status_answer(session, rows, categories, "zh", later)
        overdue = await status_answer(
            session, rows, categories, "zh", published + timedelta(days=3)
        )
    assert waiting == f"{ticket.number}：还没有机构接单，已经等了 2 小时；超过 24 小时社区会催办。"
    assert overdue is not None and "3 天" in overdue and "社区正在催办" in overdue

    async with database() as session, session.begin():
        organisation, _ = await create_organisation(
            session, name=f"维修队{uuid.uuid4().hex[:6]}", categories=["repair"], communities=None
        )
        await workflow.claim(session, number=ticket.number, organisation=organisation)
    tracker = make_tracker(domain, slots={"language": "zh"}, sender_id=sender)
    _, dispatcher = await run(ActionShowStatus(), tracker, domain)
    assert dispatcher.messages[1]["text"] == (
        f"{ticket.number}：{organisation.name} 已经接单，会按约定时间联系您。"
    )
    async with database() as session, session.begin():
        await workflow.done(session, number=ticket.number, organisation=organisation)
    _, dispatcher = await run(ActionShowStatus(), tracker, domain)
    assert "机构说已经完成" in dispatcher.messages[1]["text"]


async def test_status_of_an_emergency_never_reads_as_waiting_for_review(
    domain: Domain, database: Sessions
) -> None:
    sender = _sender()
    ticket = await _filed_ticket(database, sender)
    async with database() as session, session.begin():
        row = await get_ticket(session, ticket.number)
        row.kind = "emergency"
        row.status = "submitted"
        row.category_code = None
    tracker = make_tracker(domain, slots={"language": "zh"}, sender_id=sender)
    _, dispatcher = await run(ActionShowStatus(), tracker, domain)
    answer = dispatcher.messages[1]["text"]
    assert "紧急求助已发给值班人员" in answer and "待审核" not in answer
    assert "待审核" not in dispatcher.messages[0]["ticket_lines"]
    async with database() as session, session.begin():
        (await get_ticket(session, ticket.number)).acknowledged_at = datetime.now(UTC)
    _, dispatcher = await run(ActionShowStatus(), tracker, domain)
    assert "值班人员已经收到" in dispatcher.messages[1]["text"]


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


async def test_cancel_of_the_only_open_ticket_asks_to_confirm(
    domain: Domain, database: Sessions
) -> None:
    sender = _sender()
    _, filed = await run(
        ActionSubmitRequest(), make_tracker(domain, slots=_filled(), sender_id=sender), domain
    )
    number = filed.messages[0]["ticket_number"]
    tracker = make_tracker(
        domain, sender_id=sender, messages=[user_message("取消", "cancel_request")]
    )
    _, dispatcher = await run(ActionCancelRequest(), tracker, domain)
    [message] = dispatcher.messages
    assert message["text"].startswith("要取消这张工单吗？\n维修 · ")
    assert number in message["text"]
    assert message["buttons"] == [
        {"title": "确认取消", "payload": f"t:cancel:{number}"},
        {"title": "不取消", "payload": f"t:keep:{number}"},
    ]
    async with database() as session:
        assert (await get_ticket(session, number)).status != "cancelled"


async def _file(
    database: Sessions,
    sender: str,
    category: str,
    description: str,
    *,
    kind: str | None = None,
    created: datetime | None = None,
) -> Ticket:
    ticket = await _filed_ticket(database, sender)
    async with database() as session, session.begin():
        row = await get_ticket(session, ticket.number)
        row.category_code = category
        row.description = description
        if kind is not None:
            row.kind = kind
            row.category_code = None
        if created is not None:
            row.created_at = created.astimezone(UTC)
    return row


async def test_cancel_in_words_picks_the_ticket_the_words_name(
    domain: Domain, database: Sessions
) -> None:
    sender = _sender()
    # Local (Asia/Shanghai) 09:12 today and 15:30 today: a repair in the morning, a
    # cleaning in the afternoon, and an emergency filed last (newest first in the list).
    today = (
        datetime.now(UTC)
        .astimezone(ZoneInfo("Asia/Shanghai"))
        .replace(hour=9, minute=12, second=0, microsecond=0)
    )
    repair = await _file(database, sender, "repair", "厨房水管漏水", created=today)
    cleaning = await _file(
        database, sender, "housekeeping", "想请人打扫卫生", created=today.replace(hour=15)
    )
    alarm = await _file(
        database, sender, "repair", "煤气味很大", kind="emergency", created=today.replace(hour=16)
    )
    ranking = [
        {"name": "cancel_request", "confidence": 0.7},
        {"name": "repair", "confidence": 0.2},
    ]
    message = user_message("上午那个修水管的不用来了", "cancel_request")
    message["parse_data"]["intent_ranking"] = ranking
    tracker = make_tracker(domain, sender_id=sender, messages=[message])
    _, dispatcher = await run(ActionCancelRequest(), tracker, domain)
    [asked] = dispatcher.messages
    assert (
        asked["text"] == f"要取消这张工单吗？\n维修 · 厨房水管漏水 · 今天 09:12（{repair.number}）"
    )
    assert asked["buttons"][0]["payload"] == f"t:cancel:{repair.number}"

    # Words that name none: every open ticket as a labelled choice, the emergency last.
    tracker = make_tracker(
        domain, sender_id=sender, messages=[user_message("取消工单", "cancel_request")]
    )
    _, dispatcher = await run(ActionCancelRequest(), tracker, domain)
    [listed] = dispatcher.messages
    assert listed["text"] == "您要取消哪一张工单？"
    titles = [button["title"] for button in listed["buttons"]]
    assert titles[-1].startswith("紧急求助 · 煤气味很大")
    assert "维修 · 厨房水管漏水 · 今天 09:12" in titles
    assert "家政便民 · 想请人打扫卫生 · 今天 15:12" in titles
    choice = next(b for b in listed["buttons"] if b["title"].startswith("家政"))
    assert choice["payload"] == f'/cancel_request{{"ticket_number": "{cleaning.number}"}}'

    # The choice pressed comes back with its number: confirm that one.
    entity = [{"entity": "ticket_number", "value": cleaning.number}]
    tracker = make_tracker(
        domain,
        sender_id=sender,
        messages=[user_message(choice["payload"], "cancel_request", entity)],
    )
    _, dispatcher = await run(ActionCancelRequest(), tracker, domain)
    assert dispatcher.messages[0]["buttons"][0]["payload"] == f"t:cancel:{cleaning.number}"
    assert alarm.number not in dispatcher.messages[0]["text"]


async def test_cancel_in_english_names_the_cleaning(domain: Domain, database: Sessions) -> None:
    sender = _sender()
    await _file(database, sender, "repair", "the kitchen pipe leaks")
    cleaning = await _file(database, sender, "housekeeping", "cleaning of the whole flat")
    await _file(database, sender, "repair", "the toilet is blocked")
    tracker = make_tracker(
        domain,
        slots={"language": "en"},
        sender_id=sender,
        messages=[user_message("I don't need the cleaning any more", "cancel_request")],
    )
    _, dispatcher = await run(ActionCancelRequest(), tracker, domain)
    [asked] = dispatcher.messages
    assert asked["text"].startswith(
        "Cancel this ticket?\nHousekeeping and home help · cleaning of the whole flat · today "
    )
    assert asked["buttons"] == [
        {"title": "Yes, cancel it", "payload": f"t:cancel:{cleaning.number}"},
        {"title": "No, keep it", "payload": f"t:keep:{cleaning.number}"},
    ]


async def _done(database: Sessions, number: str) -> None:
    async with database() as session, session.begin():
        organisation, _ = await create_organisation(
            session, name=f"维修队{uuid.uuid4().hex[:6]}", categories=["repair"], communities=None
        )
        await workflow.claim(session, number=number, organisation=organisation)
        await workflow.done(session, number=number, organisation=organisation)


async def test_a_rating_in_words_is_offered_for_the_done_ticket(
    domain: Domain, database: Sessions
) -> None:
    sender = _sender()
    await _file(database, sender, "housekeeping", "想请人打扫卫生")
    fixed = await _file(database, sender, "repair", "马桶堵了")
    await _done(database, fixed.number)
    # The classifier took it for a cancel: the words are a rating of the done ticket.
    tracker = make_tracker(
        domain,
        sender_id=sender,
        messages=[user_message("师傅修好了，给五星好评", "cancel_request")],
    )
    _, dispatcher = await run(ActionCancelRequest(), tracker, domain)
    [offer] = dispatcher.messages
    assert offer["text"].startswith("给这张工单打 5★ 吗？\n维修 · 马桶堵了")
    payloads = [button["payload"] for button in offer["buttons"]]
    assert payloads[0] == f"r:rate:{fixed.number}:5"
    assert payloads[-1] == f"r:nf:{fixed.number}"
    assert len(payloads) == 6

    tracker = make_tracker(
        domain, sender_id=sender, messages=[user_message("马桶又堵了，没修好", "not_fixed")]
    )
    _, dispatcher = await run(ActionNotFixedInWords(), tracker, domain)
    [offer] = dispatcher.messages
    assert offer["text"].startswith("这张工单没有解决，要让机构重新上门吗？")
    assert offer["buttons"][0] == {
        "title": "没有解决，请重新上门",
        "payload": f"r:nf:{fixed.number}",
    }

    tracker = make_tracker(
        domain,
        slots={"language": "en"},
        sender_id=sender,
        messages=[user_message("3 stars, it was ok", "rate")],
    )
    _, dispatcher = await run(ActionRateInWords(), tracker, domain)
    assert dispatcher.messages[0]["buttons"][0]["payload"] == f"r:rate:{fixed.number}:3"
    async with database() as session:
        assert (await get_ticket(session, fixed.number)).status == "done"


async def test_a_rating_or_not_fixed_without_a_done_ticket(
    domain: Domain, database: Sessions
) -> None:
    sender = _sender()
    tracker = make_tracker(domain, sender_id=sender, messages=[user_message("五星好评", "rate")])
    _, dispatcher = await run(ActionRateInWords(), tracker, domain)
    assert dispatcher.messages[0]["text"].startswith("您目前没有等待评价的工单")
    message = user_message("马桶又堵了，没修好", "not_fixed")
    message["parse_data"]["intent_ranking"] = [
        {"name": "not_fixed", "confidence": 0.6},
        {"name": "repair", "confidence": 0.3},
    ]
    tracker = make_tracker(domain, sender_id=sender, messages=[message])
    _, dispatcher = await run(ActionNotFixedInWords(), tracker, domain)
    # A new request: which service, the repair first.
    assert responses(dispatcher) == ["utter_clarify_category"]
    assert dispatcher.messages[0]["buttons"][0] == {"title": "维修", "payload": "/repair"}


@pytest.mark.parametrize(
    ("text", "stars"),
    [
        ("师傅修好了，给五星好评", 5),
        ("打 3 颗星", 3),
        ("给两星吧", 2),
        ("差评", 1),
        ("five stars, great", 5),
        ("rating 4/5", 4),
        ("等了 5 分钟", None),
        ("", None),
    ],
)
def test_stars_in_words(text: str, stars: int | None) -> None:
    assert stars_in(text) == stars


@pytest.mark.parametrize(
    ("text", "not_fixed"),
    [
        ("马桶又堵了，没修好", True),
        ("还是漏水", True),
        ("修了也没用", True),
        ("the pipe is leaking again", True),
        ("it's still broken", True),
        ("师傅修好了", False),
        ("我家水管漏水", False),
        ("\x00" * 100_000, False),
    ],
)
def test_not_fixed_in_words(text: str, not_fixed: bool) -> None:
    assert sounds_not_fixed(text) is not_fixed


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
    assert message["phone"] == "138 1234 5678"  # as people write it, not E.164


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


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("上午那个修水管的不用来了", "repair"),
        ("保洁那个不要了", "housekeeping"),
        ("律师那个不用了", "legal_aid"),
        ("电梯那个单子取消", "property"),
        ("cancel the cleaning", "housekeeping"),
        ("never mind the tutoring", "childcare"),
    ],
)
def test_the_words_of_a_category_come_from_the_training_data(text: str, category: str) -> None:
    scores = cue_scores(text, CATEGORY_CODES)
    assert max(scores, key=lambda code: scores[code]) == category


@pytest.mark.parametrize("text", ["取消", "取消工单", "有人接了吗", "cancel my request", ""])
def test_act_words_name_no_category(text: str) -> None:
    assert cue_scores(text, CATEGORY_CODES) == {}


async def test_status_in_words_answers_about_the_ticket_it_names(
    domain: Domain, database: Sessions
) -> None:
    sender = _sender()
    repair = await _file(database, sender, "repair", "厨房水管漏水")
    cleaning = await _file(database, sender, "housekeeping", "想请人打扫卫生")
    asked = make_tracker(
        domain, sender_id=sender, messages=[user_message("修水管的那个有人接了吗", "check_status")]
    )
    _, dispatcher = await run(ActionShowStatus(), asked, domain)
    assert dispatcher.messages[1]["text"].startswith(f"{repair.number}：还没有机构接单")
    # Naming none: the newest open ticket.
    plain = make_tracker(
        domain, sender_id=sender, messages=[user_message("有人接了吗", "check_status")]
    )
    _, dispatcher = await run(ActionShowStatus(), plain, domain)
    assert dispatcher.messages[1]["text"].startswith(f"{cleaning.number}：")
