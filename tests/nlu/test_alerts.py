"""Emergencies by kind (number first), the contact on the ticket, the hotline on hand-off."""

from __future__ import annotations

import string
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nlu.actions.alerts import ActionRecordAlert, emergency_advice, request_messages
from nlu.actions.clarify import ActionClarifyCategory
from services import Ticket
from services.reference.emergency_kinds import hotline_for, kinds_of, numbers_for, street_hotline
from tests.nlu.trackers import NUMBER, make_tracker, run, user_message

PHRASINGS = {
    "fire": [
        "楼下着火了",
        "厨房起火了 火苗很高",
        "楼道里全是浓烟",
        "隔壁冒黑烟了",
        "电动车烧起来了",
        "There's a fire in the stairwell",
        "smoke is pouring out of the flat upstairs",
    ],
    "gas": [
        "煤气味很大",
        "家里一股燃气味",
        "好像漏气了 有臭鸡蛋味",
        "I can smell gas in the kitchen",
        "the carbon monoxide alarm is going off",
    ],
    "medical": [
        "我老伴摔倒了起不来，头在流血",
        "我妈突然晕过去了 叫不醒",
        "爷爷不喘气了",
        "我爸胸口疼 喘不上气",
        "孩子噎住了",
        "My husband fell and is bleeding",
        "my mother collapsed and is unconscious",
        "he is not breathing",
        "she's having a heart attack",
    ],
    "violence": [
        "有人拿刀砍人",
        "隔壁在打老婆 一直喊救命",
        "有小偷在撬门",
        "someone is attacking people with a knife",
        "there's a burglar in the flat",
    ],
    "trapped": [
        "我被困在电梯里了",
        "老人被锁在里面出不来",
        "We're stuck in the lift",
        "my son is trapped in the bathroom",
    ],
    "hazard": [
        "楼道电线冒火花",
        "有人触电了",
        "水管爆了 水漫进屋里",
        "there are sparks from an exposed wire",
        "the basement is flooding",
    ],
}
FIRST_NUMBER = {
    "fire": "119",
    "gas": "119",
    "medical": "120",
    "violence": "110",
    "trapped": "119",
    "hazard": "119",
}


@pytest.mark.parametrize(
    ("kind", "text"), [(kind, text) for kind, texts in PHRASINGS.items() for text in texts]
)
def test_each_phrasing_finds_its_kind_and_number_first(kind: str, text: str) -> None:
    kinds = kinds_of(text)
    assert kind in [k.code for k in kinds], (text, [k.code for k in kinds])
    if len(kinds) == 1:
        assert emergency_advice(text) == f"utter_emergency_{kind}"
        assert numbers_for(kinds)[0] == FIRST_NUMBER[kind]
    assert sorted(numbers_for(kinds)) == ["110", "119", "120"]


def test_the_most_life_threatening_kind_comes_first() -> None:
    assert [k.code for k in kinds_of("着火了 有人被烧伤昏迷")][:2] == ["fire", "medical"]
    assert numbers_for(kinds_of("有人拿刀砍人 流了好多血")) == ["110", "120", "119"]
    assert emergency_advice("我老伴摔倒了起不来，头在流血") == "utter_emergency_medical"
    assert emergency_advice("煤气味很大") == "utter_emergency_gas"


def test_no_word_of_a_kind_gives_the_general_advice_and_no_false_english_match() -> None:
    assert kinds_of("快来人啊 救命") == []
    assert emergency_advice("快来人啊 救命") == "utter_emergency_general"
    assert kinds_of("I gasped at the firewood prices") == []
    assert kinds_of("") == [] and kinds_of("\x00" * 5000) == []


def test_every_advice_exists_in_both_languages_with_its_number_first(
    domain: dict[str, Any],
) -> None:
    responses: dict[str, list[dict[str, Any]]] = domain["responses"]
    for kind, number in FIRST_NUMBER.items():
        variants = responses[f"utter_emergency_{kind}"]
        assert len(variants) == 2
        for variant in variants:
            digits = [n for n in ("110", "119", "120") if n in variant["text"]]
            first = min(digits, key=variant["text"].index)
            assert first == number and len(digits) == 3, (kind, variant["text"])


def test_hotline_of_a_community_else_the_street() -> None:
    assert hotline_for("幸福里社区").number == "021-62345101"
    assert hotline_for("没有的社区") == street_hotline()
    assert hotline_for(None).number == street_hotline().number
    assert street_hotline().office_hours("en") != street_hotline().office_hours("zh")


async def _tickets(db: async_sessionmaker[AsyncSession], kind: str) -> list[Ticket]:
    async with db() as session:
        return list(
            await session.scalars(select(Ticket).where(Ticket.kind == kind).order_by(Ticket.id))
        )


async def _ticket(db: async_sessionmaker[AsyncSession], number: str) -> Ticket:
    async with db() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.number == number))
    assert ticket is not None
    return ticket


async def test_emergency_carries_the_phone_and_address_typed_earlier(
    domain: dict[str, Any], database: async_sessionmaker[AsyncSession]
) -> None:
    messages = [
        user_message("我的电话是13812345678", "repair"),
        user_message("地址是幸福里3栋2单元301", "repair"),
        user_message("煤气味很大", "emergency"),
    ]
    tracker = make_tracker(domain, messages=messages, sender_id="cli:gas1")
    _, dispatcher = await run(ActionRecordAlert(), tracker, domain)
    [advice, filed] = dispatcher.messages
    assert advice["response"] == "utter_emergency_gas"
    assert filed["response"] == "utter_emergency_filed"
    assert NUMBER.match(filed["ticket_number"])
    [ticket] = [
        t for t in await _tickets(database, "emergency") if t.number == filed["ticket_number"]
    ]
    assert (ticket.phone, ticket.urgent, ticket.description) == (
        "+8613812345678",
        True,
        "煤气味很大",
    )
    assert ticket.address is not None and "3栋" in ticket.address
    assert ticket.community_id is not None


