"""Filing, numbering, reading and cancelling tickets (one rolled-back transaction each)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services import (
    Category,
    Community,
    IllegalTransition,
    NotYourTicket,
    Resident,
    Ticket,
    TicketEvent,
    TicketNotFound,
    TicketNumberSequence,
    TicketStatus,
    UnknownCategory,
    file_ticket,
    get_or_create_resident,
    get_ticket,
    list_resident_tickets,
    load_reference_data,
    next_ticket_number,
    set_resident_language,
    transition,
    workflow,
)
from services.tickets import NewTicket

NOW = datetime(2031, 3, 4, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


async def _resident(session: AsyncSession, external_id: str = "1001") -> Resident:
    return await get_or_create_resident(
        session, channel="telegram", external_id=external_id, display_name="王阿姨"
    )


async def _file(
    session: AsyncSession,
    resident: Resident,
    *,
    category_code: str = "repair",
    key: str | None = None,
    now: datetime = NOW,
    address: str | None = "幸福路88弄3号",
) -> Ticket:
    return (
        await file_ticket(
            session,
            resident=resident,
            now=now,
            request=NewTicket(
                category_code=category_code,
                description="厨房水管漏水",
                address=address,
                latitude=None,
                longitude=None,
                preferred_time_text=None,
                preferred_time_at=None,
                phone=None,
                photo_path=None,
                language="zh",
                idempotency_key=key,
            ),
        )
    ).ticket


async def _events(session: AsyncSession, ticket: Ticket) -> list[TicketEvent]:
    rows = await session.scalars(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
    )
    return list(rows)


async def test_reference_data_loaded(session: AsyncSession) -> None:
    categories = {c.code: c for c in await session.scalars(select(Category))}
    assert set(categories) == {
        "repair", "elder_care", "legal_aid", "mediation", "medical", "counselling",
        "childcare", "disability", "housekeeping", "property", "policy",
    }  # fmt: skip
    reviewed = {code for code, c in categories.items() if c.needs_review}
    assert reviewed == {"legal_aid", "mediation", "counselling", "policy"}
    assert categories["mediation"].name_zh == "纠纷调解"
    assert isinstance(categories["repair"].unit_price, Decimal)
    assert await session.scalar(select(func.count()).select_from(Community)) == 4


async def test_load_reference_data_is_idempotent_and_refreshes_names(
    session: AsyncSession,
) -> None:
    repair = await session.get(Category, "repair")
    assert repair is not None
    repair.name_en = "stale"
    repair.unit_price = Decimal("99.00")  # staff's edit: must survive
    await load_reference_data(session)
    await load_reference_data(session)
    assert repair.name_en == "Repairs"
    assert repair.unit_price == Decimal("99.00")
    assert await session.scalar(select(func.count()).select_from(Category)) == 11
    assert await session.scalar(select(func.count()).select_from(Community)) == 4


async def test_file_ticket_stores_every_field(session: AsyncSession) -> None:
    resident = await _resident(session)
    preferred = datetime(2031, 3, 5, 15, 0, tzinfo=timezone(timedelta(hours=8)))
    ticket = (
        await file_ticket(
            session,
            resident=resident,
            now=NOW,
            request=NewTicket(
                category_code="legal_aid",
                description="老板拖欠工资三个月",
                address="和平新村5号楼",
                latitude=31.205,
                longitude=121.445,
                preferred_time_text="明天下午三点",
                preferred_time_at=preferred,
                phone="+8613800138000",
                photo_path="photos/abc.jpg",
                language="zh",
                idempotency_key="telegram:update:1",
            ),
        )
    ).ticket
    number = ticket.number
    session.expunge_all()
    stored = await get_ticket(session, number)
    heping = await session.scalar(select(Community).where(Community.name_zh == "和平新村社区"))
    assert heping is not None
    assert re.fullmatch(r"RO-310304-\d{4}", stored.number)
    assert stored.resident_id == resident.id
    assert stored.category_code == "legal_aid"
    assert stored.community_id == heping.id
    assert stored.organisation_id is None
    assert stored.status == TicketStatus.SUBMITTED
    assert stored.description == "老板拖欠工资三个月"
    assert stored.address == "和平新村5号楼"
    assert (stored.latitude, stored.longitude) == (31.205, 121.445)
    assert stored.preferred_time_text == "明天下午三点"
    assert stored.preferred_time_at == preferred
    assert stored.preferred_time_at is not None
    assert stored.preferred_time_at.utcoffset() == timedelta(0)
    assert stored.phone == "+8613800138000"
    assert stored.photo_path == "photos/abc.jpg"
    assert stored.language == "zh"
    assert stored.channel == "telegram"
    assert stored.idempotency_key == "telegram:update:1"
    assert stored.created_at == NOW
    assert stored.created_at.tzinfo is not None
    assert stored.updated_at == NOW

    events = await _events(session, stored)
    assert [(e.actor, e.from_status, e.to_status) for e in events] == [
        ("resident:telegram:1001", None, "submitted")
    ]
    assert events[0].created_at == NOW


async def test_auto_published_category_writes_two_events(session: AsyncSession) -> None:
    ticket = await _file(session, await _resident(session), category_code="repair")
    assert ticket.status == TicketStatus.PUBLISHED
    events = await _events(session, ticket)
    assert [(e.actor, e.from_status, e.to_status, e.note) for e in events] == [
        ("resident:telegram:1001", None, "submitted", None),
        ("system", "submitted", "published", "auto-published"),
    ]


async def test_unknown_category(session: AsyncSession) -> None:
    with pytest.raises(UnknownCategory):
        await _file(session, await _resident(session), category_code="astrology")


async def test_idempotency_key_returns_same_ticket(session: AsyncSession) -> None:
    resident = await _resident(session)
    first = await _file(session, resident, key="cli:msg:42")
    again = await _file(session, resident, key="cli:msg:42", category_code="medical")
    assert again.id == first.id
    assert again.category_code == "repair"
    count = await session.scalar(
        select(func.count()).select_from(Ticket).where(Ticket.resident_id == resident.id)
    )
    assert count == 1
    assert len(await _events(session, first)) == 2


async def test_numbers_are_sequential_per_shanghai_day(session: AsyncSession) -> None:
    resident = await _resident(session)
    a = await _file(session, resident)
    b = await _file(session, resident)
    assert a.number[:10] == b.number[:10] == "RO-310304-"
    assert int(b.number[-4:]) == int(a.number[-4:]) + 1
    # 16:30 UTC is already the next day in Shanghai.
    late = await next_ticket_number(session, datetime(2031, 3, 4, 16, 30, tzinfo=UTC))
    assert late.startswith("RO-310305-")


async def test_number_grows_past_four_digits(session: AsyncSession) -> None:
    session.add(TicketNumberSequence(day="310101", last=9998))
    await session.flush()
    now = datetime(2031, 1, 1, 1, 0, tzinfo=UTC)
    assert await next_ticket_number(session, now) == "RO-310101-9999"
    assert await next_ticket_number(session, now) == "RO-310101-10000"


async def test_first_number_of_a_day_is_one(session: AsyncSession) -> None:
    now = datetime(2032, 2, 29, 1, 0, tzinfo=UTC)
    assert await next_ticket_number(session, now) == "RO-320229-0001"


async def test_naive_now_is_refused(session: AsyncSession) -> None:
    with pytest.raises(ValueError):
        await next_ticket_number(session, datetime(2031, 1, 1))


async def test_list_resident_tickets_newest_first(session: AsyncSession) -> None:
    resident = await _resident(session)
    other = await _resident(session, "2002")
    t1 = await _file(session, resident, now=NOW)
    t2 = await _file(session, resident, now=NOW + timedelta(hours=1))
    await _file(session, other, now=NOW + timedelta(hours=2))
    t3 = await _file(session, resident, now=NOW + timedelta(hours=3))
    listed = await list_resident_tickets(session, resident)
    assert [t.number for t in listed] == [t3.number, t2.number, t1.number]
    assert [t.number for t in await list_resident_tickets(session, resident, limit=2)] == [
        t3.number,
        t2.number,
    ]


async def test_get_ticket_not_found(session: AsyncSession) -> None:
    with pytest.raises(TicketNotFound):
        await get_ticket(session, "RO-000000-0000")


async def test_cancel_own_ticket_writes_event(session: AsyncSession) -> None:
    resident = await _resident(session)
    ticket = await _file(session, resident)
    cancelled = await workflow.cancel(
        session, number=ticket.number, resident=resident, note="已修好"
    )
    assert cancelled.status == TicketStatus.CANCELLED
    session.expunge_all()
    assert (await get_ticket(session, ticket.number)).status == "cancelled"
    last = (await _events(session, ticket))[-1]
    assert (last.actor, last.from_status, last.to_status, last.note) == (
        "resident:telegram:1001",
        "published",
        "cancelled",
        "已修好",
    )


async def test_cancel_someone_elses_ticket(session: AsyncSession) -> None:
    owner = await _resident(session)
    stranger = await _resident(session, "666")
    ticket = await _file(session, owner)
    with pytest.raises(NotYourTicket):
        await workflow.cancel(session, number=ticket.number, resident=stranger)
    assert (await get_ticket(session, ticket.number)).status == TicketStatus.PUBLISHED


async def test_cancel_unknown_ticket(session: AsyncSession) -> None:
    with pytest.raises(TicketNotFound):
        await workflow.cancel(session, number="RO-000000-0001", resident=await _resident(session))


async def test_cancel_after_done_is_illegal_but_reopened_can_cancel(
    session: AsyncSession,
) -> None:
    resident = await _resident(session)
    ticket = await _file(session, resident)
    for status in (TicketStatus.CLAIMED, TicketStatus.IN_PROGRESS, TicketStatus.DONE):
        await transition(session, ticket, status, actor="org:1")
    with pytest.raises(IllegalTransition):
        await workflow.cancel(session, number=ticket.number, resident=resident)
    assert ticket.status == TicketStatus.DONE
    await transition(session, ticket, TicketStatus.REOPENED, actor="resident:telegram:1001")
    await workflow.cancel(session, number=ticket.number, resident=resident)
    assert ticket.status == TicketStatus.CANCELLED
    statuses = [e.to_status for e in await _events(session, ticket)]
    assert statuses == [
        "submitted", "published", "claimed", "in_progress", "done", "reopened", "cancelled",
    ]  # fmt: skip


async def test_transition_updates_status_time_and_logs(session: AsyncSession) -> None:
    ticket = await _file(session, await _resident(session), category_code="policy")
    later = NOW + timedelta(minutes=5)
    event = await transition(
        session, ticket, TicketStatus.REJECTED, actor="staff:7", note="不属于本社区", now=later
    )
    assert (event.from_status, event.to_status, event.actor) == ("submitted", "rejected", "staff:7")
    session.expunge_all()
    stored = await get_ticket(session, ticket.number)
    assert stored.status == "rejected"
    assert stored.updated_at == later
    assert stored.created_at == NOW


async def test_illegal_transition_changes_nothing(session: AsyncSession) -> None:
    ticket = await _file(session, await _resident(session))
    with pytest.raises(IllegalTransition):
        await transition(session, ticket, TicketStatus.DONE, actor="org:1")
    assert len(await _events(session, ticket)) == 2
    session.expunge_all()
    assert (await get_ticket(session, ticket.number)).status == "published"


async def test_get_or_create_resident_returns_same_row(session: AsyncSession) -> None:
    a = await get_or_create_resident(session, channel="cli", external_id="7")
    b = await get_or_create_resident(session, channel="cli", external_id="7", display_name="Li")
    c = await get_or_create_resident(session, channel="telegram", external_id="7")
    assert a.id == b.id != c.id
    assert b.display_name == "Li"


async def test_set_resident_language(session: AsyncSession) -> None:
    resident = await _resident(session)
    await set_resident_language(session, resident, language="en")
    await set_resident_language(session, resident, choice="zh")
    session.expunge_all()
    stored = await get_or_create_resident(session, channel="telegram", external_id="1001")
    assert (stored.language, stored.language_choice) == ("en", "zh")


async def test_record_alert_files_an_urgent_staff_ticket_once(session: AsyncSession) -> None:
    from services import AlertKind, record_alert

    resident = await get_or_create_resident(session, channel="telegram", external_id="alert-1")
    first = await record_alert(
        session,
        resident=resident,
        kind=AlertKind.EMERGENCY,
        description="厨房有很重的煤气味",
        language="zh",
        idempotency_key="alert-1:emergency:1",
    )
    again = await record_alert(
        session,
        resident=resident,
        kind=AlertKind.EMERGENCY,
        description="厨房有很重的煤气味",
        language="zh",
        idempotency_key="alert-1:emergency:1",
    )
    assert again.id == first.id
    assert (first.kind, first.urgent, first.category_code, first.status) == (
        "emergency",
        True,
        None,
        "submitted",
    )
    handoff = await record_alert(
        session,
        resident=resident,
        kind=AlertKind.HANDOFF,
        description="hello\nI want a person",
        language="en",
        idempotency_key=None,
    )
    assert (handoff.kind, handoff.urgent) == ("handoff", True)
    assert handoff.number != first.number
