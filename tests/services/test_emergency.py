"""Staff acting on emergency and hand-off tickets (services.emergency), on SQLite and
PostgreSQL: acknowledge, called back, help arrived, resolved, hand to an organisation;
the queue keeps unacknowledged ones first; the sweep re-alerts staff once per interval."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from desk.notices import render
from desk.render import ticket_lines
from i18n import t, ticket_status_name
from services import emergency, workflow
from services.alerts import AlertKind, Contact, record_alert
from services.categories import category_codes
from services.db import make_engine, make_sessionmaker, prepare_database
from services.errors import IllegalTransition, NotYourTicket, UnknownCategory
from services.management import list_categories
from services.models import OutboxMessage, Resident, Ticket, TicketEvent
from services.queue import QueueQuery, Sort, search_queue
from services.tickets import get_ticket
from tests.services.helpers import (
    HEPING,
    NOW,
    PHONE,
    XINGFULI,
    button_data,
    community_id,
    events,
    file,
    keys,
    make_org,
    make_staff,
    outbox,
    resident,
)

MINUTE = timedelta(minutes=1)


async def alert(
    session: AsyncSession,
    owner: Resident,
    kind: AlertKind = AlertKind.EMERGENCY,
    *,
    address: str | None = XINGFULI,
    description: str = "家里煤气味很大",
) -> Ticket:
    """An alert ticket as record_alert files it, with the contact the dialogue knows."""
    ticket = await record_alert(
        session,
        resident=owner,
        kind=kind,
        description=description,
        language="zh",
        idempotency_key=None,
        now=NOW,
    )
    ticket.address, ticket.phone = address, PHONE
    await session.flush()
    return ticket


async def alert_events(session: AsyncSession, ticket: Ticket) -> list[tuple[str, str]]:
    return [(e.actor, e.action) for e in await events(session, ticket) if e.action != "transition"]


# --- the staff card --------------------------------------------------------------------------


async def test_the_staff_alert_offers_the_emergency_steps_not_a_close(
    session: AsyncSession,
) -> None:
    member = await make_staff(session)
    owner = await resident(session)
    urgent = await alert(session, owner)
    [card] = await outbox(session, chat=member.chat, key="s_alert_emergency")
    assert button_data(card) == [
        [f"s:ack:{urgent.number}"],
        [f"s:cb:{urgent.number}", f"s:arr:{urgent.number}"],
        [f"s:res:{urgent.number}", f"s:hand:{urgent.number}"],
    ]
    person = await alert(session, owner, AlertKind.HANDOFF)
    [card] = await outbox(session, chat=member.chat, key="s_alert_handoff")
    data = [d for row in button_data(card) for d in row]
    assert f"s:ack:{person.number}" in data and f"s:hand:{person.number}" in data
    assert not any(d.startswith("s:arr:") for d in data)  # help arrives for emergencies
    assert not any(d.startswith(("s:close:", "s:ok:", "s:asg:")) for d in data)


async def test_the_staff_alert_carries_the_contact_to_call_back(session: AsyncSession) -> None:
    member = await make_staff(session)
    owner = await resident(session)
    ticket = await record_alert(
        session,
        resident=owner,
        kind=AlertKind.EMERGENCY,
        description="煤气味很大",
        language="zh",
        idempotency_key=None,
        contact=Contact(phone=PHONE, latitude=31.2304, longitude=121.4737),
        now=NOW,
    )
    [card] = await outbox(session, chat=member.chat, key="s_alert_emergency")
    text = render(card.message_key, card.params, [], "zh").text
    assert ticket.number in text and PHONE in text and "31.23040,121.47370" in text, text
    handoff = await record_alert(
        session,
        resident=owner,
        kind=AlertKind.HANDOFF,
        description="楼上漏水",
        language="en",
        idempotency_key=None,
        contact=Contact(phone=PHONE),
        now=NOW,
    )
    [card] = await outbox(session, chat=member.chat, key="s_alert_handoff")
    text = render(card.message_key, card.params, [], "en").text
    assert handoff.number in text and PHONE in text and "Need: 楼上漏水" in text, text


# --- acknowledge -----------------------------------------------------------------------------


async def test_acknowledge_once_tells_the_resident_and_the_other_staff(
    session: AsyncSession,
) -> None:
    first = await make_staff(session)
    second = await make_staff(session)
    owner = await resident(session)
    ticket = await alert(session, owner)
    assert emergency.needs_acknowledgement(ticket)

    at = NOW + 2 * MINUTE
    await emergency.acknowledge(session, number=ticket.number, staff=first.staff, now=at)
    assert (ticket.acknowledged_at, ticket.acknowledged_by) == (at, first.staff.id)
    assert not emergency.needs_acknowledgement(ticket)
    assert ticket.status == "submitted"  # still with staff, not closed
    assert await alert_events(session, ticket) == [(first.actor, "acknowledged")]
    assert (await keys(session, owner.external_id))[-1] == "n_alert_acknowledged_emergency"
    [told] = await outbox(session, chat=second.chat, key="s_alert_acknowledged")
    assert told.params["staff"] == first.staff.name
    assert await outbox(session, chat=first.chat, key="s_alert_acknowledged") == []

    # A double press, and a second staff member a moment later: nothing more happens.
    await emergency.acknowledge(session, number=ticket.number, staff=first.staff, now=at)
    await emergency.acknowledge(session, number=ticket.number, staff=second.staff, now=at)
    session.expunge_all()
    stored = await get_ticket(session, ticket.number)
    assert stored.acknowledged_by == first.staff.id
    assert await alert_events(session, stored) == [(first.actor, "acknowledged")]
    assert (await keys(session, owner.external_id)).count("n_alert_acknowledged_emergency") == 1


async def test_a_hand_off_is_acknowledged_in_its_own_words(session: AsyncSession) -> None:
    member = await make_staff(session)
    owner = await resident(session)
    ticket = await alert(session, owner, AlertKind.HANDOFF, description="找人工")
    await emergency.acknowledge(session, number=ticket.number, staff=member.staff, now=NOW)
    assert (await keys(session, owner.external_id))[-1] == "n_alert_acknowledged_handoff"
    with pytest.raises(IllegalTransition):
        await emergency.help_arrived(session, number=ticket.number, staff=member.staff, now=NOW)


async def test_only_alert_tickets_and_their_staff(session: AsyncSession) -> None:
    mine = await make_staff(session)
    elsewhere = await make_staff(session, communities=["和平新村社区"])
    owner = await resident(session)
    service = await file(session, owner)
    for step in (emergency.acknowledge, emergency.called_back, emergency.resolve):
        with pytest.raises(IllegalTransition):
            await step(session, number=service.number, staff=mine.staff, now=NOW)
    ticket = await alert(session, owner)
    ticket.community_id = await community_id(session, "幸福里社区")
    await session.flush()
    with pytest.raises(NotYourTicket):
        await emergency.acknowledge(session, number=ticket.number, staff=elsewhere.staff, now=NOW)
    mine.staff.active = False
    with pytest.raises(NotYourTicket):
        await emergency.resolve(session, number=ticket.number, staff=mine.staff, now=NOW)
    assert ticket.acknowledged_at is None and ticket.status == "submitted"


async def test_no_approve_or_assign_without_a_category(session: AsyncSession) -> None:
    member = await make_staff(session)
    org = await make_org(session, categories=["elder_care"])
    ticket = await alert(session, await resident(session))
    with pytest.raises(IllegalTransition):
        await workflow.approve(session, number=ticket.number, staff=member.staff, now=NOW)
    with pytest.raises(IllegalTransition):
        await workflow.assign(
            session, number=ticket.number, staff=member.staff, organisation=org.organisation
        )
    assert (ticket.status, ticket.organisation_id) == ("submitted", None)
    assert await outbox(session, chat=org.chat) == []


# --- called back, help arrived ---------------------------------------------------------------


async def test_called_back_and_help_arrived_are_logged_and_acknowledge(
    session: AsyncSession,
) -> None:
    member = await make_staff(session)
    owner = await resident(session)
    ticket = await alert(session, owner)
    told_before = await keys(session, owner.external_id)
    await emergency.called_back(
        session, number=ticket.number, staff=member.staff, note="已电话联系，120 在路上", now=NOW
    )
    assert ticket.acknowledged_by == member.staff.id
    # A double press a moment later is the same call; a second call later is logged.
    await emergency.called_back(session, number=ticket.number, staff=member.staff, now=NOW)
    await emergency.called_back(
        session, number=ticket.number, staff=member.staff, now=NOW + 3 * MINUTE
    )
    await emergency.help_arrived(
        session, number=ticket.number, staff=member.staff, now=NOW + 9 * MINUTE
    )
    assert await alert_events(session, ticket) == [
        (member.actor, "acknowledged"),
        (member.actor, "called_back"),
        (member.actor, "called_back"),
        (member.actor, "help_arrived"),
    ]
    noted = [e for e in await events(session, ticket) if e.action == "called_back"]
    assert noted[0].note == "已电话联系，120 在路上"
    # The resident was on the phone: no message about the call.
    assert await keys(session, owner.external_id) == told_before
    assert ticket.status == "submitted"


# --- resolve ---------------------------------------------------------------------------------


async def test_resolve_closes_and_tells_the_resident(session: AsyncSession) -> None:
    member = await make_staff(session)
    owner = await resident(session)
    ticket = await alert(session, owner)
    at = NOW + 20 * MINUTE
    await emergency.resolve(session, number=ticket.number, staff=member.staff, now=at)
    assert (ticket.status, ticket.closed_at, ticket.acknowledged_by) == (
        "closed",
        at,
        member.staff.id,
    )
    last = (await events(session, ticket))[-1]
    assert (last.actor, last.from_status, last.to_status, last.note) == (
        member.actor,
        "submitted",
        "closed",
        "reason_resolved",
    )
    assert (await keys(session, owner.external_id))[-1] == "n_alert_resolved_emergency"
    # Again (a double press) changes nothing; a fact after the end is refused.
    before = len(await events(session, ticket))
    await emergency.resolve(session, number=ticket.number, staff=member.staff, now=at)
    await emergency.acknowledge(session, number=ticket.number, staff=member.staff, now=at)
    assert len(await events(session, ticket)) == before
    with pytest.raises(IllegalTransition):
        await emergency.called_back(session, number=ticket.number, staff=member.staff, now=at)


async def test_resolve_keeps_the_staff_note(session: AsyncSession) -> None:
    member = await make_staff(session)
    ticket = await alert(session, await resident(session), AlertKind.HANDOFF)
    await emergency.resolve(
        session, number=ticket.number, staff=member.staff, note="电话里解答了补贴问题", now=NOW
    )
    assert (await events(session, ticket))[-1].note == "电话里解答了补贴问题"
    assert emergency.alert_actions(ticket) == []


# --- hand to an organisation -----------------------------------------------------------------


async def test_hand_to_an_organisation_makes_a_service_ticket_offered_to_it(
    session: AsyncSession,
) -> None:
    member = await make_staff(session)
    helper = await make_org(session, categories=["elder_care"])
    other = await make_org(session, categories=["repair"])
    owner = await resident(session)
    ticket = await alert(session, owner, description="老伴摔倒了，已经送医，回家后需要人照看")
    at = NOW + 30 * MINUTE
    await emergency.hand_to_organisation(
        session,
        number=ticket.number,
        staff=member.staff,
        category_code="elder_care",
        note="出院后上门照护",
        now=at,
    )
    assert (ticket.kind, ticket.category_code, ticket.status, ticket.urgent) == (
        "service",
        "elder_care",
        "published",
        False,
    )
    assert ticket.community_id == await community_id(session, "幸福里社区")
    assert (ticket.published_at, ticket.acknowledged_by) == (at, member.staff.id)
    moved = (await events(session, ticket))[-1]
    assert (moved.actor, moved.from_status, moved.to_status, moved.note) == (
        member.actor,
        "submitted",
        "published",
        "from emergency to elder_care: 出院后上门照护",
    )
    # Offered through the ordinary workflow: the masked card, never to the repairers.
    [card] = await outbox(session, chat=helper.chat, key="o_offer")
    assert "phone" not in card.params and card.params["number"] == ticket.number
    assert await outbox(session, chat=other.chat) == []
    told = (await outbox(session, chat=owner.external_id))[-1]
    assert told.message_key == "n_alert_handed"
    assert told.params["category"]["zh"] == "助老"
    # It is an ordinary ticket now: the organisation claims it; the alert steps are gone.
    await workflow.claim(session, number=ticket.number, organisation=helper.organisation, now=at)
    assert ticket.status == "claimed"
    assert emergency.alert_actions(ticket) == []
    # A double press of the same choice changes nothing; another category is refused.
    await emergency.hand_to_organisation(
        session, number=ticket.number, staff=member.staff, category_code="elder_care", now=at
    )
    with pytest.raises(IllegalTransition):
        await emergency.hand_to_organisation(
            session, number=ticket.number, staff=member.staff, category_code="repair", now=at
        )


async def test_hand_to_an_organisation_nobody_serves_asks_staff_to_assign(
    session: AsyncSession,
) -> None:
    member = await make_staff(session)
    ticket = await alert(session, await resident(session), AlertKind.HANDOFF, address=HEPING)
    ticket.community_id = await community_id(session, "和平新村社区")
    await session.flush()
    admin = await make_staff(session, role="admin")
    await emergency.hand_to_organisation(
        session, number=ticket.number, staff=admin.staff, category_code="legal_aid", now=NOW
    )
    assert ticket.status == "published"
    [ask] = await outbox(session, chat=admin.chat, key="s_no_match")
    assert button_data(ask) == [[f"s:asg:{ticket.number}"]]
    assert await outbox(session, chat=member.chat, key="s_no_match") == []  # another community


async def test_hand_to_an_unknown_category_is_refused(session: AsyncSession) -> None:
    member = await make_staff(session)
    ticket = await alert(session, await resident(session))
    with pytest.raises(UnknownCategory):
        await emergency.hand_to_organisation(
            session, number=ticket.number, staff=member.staff, category_code="'; drop", now=NOW
        )
    assert (ticket.kind, ticket.status, ticket.acknowledged_at) == ("emergency", "submitted", None)
    codes = await category_codes(session)
    assert codes == [c.code for c in await list_categories(session)] and "repair" in codes


# --- the queue and the words -----------------------------------------------------------------


async def test_unacknowledged_alerts_stay_first_until_acknowledged(session: AsyncSession) -> None:
    member = await make_staff(session, role="admin")
    owner = await resident(session)
    urgent = await alert(session, owner)  # filed first, so last by "newest"
    service = await file(session, owner, now=NOW + MINUTE)
    later = NOW + 2 * MINUTE

    async def order(sort: Sort) -> list[str]:
        page = await search_queue(session, QueueQuery(sort=sort, per_page=200), now=later)
        return [r.ticket.number for r in page.rows if r.ticket.id in (urgent.id, service.id)]

    for sort in Sort:
        assert await order(sort) == [urgent.number, service.number], sort
    page = await search_queue(session, QueueQuery(per_page=200), now=later)
    [row] = [r for r in page.rows if r.ticket.id == urgent.id]
    assert row.unacknowledged and row.attention
    await emergency.acknowledge(session, number=urgent.number, staff=member.staff, now=later)
    assert await order(Sort.NEWEST) == [service.number, urgent.number]
    page = await search_queue(session, QueueQuery(per_page=200), now=later)
    [row] = [r for r in page.rows if r.ticket.id == urgent.id]
    assert not row.unacknowledged


async def test_an_alert_never_reads_awaiting_review(session: AsyncSession) -> None:
    member = await make_staff(session)
    owner = await resident(session)
    ticket = await alert(session, owner)
    for language in ("zh", "en"):
        named = ticket_status_name(ticket.status, language, kind=ticket.kind)
        assert named == t("status_alert_emergency", language)
        assert "待审核" not in named and "review" not in named
        line = ticket_lines([ticket], {}, language, "Asia/Shanghai")
        assert named in line and "待审核" not in line and "awaiting review" not in line
    await emergency.acknowledge(session, number=ticket.number, staff=member.staff, now=NOW)
    line = ticket_lines([ticket], {}, "zh", "Asia/Shanghai")
    assert t("status_alert_acknowledged", "zh") in line
    handoff = await alert(session, owner, AlertKind.HANDOFF)
    assert ticket_status_name("submitted", "en", kind=handoff.kind) == t(
        "status_alert_handoff", "en"
    )
    # An ordinary ticket still reads as it did.
    assert ticket_status_name("submitted", "zh") == "待审核"


# --- re-alerts -------------------------------------------------------------------------------


async def test_staff_are_alerted_again_once_per_interval_until_acknowledged(
    session: AsyncSession,
) -> None:
    member = await make_staff(session)
    owner = await resident(session)
    ticket = await alert(session, owner)

    async def sweep(at: timedelta) -> list[str]:
        result = await workflow.sweep(session, now=NOW + at)
        return [n for n in result.realerted if n == ticket.number]

    assert await sweep(5 * MINUTE - timedelta(seconds=1)) == []
    assert await sweep(5 * MINUTE) == [ticket.number]
    assert await sweep(5 * MINUTE) == []  # a second sweeper at the same moment
    assert await sweep(9 * MINUTE) == []
    assert await sweep(10 * MINUTE) == [ticket.number]
    again = await outbox(session, chat=member.chat, key="s_alert_again")
    assert len(again) == 2
    assert again[-1].params["minutes"] == 10
    assert again[-1].params["phone"] == PHONE  # staff may call at once
    assert [f"s:ack:{ticket.number}"] in button_data(again[-1])
    realerts = [e for e in await events(session, ticket) if e.action == "realerted"]
    assert [(e.actor, e.note) for e in realerts] == [("system", "5"), ("system", "10")]

    await emergency.acknowledge(session, number=ticket.number, staff=member.staff, now=NOW)
    assert await sweep(60 * MINUTE) == []
    assert len(await outbox(session, chat=member.chat, key="s_alert_again")) == 2


async def test_hand_offs_wait_longer_and_the_interval_is_a_setting(session: AsyncSession) -> None:
    await make_staff(session)
    owner = await resident(session)
    person = await alert(session, owner, AlertKind.HANDOFF)
    urgent = await alert(session, owner)

    async def sweep(at: timedelta, minutes: dict[str, int] | None = None) -> set[str]:
        result = await workflow.sweep(session, now=NOW + at, realert_minutes=minutes)
        return set(result.realerted) & {person.number, urgent.number}

    assert await sweep(29 * MINUTE) == {urgent.number}
    assert await sweep(30 * MINUTE) == {person.number}
    # EMERGENCY_REALERT_MINUTES=2: the emergency again 2 minutes after its last re-alert.
    assert await sweep(31 * MINUTE, {"emergency": 2, "handoff": 30}) == {urgent.number}
    # Ended tickets are never re-alerted.
    await workflow.cancel(session, number=urgent.number, resident=owner, now=NOW + 32 * MINUTE)
    assert await sweep(120 * MINUTE) == {person.number}


@pytest.fixture
async def engine(fresh_db_url: str) -> AsyncIterator[AsyncEngine]:
    await prepare_database(fresh_db_url)
    engine = make_engine(fresh_db_url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def test_two_sweepers_and_two_staff_at_once(engine: AsyncEngine) -> None:
    """Committed, on separate connections: two replicas' sweeps re-alert once; two staff
    acknowledging at once make one acknowledgement."""
    sessions = make_sessionmaker(engine)
    async with sessions() as session, session.begin():
        member = await make_staff(session)
        other = await make_staff(session)
        ticket = await alert(session, await resident(session))
        number, staff_ids = ticket.number, (member.staff.id, other.staff.id)
        chat = member.chat

    async def sweep() -> list[str]:
        async with sessions() as session, session.begin():
            await asyncio.sleep(0)
            return (await workflow.sweep(session, now=NOW + 6 * MINUTE)).realerted

    results = await asyncio.gather(sweep(), sweep(), return_exceptions=True)
    sent = [r for r in results if isinstance(r, list)]
    assert sum(len(r) for r in sent) == 1, results

    async def press(staff_id: int) -> None:
        async with sessions() as session, session.begin():
            from services.models import Staff

            staff = await session.get(Staff, staff_id)
            assert staff is not None
            await asyncio.sleep(0)
            await emergency.acknowledge(session, number=number, staff=staff, now=NOW)

    await asyncio.gather(*(press(i) for i in staff_ids), return_exceptions=True)
    async with sessions() as session:
        stored = await get_ticket(session, number)
        assert stored.acknowledged_by in staff_ids
        acks = list(
            await session.scalars(
                select(TicketEvent).where(
                    TicketEvent.ticket_id == stored.id, TicketEvent.action == "acknowledged"
                )
            )
        )
        assert len(acks) == 1
        again = list(
            await session.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.chat_id == chat, OutboxMessage.message_key == "s_alert_again"
                )
            )
        )
        assert len(again) == 1
