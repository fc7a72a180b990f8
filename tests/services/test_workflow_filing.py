"""Filing a ticket: routing to staff review or to organisations, and the offers they get."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services import workflow
from services.lifecycle import TicketStatus
from services.matching import NEUTRAL_RATING
from services.models import OutboxMessage, Ticket
from services.parties import new_org_link_code, redeem_link_code, set_organisation_active
from tests.services.helpers import (
    HEPING,
    NOW,
    NOWHERE,
    PHONE,
    XINGFULI,
    Org,
    button_data,
    community_id,
    events,
    file,
    keys,
    make_org,
    make_staff,
    offers,
    outbox,
    resident,
)

S = TicketStatus
HOUR = timedelta(hours=1)


async def test_published_ticket_offered_to_matching_organisations_only(
    session: AsyncSession,
) -> None:
    local = await make_org(session, categories=["repair"], communities=["幸福里社区"])
    everywhere = await make_org(session, categories=["repair", "property"], communities=None)
    wrong_category = await make_org(session, categories=["elder_care"], communities=["幸福里社区"])
    wrong_community = await make_org(session, categories=["repair"], communities=["和平新村社区"])
    suspended = await make_org(session, categories=["repair"], communities=["幸福里社区"])
    await set_organisation_active(session, suspended.organisation, False)
    staff = await make_staff(session, role="admin", communities=())

    ticket = await file(session, await resident(session), category="repair", address=XINGFULI)

    assert ticket.status == S.PUBLISHED
    assert ticket.published_at == NOW
    assert ticket.community_id == await community_id(session, "幸福里社区")
    assert set(await offers(session, ticket)) == {local.id, everywhere.id}
    for org in (local, everywhere):
        [card] = await outbox(session, chat=org.chat)
        assert card.message_key == "o_offer"
        assert card.ticket_id == ticket.id
        assert card.language == "zh"
        assert button_data(card) == [[f"o:claim:{ticket.number}"]]
        assert card.params["number"] == ticket.number
        assert card.params["category"] == {"zh": "维修", "en": "Repairs"}
        assert card.params["community"]["zh"] == "幸福里社区"
        assert card.params["description"] == "厨房水管漏水"
        assert card.params["time"] == "明天下午"
        # No contact details before a claim.
        assert not {"phone", "address", "location"} & set(card.params)
        assert PHONE not in str(card.params) and XINGFULI not in str(card.params)
    for org in (wrong_category, wrong_community, suspended):
        assert await outbox(session, chat=org.chat) == []
    # Matched, so staff are not asked to place it.
    assert await outbox(session, chat=staff.chat) == []


async def test_every_linked_chat_of_an_organisation_gets_the_card(session: AsyncSession) -> None:
    org = await make_org(session)
    code = await new_org_link_code(session, org.organisation)
    await redeem_link_code(session, code=code, channel="telegram", chat_id="-100321")
    unlinked = await make_org(session, link=False)
    ticket = await file(session, await resident(session))
    assert await keys(session, org.chat) == ["o_offer"]
    assert await keys(session, "-100321") == ["o_offer"]
    # An organisation without a chat is still offered the ticket (its web page shows it).
    assert set(await offers(session, ticket)) == {org.id, unlinked.id}
    count = await session.scalar(
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.ticket_id == ticket.id, OutboxMessage.message_key == "o_offer")
    )
    assert count == 2


async def test_ticket_without_community_goes_to_all_communities_organisations(
    session: AsyncSession,
) -> None:
    local = await make_org(session, communities=["幸福里社区"])
    everywhere = await make_org(session, communities=None)
    ticket = await file(session, await resident(session), address=NOWHERE)
    assert ticket.community_id is None
    assert await offers(session, ticket) == [everywhere.id]
    assert await outbox(session, chat=local.chat) == []


async def test_offers_ranked_best_first(session: AsyncSession) -> None:
    # Rating first (unrated counts as NEUTRAL_RATING = 4.0), then the lighter open load.
    assert NEUTRAL_RATING == 4.0
    rated_5 = await make_org(session, name="five")
    rated_3 = await make_org(session, name="three")
    unrated_busy = await make_org(session, name="busy")
    unrated_idle = await make_org(session, name="idle")
    owner = await resident(session)

    async def finished(org: Org, stars: int) -> None:
        ticket = await file(session, owner)
        await workflow.claim(session, number=ticket.number, organisation=org.organisation, now=NOW)
        await workflow.done(session, number=ticket.number, organisation=org.organisation, now=NOW)
        await workflow.rate(session, number=ticket.number, resident=owner, stars=stars, now=NOW)

    await finished(rated_5, 5)
    await finished(rated_3, 3)
    busy = await file(session, owner)
    await workflow.claim(
        session, number=busy.number, organisation=unrated_busy.organisation, now=NOW
    )

    ticket = await file(session, owner)
    assert await offers(session, ticket) == [
        rated_5.id,  # 5.0
        unrated_idle.id,  # 4.0, no open tickets
        unrated_busy.id,  # 4.0, one open ticket
        rated_3.id,  # 3.0
    ]


async def test_ticket_needing_review_goes_to_staff(session: AsyncSession) -> None:
    org = await make_org(session, categories=["legal_aid"], communities=None)
    local_staff = await make_staff(session, communities=["和平新村社区"])
    admin = await make_staff(session, role="admin", communities=())
    elsewhere = await make_staff(session, communities=["幸福里社区"])
    ticket = await file(session, await resident(session), category="legal_aid", address=HEPING)
    assert ticket.status == S.SUBMITTED
    assert ticket.published_at is None
    assert await offers(session, ticket) == []
    assert await outbox(session, chat=org.chat) == []
    assert await outbox(session, chat=elsewhere.chat) == []
    for member in (local_staff, admin):
        [card] = await outbox(session, chat=member.chat)
        assert card.message_key == "s_review"
        assert card.ticket_id == ticket.id
        assert button_data(card) == [
            [f"s:ok:{ticket.number}", f"s:rej:{ticket.number}"],
            [f"s:asg:{ticket.number}"],
        ]
        assert "phone" not in card.params
    assert [(e.from_status, e.to_status) for e in await events(session, ticket)] == [
        (None, "submitted")
    ]


async def test_no_matching_organisation_asks_staff(session: AsyncSession) -> None:
    await make_org(session, categories=["repair"], communities=["和平新村社区"])
    member = await make_staff(session, communities=["幸福里社区"])
    ticket = await file(session, await resident(session), category="repair", address=XINGFULI)
    assert ticket.status == S.PUBLISHED
    assert await offers(session, ticket) == []
    [message] = await outbox(session, chat=member.chat)
    assert message.message_key == "s_no_match"
    assert message.ticket_id == ticket.id
    assert button_data(message) == [[f"s:asg:{ticket.number}"]]


async def test_filing_twice_with_a_key_routes_once(session: AsyncSession) -> None:
    org = await make_org(session)
    member = await make_staff(session, role="admin", communities=())
    owner = await resident(session)
    first = await file(session, owner, key="tg:update:501")
    again = await file(session, owner, key="tg:update:501", now=NOW + HOUR)
    assert again.id == first.id
    assert (
        await session.scalar(
            select(func.count()).select_from(Ticket).where(Ticket.resident_id == owner.id)
        )
        == 1
    )
    assert await keys(session, org.chat) == ["o_offer"]
    assert await outbox(session, chat=member.chat) == []
    # Same for a reviewed category: one staff card.
    await file(session, owner, category="policy", key="tg:update:502")
    await file(session, owner, category="policy", key="tg:update:502")
    assert await keys(session, member.chat) == ["s_review"]
