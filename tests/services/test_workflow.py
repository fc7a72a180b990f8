"""A filed ticket carried on: claiming, doing, rating, reopening, releasing, cancelling.
Filing and offers: test_workflow_filing.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services import workflow
from services.errors import (
    AlreadyTaken,
    IllegalTransition,
    NotEligible,
    NotYourTicket,
    TicketNotFound,
)
from services.lifecycle import TicketStatus
from services.models import OutboxMessage, Resident, Ticket
from services.parties import set_organisation_active
from services.tickets import NewTicket, get_or_create_resident, get_ticket, set_resident_language
from services.workflow import file_ticket
from tests.services.helpers import (
    NOW,
    PHONE,
    XINGFULI,
    Org,
    button_data,
    events,
    file,
    keys,
    make_org,
    make_staff,
    offers,
    outbox,
    resident,
    transitions,
    unique,
)

S = TicketStatus
HOUR = timedelta(hours=1)


async def _claimed(session: AsyncSession) -> tuple[Ticket, Org]:
    """A published repair ticket in 幸福里 claimed by the only matching organisation."""
    org = await make_org(session)
    ticket = await file(session, await resident(session))
    await workflow.claim(session, number=ticket.number, organisation=org.organisation, now=NOW)
    return ticket, org


async def _done(session: AsyncSession) -> tuple[Ticket, Org]:
    ticket, org = await _claimed(session)
    await workflow.done(
        session, number=ticket.number, organisation=org.organisation, now=NOW + 2 * HOUR
    )
    return ticket, org


async def _resident_of(session: AsyncSession, ticket: Ticket) -> str:
    owner = await session.get(Resident, ticket.resident_id)
    assert owner is not None
    return owner.external_id


# --- claiming -------------------------------------------------------------------------------


async def test_claim_first_organisation_wins(session: AsyncSession) -> None:
    winner = await make_org(session, name="蓝天维修队")
    loser = await make_org(session, name="彩虹维修队")
    bystander = await make_org(session, communities=None)
    ticket = await file(session, await resident(session))
    resident_chat = await _resident_of(session, ticket)
    later = NOW + HOUR

    claimed = await workflow.claim(
        session, number=ticket.number, organisation=winner.organisation, now=later
    )
    assert claimed.status == S.CLAIMED
    assert claimed.organisation_id == winner.id
    assert claimed.claimed_at == later

    with pytest.raises(AlreadyTaken) as info:
        await workflow.claim(
            session, number=ticket.number, organisation=loser.organisation, now=later
        )
    assert info.value.holder == "蓝天维修队"
    assert isinstance(info.value, IllegalTransition)

    # Pressing claim again changes nothing and logs nothing.
    again = await workflow.claim(
        session, number=ticket.number, organisation=winner.organisation, now=later + HOUR
    )
    assert again.id == ticket.id and again.claimed_at == later

    session.expunge_all()
    stored = await get_ticket(session, ticket.number)
    assert (stored.status, stored.organisation_id) == ("claimed", winner.id)
    claims = [e for e in await events(session, stored) if e.to_status == "claimed"]
    assert [(e.actor, e.from_status, e.created_at) for e in claims] == [
        (winner.actor, "published", later)
    ]

    [full] = await outbox(session, chat=winner.chat, key="o_claimed")
    assert full.params["phone"] == PHONE
    assert full.params["address"] == XINGFULI
    assert full.params["location"] == "-"
    assert button_data(full) == [[f"o:start:{ticket.number}"], [f"o:rel:{ticket.number}"]]
    assert await keys(session, winner.chat) == ["o_offer", "o_claimed"]
    for other in (loser, bystander):
        assert await keys(session, other.chat) == ["o_offer", "o_taken"]
        [taken] = await outbox(session, chat=other.chat, key="o_taken")
        assert taken.params["organisation"] == "蓝天维修队"
        assert "phone" not in taken.params
    [told] = await outbox(session, chat=resident_chat)
    assert told.message_key == "n_claimed"
    assert told.params == {"number": ticket.number, "organisation": "蓝天维修队"}


async def test_claim_by_ineligible_organisation(session: AsyncSession) -> None:
    await make_org(session)
    ticket = await file(session, await resident(session))
    for org in (
        await make_org(session, categories=["elder_care"]),
        await make_org(session, communities=["和平新村社区"]),
    ):
        # Not its business: answered as for no such ticket (issue 11, item 5).
        with pytest.raises(TicketNotFound):
            await workflow.claim(session, number=ticket.number, organisation=org.organisation)
    suspended = await make_org(session)
    await set_organisation_active(session, suspended.organisation, False)
    with pytest.raises(TicketNotFound):
        await workflow.claim(session, number=ticket.number, organisation=suspended.organisation)
    assert (await get_ticket(session, ticket.number)).status == S.PUBLISHED
    assert len(await events(session, ticket)) == 2


async def test_claim_of_submitted_or_unknown_ticket(session: AsyncSession) -> None:
    org = await make_org(session, categories=["policy"], communities=None)
    ticket = await file(session, await resident(session), category="policy")
    # Awaiting review: organisations may not know of it yet (issue 11, item 4).
    with pytest.raises(TicketNotFound):
        await workflow.claim(session, number=ticket.number, organisation=org.organisation)
    assert (await get_ticket(session, ticket.number)).status == S.SUBMITTED
    with pytest.raises(TicketNotFound):
        await workflow.claim(session, number="RO-000000-0000", organisation=org.organisation)


# --- start, done ----------------------------------------------------------------------------


async def test_start_then_done(session: AsyncSession) -> None:
    ticket, org = await _claimed(session)
    resident_chat = await _resident_of(session, ticket)
    started = await workflow.start(
        session, number=ticket.number, organisation=org.organisation, now=NOW + HOUR
    )
    assert started.status == S.IN_PROGRESS
    # Pressing start twice is harmless.
    await workflow.start(
        session, number=ticket.number, organisation=org.organisation, now=NOW + 2 * HOUR
    )
    finished = await workflow.done(
        session,
        number=ticket.number,
        organisation=org.organisation,
        note="换了新水管",
        now=NOW + 3 * HOUR,
    )
    assert finished.status == S.DONE
    assert finished.done_at == NOW + 3 * HOUR
    assert finished.done_late is False
    assert transitions(await events(session, ticket))[2:] == [
        (org.actor, "published", "claimed"),
        (org.actor, "claimed", "in_progress"),
        (org.actor, "in_progress", "done"),
    ]
    assert await keys(session, resident_chat) == ["n_claimed", "n_started", "n_done"]
    [asked] = await outbox(session, chat=resident_chat, key="n_done")
    assert asked.params["note"] == "换了新水管"
    assert asked.reply_kind == "rating_comment"
    assert button_data(asked) == [
        [f"r:rate:{ticket.number}:{stars}" for stars in range(1, 6)],
        [f"r:nf:{ticket.number}"],
    ]
    assert [b["params"] for b in asked.buttons[0]] == [{"stars": n} for n in range(1, 6)]


async def test_done_from_claimed_goes_through_in_progress(session: AsyncSession) -> None:
    ticket, org = await _claimed(session)
    await workflow.done(session, number=ticket.number, organisation=org.organisation, now=NOW)
    assert [(e.from_status, e.to_status) for e in await events(session, ticket)][2:] == [
        ("published", "claimed"),
        ("claimed", "in_progress"),
        ("in_progress", "done"),
    ]
    # Done twice: nothing more.
    await workflow.done(session, number=ticket.number, organisation=org.organisation, now=NOW)
    assert len(await events(session, ticket)) == 5


@pytest.mark.parametrize(
    ("after", "late"),
    [
        (timedelta(hours=71), False),
        (timedelta(hours=72), False),
        (timedelta(hours=72, seconds=1), True),
        (timedelta(days=10), True),
    ],
)
async def test_done_late_after_the_done_sla(
    session: AsyncSession, after: timedelta, late: bool
) -> None:
    ticket, org = await _claimed(session)  # repair: sla_done_hours 72, claimed at NOW
    finished = await workflow.done(
        session, number=ticket.number, organisation=org.organisation, now=NOW + after
    )
    assert finished.done_late is late
    session.expunge_all()
    assert (await get_ticket(session, ticket.number)).done_late is late


async def test_only_the_holder_starts_finishes_or_releases(session: AsyncSession) -> None:
    ticket, _ = await _claimed(session)
    stranger = await make_org(session)
    with pytest.raises(NotYourTicket):
        await workflow.start(session, number=ticket.number, organisation=stranger.organisation)
    with pytest.raises(NotYourTicket):
        await workflow.done(session, number=ticket.number, organisation=stranger.organisation)
    with pytest.raises(NotYourTicket):
        await workflow.release(
            session, number=ticket.number, organisation=stranger.organisation, reason="x"
        )
    assert (await get_ticket(session, ticket.number)).status == S.CLAIMED


async def test_done_on_an_unclaimed_ticket_is_refused(session: AsyncSession) -> None:
    org = await make_org(session)
    ticket = await file(session, await resident(session))
    with pytest.raises(NotYourTicket):
        await workflow.done(session, number=ticket.number, organisation=org.organisation)


# --- rating ---------------------------------------------------------------------------------


async def test_rate_closes_with_rating(session: AsyncSession) -> None:
    ticket, org = await _done(session)
    owner_chat = await _resident_of(session, ticket)

    owner = await get_or_create_resident(session, channel="telegram", external_id=owner_chat)
    rated = await workflow.rate(
        session, number=ticket.number, resident=owner, stars=4, now=NOW + 5 * HOUR
    )
    assert rated.status == S.CLOSED
    assert (rated.rating, rated.closed_at) == (4, NOW + 5 * HOUR)
    last = (await events(session, ticket))[-1]
    assert (last.actor, last.from_status, last.to_status, last.note) == (
        f"resident:telegram:{owner_chat}",
        "done",
        "closed",
        "rated 4",
    )
    [told] = await outbox(session, chat=org.chat, key="o_rated")
    assert told.params["stars"] == 4
    # Rating again (a double press, or other stars) changes nothing.
    again = await workflow.rate(session, number=ticket.number, resident=owner, stars=1)
    assert again.rating == 4
    assert len(await events(session, ticket)) == 6
    assert len(await outbox(session, chat=org.chat, key="o_rated")) == 1

    await workflow.comment_rating(session, number=ticket.number, resident=owner, comment="很好")
    await workflow.comment_rating(session, number=ticket.number, resident=owner, comment="改口")
    session.expunge_all()
    stored = await get_ticket(session, ticket.number)
    assert (stored.rating, stored.rating_comment) == (4, "很好")
    note = (await events(session, stored))[-1]
    assert (note.action, note.note, note.from_status, note.to_status) == (
        "note",
        "很好",
        "closed",
        "closed",
    )


@pytest.mark.parametrize("stars", [0, 6, -1])
async def test_rate_out_of_range(session: AsyncSession, stars: int) -> None:
    ticket, _ = await _done(session)

    owner = await session.get(Resident, ticket.resident_id)
    assert owner is not None
    with pytest.raises(ValueError):
        await workflow.rate(session, number=ticket.number, resident=owner, stars=stars)
    assert (await get_ticket(session, ticket.number)).status == S.DONE


async def test_rate_before_done_or_by_another_resident(session: AsyncSession) -> None:
    owner = await resident(session)
    await make_org(session)
    ticket = await file(session, owner)
    with pytest.raises(IllegalTransition):
        await workflow.rate(session, number=ticket.number, resident=owner, stars=5)
    with pytest.raises(IllegalTransition):
        await workflow.comment_rating(session, number=ticket.number, resident=owner, comment="?")
    with pytest.raises(NotYourTicket):
        await workflow.rate(
            session, number=ticket.number, resident=await resident(session), stars=5
        )


async def test_rating_with_comment_at_once(session: AsyncSession) -> None:
    ticket, _ = await _done(session)

    owner = await session.get(Resident, ticket.resident_id)
    assert owner is not None
    rated = await workflow.rate(
        session, number=ticket.number, resident=owner, stars=2, comment="迟到了"
    )
    assert (rated.rating, rated.rating_comment) == (2, "迟到了")


# --- not fixed, release ---------------------------------------------------------------------


async def test_not_fixed_reopens_to_the_same_organisation(session: AsyncSession) -> None:
    ticket, org = await _done(session)
    rival = await make_org(session, communities=None)

    owner = await session.get(Resident, ticket.resident_id)
    assert owner is not None
    reopened = await workflow.not_fixed(
        session, number=ticket.number, resident=owner, note="还在漏", now=NOW + 4 * HOUR
    )
    assert reopened.status == S.REOPENED
    assert reopened.organisation_id == org.id
    assert (reopened.done_at, reopened.done_late) == (None, None)
    last = (await events(session, ticket))[-1]
    assert (last.actor, last.from_status, last.to_status, last.note) == (
        f"resident:telegram:{owner.external_id}",
        "done",
        "reopened",
        "还在漏",
    )
    [back] = await outbox(session, chat=org.chat, key="o_reopened")
    assert back.params["phone"] == PHONE
    assert button_data(back) == [[f"o:claim:{ticket.number}"], [f"o:rel:{ticket.number}"]]
    # Pressing "not fixed" twice is harmless.
    await workflow.not_fixed(session, number=ticket.number, resident=owner)
    assert len(await outbox(session, chat=org.chat, key="o_reopened")) == 1

    # Another organisation cannot take it (never offered it, it is not told who holds
    # it: issue 11, item 5); the one that did it can.
    with pytest.raises(TicketNotFound):
        await workflow.claim(session, number=ticket.number, organisation=rival.organisation)
    again = await workflow.claim(
        session, number=ticket.number, organisation=org.organisation, now=NOW + 5 * HOUR
    )
    assert again.status == S.CLAIMED
    assert again.organisation_id == org.id
    assert transitions(await events(session, ticket))[-1] == (org.actor, "reopened", "claimed")
    # The rival was never offered this ticket, so it hears nothing of it.
    assert await outbox(session, chat=rival.chat, ticket=ticket) == []


async def test_not_fixed_only_after_done(session: AsyncSession) -> None:
    ticket, _ = await _claimed(session)

    owner = await session.get(Resident, ticket.resident_id)
    assert owner is not None
    with pytest.raises(IllegalTransition):
        await workflow.not_fixed(session, number=ticket.number, resident=owner)
    with pytest.raises(NotYourTicket):
        await workflow.not_fixed(session, number=ticket.number, resident=await resident(session))


async def test_release_publishes_again_without_the_releaser(session: AsyncSession) -> None:
    first = await make_org(session, name="first")
    second = await make_org(session, name="second")
    member = await make_staff(session)
    ticket = await file(session, await resident(session))
    resident_chat = await _resident_of(session, ticket)
    await workflow.claim(session, number=ticket.number, organisation=first.organisation, now=NOW)
    released = await workflow.release(
        session,
        number=ticket.number,
        organisation=first.organisation,
        reason="人手不够",
        now=NOW + HOUR,
    )
    assert released.status == S.PUBLISHED
    assert released.organisation_id is None
    assert released.claimed_at is None
    assert released.published_at == NOW + HOUR
    session.expunge_all()
    stored = await get_ticket(session, ticket.number)
    assert (stored.status, stored.organisation_id) == ("published", None)
    last = (await events(session, stored))[-1]
    assert (last.actor, last.from_status, last.to_status, last.note) == (
        first.actor,
        "claimed",
        "published",
        "人手不够",
    )
    assert await offers(session, stored) == [second.id]
    # The releaser's card with the contact became the masked one (issue 11, item 2).
    assert await keys(session, first.chat) == ["o_offer", "o_card_hidden"]
    assert await keys(session, second.chat) == ["o_offer", "o_taken", "o_offer"]
    [staff_told] = await outbox(session, chat=member.chat)
    assert staff_told.message_key == "s_released"
    assert staff_told.params["organisation"] == "first"
    assert staff_told.params["reason"] == "人手不够"
    assert await keys(session, resident_chat) == ["n_claimed", "n_released"]
    # The releaser may not come back, not even with its old card's button ...
    with pytest.raises(NotEligible):
        await workflow.claim(session, number=stored.number, organisation=first.organisation)
    # ... but the other one can claim.
    await workflow.claim(session, number=stored.number, organisation=second.organisation)
    assert (await get_ticket(session, stored.number)).organisation_id == second.id


async def test_release_by_the_only_organisation_asks_staff(session: AsyncSession) -> None:
    ticket, org = await _claimed(session)
    member = await make_staff(session)
    await workflow.start(session, number=ticket.number, organisation=org.organisation)
    await workflow.release(
        session, number=ticket.number, organisation=org.organisation, reason="不会修", now=NOW
    )
    assert await offers(session, ticket) == []
    assert await keys(session, member.chat) == ["s_released", "s_no_match"]
    assert transitions(await events(session, ticket))[-1] == (
        org.actor,
        "in_progress",
        "published",
    )


async def test_release_of_a_reopened_ticket_publishes_it(session: AsyncSession) -> None:
    ticket, org = await _done(session)
    other = await make_org(session, communities=None)

    owner = await session.get(Resident, ticket.resident_id)
    assert owner is not None
    await workflow.not_fixed(session, number=ticket.number, resident=owner)
    await workflow.release(
        session, number=ticket.number, organisation=org.organisation, reason="修不好"
    )
    assert ticket.status == S.PUBLISHED and ticket.organisation_id is None
    assert await offers(session, ticket) == [other.id]
    # The other organisation may claim now.
    await workflow.claim(session, number=ticket.number, organisation=other.organisation)
    assert ticket.organisation_id == other.id


async def test_release_of_a_done_ticket_is_illegal(session: AsyncSession) -> None:
    ticket, org = await _done(session)
    with pytest.raises(IllegalTransition):
        await workflow.release(
            session, number=ticket.number, organisation=org.organisation, reason="x"
        )
    assert (await get_ticket(session, ticket.number)).status == S.DONE


async def test_taking_back_a_reopened_ticket_does_not_retell_the_others(
    session: AsyncSession,
) -> None:
    org = await make_org(session)
    other = await make_org(session)
    owner = await resident(session)
    ticket = await file(session, owner)
    await workflow.claim(session, number=ticket.number, organisation=org.organisation)
    await workflow.done(session, number=ticket.number, organisation=org.organisation)
    await workflow.not_fixed(session, number=ticket.number, resident=owner)
    await workflow.claim(session, number=ticket.number, organisation=org.organisation)
    # The other organisation heard once that the ticket was taken; nothing more.
    assert await keys(session, other.chat) == ["o_offer", "o_taken"]
    # The holder gets the full card again; the resident hears it is taken up again.
    assert await keys(session, org.chat) == ["o_offer", "o_claimed", "o_reopened", "o_claimed"]
    assert await keys(session, owner.external_id) == ["n_claimed", "n_done", "n_claimed"]


async def test_resident_language_choice_and_location_on_the_card(session: AsyncSession) -> None:
    org = await make_org(session)
    owner = await resident(session)
    await set_resident_language(session, owner, language="zh", choice="en")
    ticket = (
        await file_ticket(
            session,
            resident=owner,
            now=NOW,
            request=NewTicket(
                category_code="repair",
                description="leak",
                address=None,
                latitude=31.2051234,
                longitude=121.4351234,
                preferred_time_text=None,
                preferred_time_at=None,
                phone=None,
                photo_path=None,
                language="zh",
                idempotency_key=None,
            ),
        )
    ).ticket
    [offered] = await outbox(session, chat=org.chat)
    assert offered.params["time"] == "-"
    assert "location" not in offered.params
    await workflow.claim(session, number=ticket.number, organisation=org.organisation)
    [card] = await outbox(session, chat=org.chat, key="o_claimed")
    assert card.params["location"] == "31.20512,121.43512"
    assert (card.params["address"], card.params["phone"]) == ("-", "-")
    [told] = await outbox(session, chat=owner.external_id)
    assert told.language == "en"


@pytest.mark.parametrize("stars", [1, 5])
async def test_rate_bounds_close(session: AsyncSession, stars: int) -> None:
    ticket, _ = await _done(session)
    owner = await session.get(Resident, ticket.resident_id)
    assert owner is not None
    rated = await workflow.rate(session, number=ticket.number, resident=owner, stars=stars)
    assert (rated.status, rated.rating) == (S.CLOSED, stars)


@pytest.mark.parametrize("step", ["submitted", "published", "claimed", "in_progress", "reopened"])
async def test_cancel_in_every_state_before_done(session: AsyncSession, step: str) -> None:
    org = await make_org(session, categories=["repair", "policy"])
    owner = await resident(session)
    ticket = await file(session, owner, category="policy" if step == "submitted" else "repair")
    if step in ("claimed", "in_progress", "reopened"):
        await workflow.claim(session, number=ticket.number, organisation=org.organisation)
    if step == "in_progress":
        await workflow.start(session, number=ticket.number, organisation=org.organisation)
    if step == "reopened":
        await workflow.done(session, number=ticket.number, organisation=org.organisation)
        await workflow.not_fixed(session, number=ticket.number, resident=owner)
    assert ticket.status == step
    await workflow.cancel(session, number=ticket.number, resident=owner, now=NOW + HOUR)
    assert transitions(await events(session, ticket))[-1] == (
        f"resident:telegram:{owner.external_id}",
        step,
        "cancelled",
    )
    withdrawn = await outbox(session, chat=org.chat, key="o_withdrawn")
    assert len(withdrawn) == (1 if step in ("claimed", "in_progress", "reopened") else 0)


async def test_residents_without_a_sender_get_no_outbox_rows(session: AsyncSession) -> None:
    org = await make_org(session)
    client = await get_or_create_resident(session, channel="open311", external_id=unique("k"))
    ticket = await file(session, client)
    await workflow.claim(session, number=ticket.number, organisation=org.organisation)
    rows = await session.scalars(
        select(OutboxMessage.message_key).where(OutboxMessage.chat_id == client.external_id)
    )
    assert list(rows) == []
    assert "o_claimed" in await keys(session, org.chat)