async def test_emergency_with_nothing_known_asks_once_for_phone_and_place(
    domain: dict[str, Any], database: async_sessionmaker[AsyncSession]
) -> None:
    tracker = make_tracker(
        domain,
        messages=[user_message("我老伴摔倒了起不来，头在流血", "emergency")],
        sender_id="web:nobody",
    )
    _, dispatcher = await run(ActionRecordAlert(), tracker, domain)
    assert [m["response"] for m in dispatcher.messages] == [
        "utter_emergency_medical",
        "utter_emergency_filed_ask",
    ]
    [ticket] = [
        t
        for t in await _tickets(database, "emergency")
        if t.number == dispatcher.messages[1]["ticket_number"]
    ]
    assert (ticket.phone, ticket.address, ticket.latitude) == (None, None, None)


async def test_emergency_takes_the_pin_from_the_slots_then_the_earlier_ticket(
    domain: dict[str, Any], database: async_sessionmaker[AsyncSession]
) -> None:
    pin = make_tracker(
        domain,
        slots={"latitude": 31.205, "longitude": 121.435},
        messages=[user_message("楼下着火了", "emergency")],
        sender_id="cli:pin1",
    )
    _, dispatcher = await run(ActionRecordAlert(), pin, domain)
    assert dispatcher.messages[1]["response"] == "utter_emergency_filed"
    later = make_tracker(
        domain,
        messages=[user_message("有人拿刀砍人", "emergency")],
        sender_id="cli:pin1",
    )
    _, dispatcher = await run(ActionRecordAlert(), later, domain)
    assert dispatcher.messages[0]["response"] == "utter_emergency_violence"
    assert dispatcher.messages[1]["response"] == "utter_emergency_filed"
    tickets = {t.number: t for t in await _tickets(database, "emergency")}
    second = tickets[dispatcher.messages[1]["ticket_number"]]
    assert (second.latitude, second.longitude) == (31.205, 121.435)


async def test_handoff_summary_phone_and_hotline(
    domain: dict[str, Any], database: async_sessionmaker[AsyncSession]
) -> None:
    messages = [
        user_message("你好", "greet"),
        user_message("楼上天天半夜装修吵得睡不着 我电话 139 1234 5678", "mediation"),
        user_message("找人工", "human_handoff"),
    ]
    assert request_messages(make_tracker(domain, messages=messages)) == [messages[1]["text"]]
    tracker = make_tracker(domain, messages=messages, sender_id="cli:hand1")
    _, dispatcher = await run(ActionRecordAlert(), tracker, domain)
    [filed] = dispatcher.messages
    assert filed["response"] == "utter_handoff_filed"
    assert filed["hotline"] == street_hotline().number and filed["public_hotline"] == "12345"
    [ticket] = [
        t for t in await _tickets(database, "handoff") if t.number == filed["ticket_number"]
    ]
    assert ticket.description == messages[1]["text"]
    assert ticket.phone == "+8613912345678" and ticket.address is None
    assert ticket.transcript == [
        {"from": "resident", "text": text} for text in (m["text"] for m in messages)
    ]


async def test_handoff_need_is_the_last_request_and_the_conversation_goes_beside_it(
    domain: dict[str, Any], database: async_sessionmaker[AsyncSession]
) -> None:
    messages = [
        user_message("我家水管漏水了", "repair"),
        user_message("楼上天天半夜装修吵得睡不着", "mediation"),
        user_message("转人工", "human_handoff"),
    ]
    messages[1:1] = [
        {"event": "bot", "text": "请告诉我服务地址", "timestamp": 1.0},
        {"event": "user", "text": "/skip_photo", "timestamp": 1.1},
    ]
    tracker = make_tracker(domain, messages=messages, sender_id="cli:hand2")
    _, dispatcher = await run(ActionRecordAlert(), tracker, domain)
    [ticket] = [
        t
        for t in await _tickets(database, "handoff")
        if t.number == dispatcher.messages[0]["ticket_number"]
    ]
    assert ticket.description == "楼上天天半夜装修吵得睡不着"
    assert [line["from"] for line in ticket.transcript or []] == [
        "resident",
        "assistant",
        "resident",
        "resident",
    ]
    assert (ticket.transcript or [])[1]["text"] == "请告诉我服务地址"


async def test_offering_a_person_gives_the_hotline(
    domain: dict[str, Any], database: async_sessionmaker[AsyncSession]
) -> None:
    tracker = make_tracker(
        domain, slots={"clarify_misses": 2}, messages=[user_message("嗯嗯", "nlu_fallback")]
    )
    _, dispatcher = await run(ActionClarifyCategory(), tracker, domain)
    [offer] = dispatcher.messages
    assert offer["response"] == "utter_offer_handoff"
    assert offer["hotline"] == street_hotline().number and offer["office_hours"]


def test_every_template_value_of_the_alert_responses_is_given(domain: dict[str, Any]) -> None:
    responses: dict[str, list[dict[str, Any]]] = domain["responses"]
    given = {
        "utter_emergency_filed": {"ticket_number"},
        "utter_emergency_filed_ask": {"ticket_number"},
        "utter_handoff_filed": {"ticket_number", "hotline", "office_hours", "public_hotline"},
        "utter_handoff_hotline": {"hotline", "office_hours", "public_hotline"},
        "utter_offer_handoff": {"hotline", "office_hours"},
    }
    for name, values in given.items():
        for variant in responses[name]:
            fields = {f for _, f, _, _ in string.Formatter().parse(variant["text"]) if f}
            assert fields == values, (name, variant["text"])
