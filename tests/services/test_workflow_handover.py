"""Staff hand a held ticket (claimed, in progress, reopened) on to another organisation
(issue 11, item 13): the old holder is told and loses it, the new one gets the card
with the contact, the resident is told, the history keeps the note and both holders."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services import workflow
from services.db import make_engine, make_sessionmaker, prepare_database
from services.errors import (
    AlreadyHolds,
    AlreadyTaken,
    IllegalTransition,
    NotEligible,
    NotYourTicket,
)
from services.lifecycle import TicketStatus
from services.models import Resident, Ticket
from services.parties import get_organisation, set_organisation_active
from services.tickets import get_ticket
from tests.services.helpers import (
    NOW,
    PHONE,
    XINGFULI,
    Org,
    StaffMember,
    button_data,
    events,
    file,
    keys,
    make_org,
    make_staff,
    outbox,
    resident,
)

S = TicketStatus
HOUR = timedelta(hours=1)


async def _held(
    session: AsyncSession, status: TicketStatus = S.CLAIMED
) -> tuple[Ticket, Org, Org, StaffMember]:
    """A ticket held by `first` in `status`, a second organisation and a staff member."""
    first = await make_org(session, name="first")
    second = await make_org(session, name="second")
    member = await make_staff(session)
    ticket = await file(session, await resident(session))
    await workflow.claim(session, number=ticket.number, organisation=first.organisation, now=NOW)
    if status in (S.IN_PROGRESS, S.REOPENED):
        await workflow.start(session, number=ticket.number, organisation=first.organisation)
    if status == S.REOPENED:
        await workflow.done(session, number=ticket.number, organisation=first.organisation)
        owner = await session.get(Resident, ticket.resident_id)
        assert owner is not None
        await workflow.not_fixed(session, number=ticket.number, resident=owner)
    assert (ticket.status, ticket.organisation_id) == (status, first.id)
    return ticket, first, second, member


async def _resident_chat(session: AsyncSession, ticket: Ticket) -> str:
    owner = await session.get(Resident, ticket.resident_id)
    assert owner is not None
    return owner.external_id


@pytest.mark.parametrize("status", [S.CLAIMED, S.IN_PROGRESS, S.REOPENED])
async def test_a_held_ticket_is_handed_to_another_organisation(
    session: AsyncSession, status: TicketStatus
) -> None:
    ticket, first, second, member = await _held(session, status)
    before_first = [
        "o_card_hidden" if key in ("o_claimed", "o_reopened") else key
        for key in await keys(session, first.chat)
    ]
    handed = await workflow.assign(
        session,
        number=ticket.number,
        staff=member.staff,
        organisation=second.organisation,
        note="居民要求换一家",
        now=NOW + 2 * HOUR,
    )
    # Claimed by the new holder from now on: work started is started afresh by it.
    assert (handed.status, handed.organisation_id, handed.claimed_at) == (
        S.CLAIMED,
        second.id,
        NOW + 2 * HOUR,
    )
    session.expunge_all()
    stored = await get_ticket(session, ticket.number)
    assert (stored.status, stored.organisation_id) == ("claimed", second.id)

    last = (await events(session, stored))[-1]
    assert (last.actor, last.action, last.from_status, last.to_status, last.note) == (
        member.actor,
        "reassigned",
        status.value,
        "claimed",
        f"from org:{first.id} to org:{second.id}: 居民要求换一家",
    )

    # The old holder is told it no longer has the ticket; its cards with the contact
    # (not sent yet here) are masked as after a release: nothing left in its chats
    # carries the resident's phone or address.
    assert await keys(session, first.chat) == [*before_first, "o_handed_away"]
    for row in await outbox(session, chat=first.chat):
        assert {"phone", "address", "location"}.isdisjoint(row.params), row.message_key
        assert row.message_key not in ("o_claimed", "o_reopened"), row.message_key
    [away] = await outbox(session, chat=first.chat, key="o_handed_away")
    assert away.params == {"number": ticket.number, "note": "居民要求换一家"}
    assert away.buttons == []
    # The new holder gets the card with the contact, and Start / Release.
    [card] = await outbox(session, chat=second.chat, key="o_handed_over")
    assert card.params["phone"] == PHONE and card.params["address"] == XINGFULI
    assert card.params["note"] == "居民要求换一家"
    assert button_data(card) == [[f"o:start:{ticket.number}"], [f"o:rel:{ticket.number}"]]
    # The resident is told who has it now.
    [told] = await outbox(session, chat=await _resident_chat(session, stored), key="n_handed_over")
    assert told.params == {"number": ticket.number, "organisation": "second"}

    # The old holder can no longer act on it; the new one carries it to the end.
    for step in (workflow.start, workflow.done):
        with pytest.raises(NotYourTicket):
            await step(session, number=ticket.number, organisation=first.organisation)
    with pytest.raises(NotYourTicket):
        await workflow.release(
            session, number=ticket.number, organisation=first.organisation, reason="x"
        )
    await workflow.start(session, number=ticket.number, organisation=second.organisation)
    await workflow.done(session, number=ticket.number, organisation=second.organisation)
    assert (await get_ticket(session, ticket.number)).status == S.DONE


async def test_the_done_sla_and_the_escalation_start_again_with_the_new_holder(
    session: AsyncSession,
) -> None:
    ticket, _first, second, member = await _held(session, S.IN_PROGRESS)
    overdue = await workflow.sweep(session, now=NOW + 200 * HOUR)  # repair: done in 72 h
    assert overdue.escalated == [ticket.number]
    await workflow.assign(
        session,
        number=ticket.number,
        staff=member.staff,
        organisation=second.organisation,
        now=NOW + 201 * HOUR,
    )
    assert ticket.escalated_at is None
    last = (await events(session, ticket))[-1]
    assert last.note == f"from org:{_first.id} to org:{second.id}"  # no note given
    [away] = await outbox(session, chat=_first.chat, key="o_handed_away")
    assert away.params["note"] == "-"
    done = await workflow.done(
        session, number=ticket.number, organisation=second.organisation, now=NOW + 210 * HOUR
    )
    assert done.done_late is False  # 9 h after the hand-over


async def test_a_reopened_ticket_may_still_go_back_to_the_organisation_that_did_it(
    session: AsyncSession,
) -> None:
    ticket, first, _second, member = await _held(session, S.REOPENED)
    again = await workflow.assign(
        session, number=ticket.number, staff=member.staff, organisation=first.organisation
    )
    assert (again.status, again.organisation_id) == (S.CLAIMED, first.id)
    assert (await keys(session, first.chat))[-1] == "o_assigned"
    assert await outbox(session, key="o_handed_away") == []


@pytest.mark.parametrize("status", [S.CLAIMED, S.IN_PROGRESS])
async def test_assigning_to_the_holder_is_refused_and_writes_nothing(
    session: AsyncSession, status: TicketStatus
) -> None:
    ticket, first, _second, member = await _held(session, status)
    history, sent = len(await events(session, ticket)), len(await outbox(session))
    with pytest.raises(AlreadyHolds) as info:
        await workflow.assign(
            session, number=ticket.number, staff=member.staff, organisation=first.organisation
        )
    assert (info.value.current, info.value.holder) == (status.value, "first")
    assert isinstance(info.value, AlreadyTaken)
    assert (len(await events(session, ticket)), len(await outbox(session))) == (history, sent)


async def test_a_suspended_organisation_or_a_finished_ticket_is_refused(
    session: AsyncSession,
) -> None:
    ticket, first, second, member = await _held(session)
    await set_organisation_active(session, second.organisation, False)
    with pytest.raises(NotEligible):
        await workflow.assign(
            session, number=ticket.number, staff=member.staff, organisation=second.organisation
        )
    assert ticket.organisation_id == first.id
    third = await make_org(session, name="third")
    await workflow.done(session, number=ticket.number, organisation=first.organisation)
    with pytest.raises(IllegalTransition):
        await workflow.assign(
            session, number=ticket.number, staff=member.staff, organisation=third.organisation
        )
    assert (ticket.status, ticket.organisation_id) == (S.DONE, first.id)


async def test_staff_of_another_community_may_not_hand_it_on(session: AsyncSession) -> None:
    ticket, first, second, _member = await _held(session)
    outsider = await make_staff(session, communities=["和平新村社区"])
    with pytest.raises(NotYourTicket):
        await workflow.assign(
            session, number=ticket.number, staff=outsider.staff, organisation=second.organisation
        )
    assert ticket.organisation_id == first.id


async def test_assignable_never_offers_the_holder(session: AsyncSession) -> None:
    ticket, first, second, _member = await _held(session)
    choices = [o.id for o in await workflow.assignable(session, ticket)]
    assert second.id in choices and first.id not in choices
    reopened, did_it, _, _ = await _held(session, S.REOPENED)
    assert did_it.id in [o.id for o in await workflow.assignable(session, reopened)]


# --- races, on a database of their own (these tests commit) ---------------------------------


@pytest.fixture
async def engine(fresh_db_url: str) -> AsyncIterator[AsyncEngine]:
    await prepare_database(fresh_db_url)
    engine = make_engine(fresh_db_url)
    try:
        yield engine
    finally:
        await engine.dispose()


# SQLite transactions begin IMMEDIATE: they cannot interleave like this, one waits for
# the other's commit; the races are PostgreSQL's.
ON_POSTGRESQL = pytest.mark.parametrize("fresh_db_url", ["postgresql"], indirect=True)


@ON_POSTGRESQL
@pytest.mark.parametrize("step", ["start", "done", "release"])
async def test_the_old_holder_acting_during_a_hand_over_never_touches_it(
    engine: AsyncEngine, step: str
) -> None:
    """The old holder read the ticket (still its own) just before staff handed it on:
    its start, done or release must not apply to the new holder's ticket."""
    sessions = make_sessionmaker(engine)
    async with sessions() as session, session.begin():
        ticket, first, second, member = await _held(session)
        number = ticket.number
    async with sessions() as org_session, org_session.begin():
        old = await get_organisation(org_session, first.id)
        # Kept: the old holder's step read the ticket before the hand-over committed
        # (the window between its SELECT and its UPDATE).
        seen = await get_ticket(org_session, number)
        assert seen.organisation_id == first.id
        async with sessions() as staff_session, staff_session.begin():
            await workflow.assign(
                staff_session,
                number=number,
                staff=member.staff,
                organisation=await get_organisation(staff_session, second.id),
            )
        with pytest.raises(IllegalTransition):
            if step == "release":
                await workflow.release(org_session, number=number, organisation=old, reason="x")
            else:
                await getattr(workflow, step)(org_session, number=number, organisation=old)
    async with sessions() as session:
        stored = await get_ticket(session, number)
        assert (stored.status, stored.organisation_id) == ("claimed", second.id)


@ON_POSTGRESQL
async def test_two_staff_handing_on_at_once_one_wins(engine: AsyncEngine) -> None:
    sessions = make_sessionmaker(engine)
    async with sessions() as session, session.begin():
        ticket, first, second, member = await _held(session)
        third = await make_org(session, name="third")
        number = ticket.number
    both_read = asyncio.Barrier(2)

    async def hand_to(organisation_id: int) -> int:
        async with sessions() as session, session.begin():
            organisation = await get_organisation(session, organisation_id)
            seen = await get_ticket(session, number)  # both see it held by `first`
            assert seen.organisation_id == first.id
            await both_read.wait()
            await workflow.assign(
                session, number=number, staff=member.staff, organisation=organisation
            )
            return organisation_id

    results = await asyncio.gather(hand_to(second.id), hand_to(third.id), return_exceptions=True)
    winners = [r for r in results if isinstance(r, int)]
    assert len(winners) == 1, results
    [lost] = [r for r in results if isinstance(r, BaseException)]
    assert isinstance(lost, AlreadyTaken), lost
    async with sessions() as session:
        stored = await get_ticket(session, number)
        assert (stored.status, stored.organisation_id) == ("claimed", winners[0])
        assert len(await outbox(session, key="o_handed_away")) == 1
