"""Rule 1 of issue 11 in the services layer: what organisations before the claim, old
holders and neighbours who joined a ticket are told of a resident's words (masked or
nothing), and which organisations may know of a ticket at all."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from services import matching, workflow
from services.errors import AlreadyTaken, NotEligible, TicketNotFound
from services.models import OutboxMessage, Resident
from services.notify import EDIT_PARAM
from services.outbox import mark_sent
from services.tickets import get_or_create_resident
from tests.services.helpers import (
    NOW,
    XINGFULI,
    file,
    make_org,
    make_staff,
    outbox,
    params,
    resident,
    unique,
)

HOUR = timedelta(hours=1)
WORDS = "我住3栋2单元501室，电话13812345678"
SECRETS = ("501", "13812345678")
MASKED = ("3栋2单元***室", "138****5678")


def shows_nothing_secret(message: OutboxMessage) -> bool:
    text = str(message.params)
    return not any(secret in text for secret in SECRETS) and not {
        "phone",
        "address",
        "location",
    } & set(message.params)


# --- the offer card -----------------------------------------------------------------------


async def test_offered_organisations_get_the_description_masked(session: AsyncSession) -> None:
    first, second = await make_org(session), await make_org(session)
    await file(session, await resident(session), description=WORDS)

    for org in (first, second):
        [card] = await outbox(session, chat=org.chat, key="o_offer")
        assert all(part in params(card)["description"] for part in MASKED)
        assert shows_nothing_secret(card)


async def test_the_claimer_then_gets_the_full_words_and_the_contact(
    session: AsyncSession,
) -> None:
    org = await make_org(session)
    ticket = await file(session, await resident(session), description=WORDS)
    await workflow.claim(session, number=ticket.number, organisation=org.organisation, now=NOW)
    [card] = await outbox(session, chat=org.chat, key="o_claimed")
    assert params(card)["description"] == WORDS
    assert params(card)["phone"] == ticket.phone


async def test_staff_cards_keep_the_full_words(session: AsyncSession) -> None:
    staff = await make_staff(session)
    ticket = await file(session, await resident(session), category="legal_aid", description=WORDS)
    [card] = await outbox(session, chat=staff.chat, key="s_review", ticket=ticket)
    assert params(card)["description"] == WORDS


async def test_a_release_turns_the_old_holders_sent_card_into_the_masked_one(
    session: AsyncSession,
) -> None:
    org, other = await make_org(session), await make_org(session)
    ticket = await file(session, await resident(session), description=WORDS)
    await workflow.claim(session, number=ticket.number, organisation=org.organisation, now=NOW)
    [card] = await outbox(session, chat=org.chat, key="o_claimed")
    await mark_sent(session, card.id, sent_message_id="4242", now=NOW)
    await session.refresh(card)  # as a later request (another session) would read it

    await workflow.release(
        session,
        number=ticket.number,
        organisation=org.organisation,
        reason="reason_busy",
        now=NOW + HOUR,
    )

    await session.refresh(card)
    assert card.message_key == "o_card_hidden" and card.buttons == []
    assert shows_nothing_secret(card)
    [edit] = [
        m
        for m in await outbox(session, chat=org.chat, key="o_card_hidden")
        if EDIT_PARAM in m.params
    ]
    assert edit.params[EDIT_PARAM] == "4242" and edit.state == "pending"
    assert shows_nothing_secret(edit)
    assert all(part in params(edit)["description"] for part in MASKED)
    # The next organisation is offered it masked, as before any claim.
    offered = (await outbox(session, chat=other.chat, key="o_offer"))[-1]
    assert shows_nothing_secret(offered)


async def test_a_card_not_sent_yet_is_sent_masked_after_a_release(session: AsyncSession) -> None:
    org = await make_org(session)
    ticket = await file(session, await resident(session), description=WORDS)
    await workflow.claim(session, number=ticket.number, organisation=org.organisation, now=NOW)
    await workflow.release(
        session, number=ticket.number, organisation=org.organisation, reason="reason_far", now=NOW
    )
    cards = await outbox(session, chat=org.chat, ticket=ticket)
    assert [m.message_key for m in cards if m.message_key.startswith("o_c")] == ["o_card_hidden"]
    assert all(shows_nothing_secret(m) for m in cards)


# --- who may know of a ticket -------------------------------------------------------------


async def test_an_organisation_of_another_category_is_told_there_is_no_such_ticket(
    session: AsyncSession,
) -> None:
    holder = await make_org(session)
    outsider = await make_org(session, categories=["legal_aid"])
    ticket = await file(session, await resident(session))
    await workflow.claim(session, number=ticket.number, organisation=holder.organisation, now=NOW)

    with pytest.raises(TicketNotFound) as refused:
        await workflow.claim(session, number=ticket.number, organisation=outsider.organisation)
    assert holder.organisation.name not in str(refused.value)
    assert not await matching.may_see(session, outsider.organisation, ticket)


async def test_a_ticket_awaiting_review_is_nobodys_business_but_staffs(
    session: AsyncSession,
) -> None:
    lawyers = await make_org(session, categories=["legal_aid"])
    ticket = await file(session, await resident(session), category="legal_aid")
    assert ticket.status == "submitted"
    assert not await matching.may_see(session, lawyers.organisation, ticket)
    with pytest.raises(TicketNotFound):
        await workflow.claim(session, number=ticket.number, organisation=lawyers.organisation)


async def test_offered_organisations_still_lose_the_race_with_the_holders_name(
    session: AsyncSession,
) -> None:
    winner, loser = await make_org(session), await make_org(session)
    ticket = await file(session, await resident(session))
    await workflow.claim(session, number=ticket.number, organisation=winner.organisation, now=NOW)
    assert await matching.may_see(session, loser.organisation, ticket)
    with pytest.raises(AlreadyTaken) as lost:
        await workflow.claim(session, number=ticket.number, organisation=loser.organisation)
    assert lost.value.holder == winner.organisation.name


async def test_an_old_holder_may_still_read_it_masked_but_not_claim_it_back(
    session: AsyncSession,
) -> None:
    org = await make_org(session)
    ticket = await file(session, await resident(session), description=WORDS)
    await workflow.claim(session, number=ticket.number, organisation=org.organisation, now=NOW)
    assert matching.sees_full_text(org.organisation, ticket)
    await workflow.release(
        session, number=ticket.number, organisation=org.organisation, reason="reason_far", now=NOW
    )
    assert await matching.may_see(session, org.organisation, ticket)
    assert not matching.sees_full_text(org.organisation, ticket)
    with pytest.raises(NotEligible):
        await workflow.claim(session, number=ticket.number, organisation=org.organisation)


async def test_an_organisation_joining_later_sees_published_tickets_but_not_taken_ones(
    session: AsyncSession,
) -> None:
    holder = await make_org(session)
    open_ticket = await file(session, await resident(session))
    taken = await file(session, await resident(session), address=XINGFULI + "2单元")
    await workflow.claim(session, number=taken.number, organisation=holder.organisation, now=NOW)
    newcomer = await make_org(session)
    assert await matching.may_see(session, newcomer.organisation, open_ticket)
    assert not await matching.may_see(session, newcomer.organisation, taken)


async def test_a_staff_note_naming_an_organisation_does_not_make_it_an_old_holder(
    session: AsyncSession,
) -> None:
    # Who held a ticket is recorded by the workflow, never read back from a note,
    # which staff write freely.
    staff = await make_staff(session)
    first, second = await make_org(session), await make_org(session)
    outsider = await make_org(session, categories=["legal_aid"])
    ticket = await file(session, await resident(session), description=WORDS)
    spoof = f"from org:{first.organisation.id} to org:{outsider.organisation.id}"
    await workflow.assign(
        session,
        number=ticket.number,
        staff=staff.staff,
        organisation=first.organisation,
        note=f"assigned to org:{outsider.organisation.id}; {spoof}: see",
        now=NOW,
    )
    await workflow.assign(
        session,
        number=ticket.number,
        staff=staff.staff,
        organisation=second.organisation,
        note=spoof + ": x",
        now=NOW,
    )
    assert await matching.may_see(session, first.organisation, ticket)
    assert await matching.may_see(session, second.organisation, ticket)
    assert not await matching.may_see(session, outsider.organisation, ticket)


# --- neighbours who joined ----------------------------------------------------------------


async def _neighbour(session: AsyncSession) -> Resident:
    return await get_or_create_resident(session, channel="web", external_id=unique("neighbour"))


async def test_a_follower_hears_the_progress_but_never_words_or_contact(
    session: AsyncSession,
) -> None:
    org = await make_org(session)
    ticket = await file(session, await resident(session), description=WORDS)
    neighbour = await _neighbour(session)
    await workflow.follow(session, number=ticket.number, resident=neighbour, now=NOW)
    await workflow.claim(session, number=ticket.number, organisation=org.organisation, now=NOW)
    await workflow.done(
        session,
        number=ticket.number,
        organisation=org.organisation,
        note="已联系501室，电话13812345678的住户，换了阀门",
        now=NOW + HOUR,
    )

    told = await outbox(session, chat=neighbour.external_id, ticket=ticket)
    assert [m.message_key for m in told] == ["n_claimed", "n_done"]
    assert all(shows_nothing_secret(m) for m in told)
    assert all(m.buttons == [] and m.reply_kind is None for m in told)
    assert told[1].params["note"] == "-"  # nobody's words, the organisation's neither
    # The resident who filed it reads the note as the organisation wrote it.
    owner = await session.get(Resident, ticket.resident_id)
    assert owner is not None
    [done] = await outbox(session, chat=owner.external_id, key="n_done")
    assert "13812345678" in done.params["note"]
