"""Staff actions (approve, reject, assign, close, merge, escalate) and what residents
do besides rating (cancel, follow, duplicates)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services import workflow
from services.errors import AlreadyHolds, IllegalTransition, NotEligible, NotYourTicket
from services.lifecycle import TicketStatus
from services.models import Resident, TicketFollower
from services.parties import set_organisation_active
from services.tickets import get_ticket
from tests.services.helpers import (
    FENGLIN,
    HEPING,
    NOW,
    PHONE,
    XINGFULI,
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
)

S = TicketStatus
HOUR = timedelta(hours=1)


def actor_of(who: Resident) -> str:
    return f"resident:{who.channel}:{who.external_id}"


# --- approve, reject ------------------------------------------------------------------------


async def test_approve_publishes_and_offers(session: AsyncSession) -> None:
    member = await make_staff(session, communities=["幸福里社区"])
    org = await make_org(session, categories=["policy"])
    ticket = await file(session, await resident(session), category="policy", address=XINGFULI)
    assert ticket.status == S.SUBMITTED
    approved = await workflow.approve(
        session, number=ticket.number, staff=member.staff, now=NOW + HOUR
    )
    assert approved.status == S.PUBLISHED
    assert approved.published_at == NOW + HOUR
    assert transitions(await events(session, ticket))[-1] == (
        member.actor,
        "submitted",
        "published",
    )
    assert await offers(session, ticket) == [org.id]
    [card] = await outbox(session, chat=org.chat)
    assert card.message_key == "o_offer" and "phone" not in card.params
    # Approving twice: nothing more.
    await workflow.approve(session, number=ticket.number, staff=member.staff)
    assert len(await events(session, ticket)) == 2
    assert await keys(session, org.chat) == ["o_offer"]


async def test_reject_with_reason(session: AsyncSession) -> None:
    member = await make_staff(session, communities=["和平新村社区"])
    owner = await resident(session)
    ticket = await file(session, owner, category="legal_aid", address=HEPING)
    rejected = await workflow.reject(
        session, number=ticket.number, staff=member.staff, reason="请直接拨打12348", now=NOW + HOUR
    )
    assert rejected.status == S.REJECTED
    assert rejected.closed_at == NOW + HOUR
    last = (await events(session, ticket))[-1]
    assert (last.actor, last.from_status, last.to_status, last.note) == (
        member.actor,
        "submitted",
        "rejected",
        "请直接拨打12348",
    )
    [told] = await outbox(session, chat=owner.external_id, key="n_rejected")
    assert told.params == {"number": ticket.number, "reason": "请直接拨打12348"}
    # A published ticket cannot be rejected (only closed).
    published = await file(session, owner, category="repair", address=HEPING)
    with pytest.raises(IllegalTransition):
        await workflow.reject(session, number=published.number, staff=member.staff, reason="x")


async def test_staff_of_another_community_may_not_act(session: AsyncSession) -> None:
    outsider = await make_staff(session, communities=["和平新村社区"])
    org = await make_org(session)
    ticket = await file(session, await resident(session), category="policy", address=XINGFULI)
    other = await file(session, await resident(session), category="policy", address=XINGFULI)
    calls = [
        workflow.approve(session, number=ticket.number, staff=outsider.staff),
        workflow.reject(session, number=ticket.number, staff=outsider.staff, reason="x"),
        workflow.assign(
            session, number=ticket.number, staff=outsider.staff, organisation=org.organisation
        ),
        workflow.close(session, number=ticket.number, staff=outsider.staff, reason="x"),
        workflow.merge(session, number=ticket.number, into=other.number, staff=outsider.staff),
    ]
    for call in calls:
        with pytest.raises(NotYourTicket):
            await call
    assert (await get_ticket(session, ticket.number)).status == S.SUBMITTED
    assert len(await events(session, ticket)) == 1


async def test_inactive_staff_may_not_act(session: AsyncSession) -> None:
    admin = await make_staff(session, role="admin", communities=())
    admin.staff.active = False
    await session.flush()
    ticket = await file(session, await resident(session), category="policy")
    with pytest.raises(NotYourTicket):
        await workflow.approve(session, number=ticket.number, staff=admin.staff)


async def test_admin_acts_everywhere(session: AsyncSession) -> None:
    admin = await make_staff(session, role="admin", communities=())
    ticket = await file(session, await resident(session), category="policy", address=FENGLIN)
    await workflow.approve(session, number=ticket.number, staff=admin.staff)
    assert ticket.status == S.PUBLISHED


# --- assign ---------------------------------------------------------------------------------


async def test_assign_from_submitted(session: AsyncSession) -> None:
    member = await make_staff(session)
    org = await make_org(session, categories=["policy"])
    owner = await resident(session)
    ticket = await file(session, owner, category="policy")
    assigned = await workflow.assign(
        session, number=ticket.number, staff=member.staff, organisation=org.organisation, now=NOW
    )
    assert assigned.status == S.CLAIMED
    assert (assigned.organisation_id, assigned.claimed_at, assigned.published_at) == (
        org.id,
        NOW,
        NOW,
    )
    rows = await events(session, ticket)
    assert [(e.actor, e.from_status, e.to_status, e.note) for e in rows[1:]] == [
        (member.actor, "submitted", "published", None),
        (member.actor, "published", "claimed", f"assigned to org:{org.id}"),
    ]
    [card] = await outbox(session, chat=org.chat)
    assert card.message_key == "o_assigned"
    assert card.params["phone"] == PHONE and card.params["address"] == XINGFULI
    assert button_data(card) == [[f"o:start:{ticket.number}"], [f"o:rel:{ticket.number}"]]
    assert await keys(session, owner.external_id) == ["n_claimed"]
    # Assigning again to the same organisation is refused and changes nothing.
    with pytest.raises(AlreadyHolds):
        await workflow.assign(
            session, number=ticket.number, staff=member.staff, organisation=org.organisation
        )
    assert len(await events(session, ticket)) == 3
    # The holder may start it as if it had claimed it.
    await workflow.start(session, number=ticket.number, organisation=org.organisation)
    assert ticket.status == S.IN_PROGRESS


async def test_assign_from_published_tells_the_offered(session: AsyncSession) -> None:
    member = await make_staff(session)
    offered = await make_org(session, name="offered")
    chosen = await make_org(session, name="chosen", categories=["elder_care"])
    ticket = await file(session, await resident(session))
    assert await offers(session, ticket) == [offered.id]
    await workflow.assign(
        session, number=ticket.number, staff=member.staff, organisation=chosen.organisation
    )
    assert ticket.organisation_id == chosen.id
    assert await keys(session, offered.chat) == ["o_offer", "o_taken"]
    assert await keys(session, chosen.chat) == ["o_assigned"]
    assert transitions(await events(session, ticket))[-1] == (
        member.actor,
        "published",
        "claimed",
    )


async def test_assign_refused_for_suspended(session: AsyncSession) -> None:
    # A held ticket is handed on (tests/services/test_workflow_handover.py).
    member = await make_staff(session)
    holder = await make_org(session)
    suspended = await make_org(session)
    await set_organisation_active(session, suspended.organisation, False)
    ticket = await file(session, await resident(session))
    for _ in range(2):  # published, then claimed
        with pytest.raises(NotEligible):
            await workflow.assign(
                session,
                number=ticket.number,
                staff=member.staff,
                organisation=suspended.organisation,
            )
        await workflow.claim(session, number=ticket.number, organisation=holder.organisation)
    assert ticket.organisation_id == holder.id


# --- close, merge, escalate -----------------------------------------------------------------


async def test_close_an_open_ticket(session: AsyncSession) -> None:
    member = await make_staff(session)
    org = await make_org(session)
    owner = await resident(session)
    ticket = await file(session, owner)
    await workflow.claim(session, number=ticket.number, organisation=org.organisation)
    closed = await workflow.close(
        session, number=ticket.number, staff=member.staff, reason="居民已自行解决", now=NOW + HOUR
    )
    assert closed.status == S.CLOSED and closed.closed_at == NOW + HOUR
    last = (await events(session, ticket))[-1]
    assert (last.actor, last.from_status, last.to_status, last.note) == (
        member.actor,
        "claimed",
        "closed",
        "居民已自行解决",
    )
    assert (await keys(session, owner.external_id))[-1] == "n_closed"
    assert (await keys(session, org.chat))[-1] == "o_withdrawn"
    # Closing twice is harmless; a closed ticket goes nowhere.
    await workflow.close(session, number=ticket.number, staff=member.staff, reason="again")
    assert len(await events(session, ticket)) == 4
    with pytest.raises(IllegalTransition):
        await workflow.approve(session, number=ticket.number, staff=member.staff)


async def test_closing_done_work_withdraws_nothing(session: AsyncSession) -> None:
    member = await make_staff(session)
    org = await make_org(session)
    ticket = await file(session, await resident(session))
    await workflow.claim(session, number=ticket.number, organisation=org.organisation)
    await workflow.done(session, number=ticket.number, organisation=org.organisation)
    await workflow.close(session, number=ticket.number, staff=member.staff, reason="已电话确认")
    assert ticket.status == S.CLOSED
    assert "o_withdrawn" not in await keys(session, org.chat)


async def test_close_a_rejected_ticket_is_illegal(session: AsyncSession) -> None:
    member = await make_staff(session)
    ticket = await file(session, await resident(session), category="policy")
    await workflow.reject(session, number=ticket.number, staff=member.staff, reason="no")
    with pytest.raises(IllegalTransition):
        await workflow.close(session, number=ticket.number, staff=member.staff, reason="x")


async def test_merge_moves_resident_and_followers(session: AsyncSession) -> None:
    member = await make_staff(session)
    org = await make_org(session)
    first_owner = await resident(session)
    dup_owner = await resident(session)
    neighbour = await resident(session)
    target = await file(session, first_owner, description="电梯坏了")
    duplicate = await file(session, dup_owner, description="3号楼电梯不动")
    await workflow.follow(session, number=duplicate.number, resident=neighbour)
    await workflow.claim(session, number=duplicate.number, organisation=org.organisation)

    merged = await workflow.merge(
        session, number=duplicate.number, into=target.number, staff=member.staff, now=NOW + HOUR
    )
    assert merged.status == S.MERGED
    assert merged.merged_into_id == target.id
    assert merged.closed_at == NOW + HOUR
    last = (await events(session, duplicate))[-1]
    assert (last.actor, last.from_status, last.to_status, last.note) == (
        member.actor,
        "claimed",
        "merged",
        f"into {target.number}",
    )
    followers = set(
        await session.scalars(
            select(TicketFollower.resident_id).where(TicketFollower.ticket_id == target.id)
        )
    )
    assert followers == {dup_owner.id, neighbour.id}
    followed = [e for e in await events(session, target) if e.action == "followed"]
    assert {e.actor for e in followed} == {actor_of(dup_owner), actor_of(neighbour)}
    for who in (dup_owner, neighbour):
        [told] = await outbox(session, chat=who.external_id, key="n_merged")
        assert told.params == {"number": duplicate.number, "into": target.number}
    assert (await keys(session, org.chat))[-1] == "o_withdrawn"
    # From now on they hear about the target ticket.
    await workflow.claim(session, number=target.number, organisation=org.organisation)
    for who in (first_owner, dup_owner, neighbour):
        assert await keys(session, who.external_id, ticket=target) == ["n_claimed"]
    # Merging again into the same ticket is harmless.
    before = len(await events(session, duplicate))
    merged_told = len(await outbox(session, key="n_merged", ticket=duplicate))
    await workflow.merge(session, number=duplicate.number, into=target.number, staff=member.staff)
    assert len(await events(session, duplicate)) == before
    assert len(await outbox(session, key="n_merged", ticket=duplicate)) == merged_told == 2


async def test_merge_target_must_be_open(session: AsyncSession) -> None:
    member = await make_staff(session)
    owner = await resident(session)
    ticket = await file(session, owner)
    closed = await file(session, owner)
    await workflow.close(session, number=closed.number, staff=member.staff, reason="done")
    with pytest.raises(IllegalTransition):
        await workflow.merge(session, number=ticket.number, into=closed.number, staff=member.staff)
    with pytest.raises(IllegalTransition):
        await workflow.merge(session, number=ticket.number, into=ticket.number, staff=member.staff)
    assert (await get_ticket(session, ticket.number)).status == S.PUBLISHED


async def test_merge_of_own_residents_tickets_adds_no_self_follow(session: AsyncSession) -> None:
    member = await make_staff(session)
    owner = await resident(session)
    target = await file(session, owner)
    duplicate = await file(session, owner)
    await workflow.merge(session, number=duplicate.number, into=target.number, staff=member.staff)
    followers = list(
        await session.scalars(select(TicketFollower).where(TicketFollower.ticket_id == target.id))
    )
    assert followers == []


async def test_escalate_by_hand_once(session: AsyncSession) -> None:
    member = await make_staff(session)
    other = await make_staff(session, communities=["和平新村社区"])
    ticket = await file(session, await resident(session))
    assert await workflow.escalate(
        session, ticket, actor=member.actor, note="居民多次来电", now=NOW + HOUR
    )
    assert ticket.escalated_at == NOW + HOUR
    assert ticket.status == S.PUBLISHED
    [flag] = [e for e in await events(session, ticket) if e.action == "escalated"]
    assert (flag.actor, flag.from_status, flag.to_status, flag.note) == (
        member.actor,
        "published",
        "published",
        "居民多次来电",
    )
    [told] = await outbox(session, chat=member.chat, key="s_escalated")
    assert told.params["reason"] == "居民多次来电"
    assert told.params["organisation"] == "-"
    assert await outbox(session, chat=other.chat) == []
    assert not await workflow.escalate(session, ticket, actor=member.actor, note="again")
    assert len(await outbox(session, chat=member.chat, key="s_escalated")) == 1


# --- residents ------------------------------------------------------------------------------


async def test_cancel_tells_the_holder(session: AsyncSession) -> None:
    org = await make_org(session)
    owner = await resident(session)
    ticket = await file(session, owner)
    await workflow.claim(session, number=ticket.number, organisation=org.organisation)
    await workflow.start(session, number=ticket.number, organisation=org.organisation)
    cancelled = await workflow.cancel(
        session, number=ticket.number, resident=owner, note="不需要了", now=NOW + HOUR
    )
    assert cancelled.status == S.CANCELLED and cancelled.closed_at == NOW + HOUR
    last = (await events(session, ticket))[-1]
    assert (last.actor, last.from_status, last.to_status, last.note) == (
        actor_of(owner),
        "in_progress",
        "cancelled",
        "不需要了",
    )
    [told] = await outbox(session, chat=org.chat, key="o_withdrawn")
    assert told.params == {"number": ticket.number, "status": "cancelled"}
    # Cancel twice: harmless.
    await workflow.cancel(session, number=ticket.number, resident=owner)
    assert len(await outbox(session, chat=org.chat, key="o_withdrawn")) == 1


async def test_cancel_unclaimed_tells_no_organisation(session: AsyncSession) -> None:
    org = await make_org(session)
    owner = await resident(session)
    ticket = await file(session, owner, category="policy")
    await workflow.cancel(session, number=ticket.number, resident=owner)
    assert ticket.status == S.CANCELLED
    assert await outbox(session, chat=org.chat) == []


async def test_cancel_after_done_is_illegal(session: AsyncSession) -> None:
    org = await make_org(session)
    owner = await resident(session)
    ticket = await file(session, owner)
    await workflow.claim(session, number=ticket.number, organisation=org.organisation)
    await workflow.done(session, number=ticket.number, organisation=org.organisation)
    with pytest.raises(IllegalTransition):
        await workflow.cancel(session, number=ticket.number, resident=owner)
    await workflow.rate(session, number=ticket.number, resident=owner, stars=5)
    with pytest.raises(IllegalTransition):
        await workflow.cancel(session, number=ticket.number, resident=owner)
    assert (await get_ticket(session, ticket.number)).status == S.CLOSED


async def test_follow(session: AsyncSession) -> None:
    org = await make_org(session)
    owner = await resident(session)
    neighbour = await resident(session)
    ticket = await file(session, owner)
    await workflow.follow(session, number=ticket.number, resident=neighbour, now=NOW + HOUR)
    await workflow.follow(session, number=ticket.number, resident=neighbour, now=NOW + 2 * HOUR)
    # Following one's own ticket adds nothing.
    await workflow.follow(session, number=ticket.number, resident=owner)
    rows = list(
        await session.scalars(select(TicketFollower).where(TicketFollower.ticket_id == ticket.id))
    )
    assert [(f.resident_id, f.created_at) for f in rows] == [(neighbour.id, NOW + HOUR)]
    followed = [e for e in await events(session, ticket) if e.action == "followed"]
    assert [(e.actor, e.from_status, e.to_status) for e in followed] == [
        (actor_of(neighbour), "published", "published")
    ]
    # The follower hears what happens, but only the owner may rate or reopen.
    await workflow.claim(session, number=ticket.number, organisation=org.organisation)
    await workflow.done(session, number=ticket.number, organisation=org.organisation)
    assert await keys(session, neighbour.external_id) == ["n_claimed", "n_done"]
    [owner_done] = await outbox(session, chat=owner.external_id, key="n_done")
    [neighbour_done] = await outbox(session, chat=neighbour.external_id, key="n_done")
    assert owner_done.buttons and owner_done.reply_kind == "rating_comment"
    assert neighbour_done.buttons == [] and neighbour_done.reply_kind is None
    with pytest.raises(NotYourTicket):
        await workflow.rate(session, number=ticket.number, resident=neighbour, stars=5)
    # A done ticket can no longer be joined.
    with pytest.raises(IllegalTransition):
        await workflow.follow(session, number=ticket.number, resident=await resident(session))


async def test_find_duplicates(session: AsyncSession) -> None:
    owner = await resident(session)
    me = await resident(session)
    recent = await file(session, owner, now=NOW - timedelta(days=2))
    fresh = await file(session, owner, now=NOW - HOUR)
    await file(session, owner, now=NOW - timedelta(days=3, minutes=1))  # too old
    await file(session, owner, category="elder_care", now=NOW - HOUR)  # other category
    await file(session, owner, address="和平新村3号楼", now=NOW - HOUR)  # other community
    await file(session, owner, address="幸福路90弄7号", now=NOW - HOUR)  # other building
    await file(session, me, now=NOW - HOUR)  # my own
    cancelled = await file(session, owner, now=NOW - HOUR)
    await workflow.cancel(session, number=cancelled.number, resident=owner)
    member = await make_staff(session)
    closed = await file(session, owner, now=NOW - HOUR)
    await workflow.close(session, number=closed.number, staff=member.staff, reason="x")

    async def duplicates(
        address: str | None,
        *,
        category: str = "repair",
        pin: tuple[float, float] | None = None,
        limit: int = 3,
    ) -> list[str]:
        found = await workflow.find_duplicates(
            session,
            resident=me,
            category_code=category,
            address=address,
            latitude=pin[0] if pin else None,
            longitude=pin[1] if pin else None,
            now=NOW,
            limit=limit,
        )
        return [t.number for t in found]

    # XINGFULI is 幸福路88弄3号: building 3 of 幸福里.
    assert await duplicates("幸福里3号楼501室") == [fresh.number, recent.number]
    assert await duplicates("幸福里3号楼501室", limit=1) == [fresh.number]
    # Another building of the same community, or no building named: not the same problem.
    assert await duplicates("幸福路12号") == []
    assert await duplicates("幸福里") == []
    assert await duplicates(None, pin=(31.205, 121.435)) == []
    assert await duplicates(None) == []


async def test_find_duplicates_community_wide_for_shared_facilities(
    session: AsyncSession,
) -> None:
    owner = await resident(session)
    me = await resident(session)
    lift = await file(session, owner, category="property", address="幸福路90弄7号")
    await file(session, owner, category="property", address=HEPING)
    found = await workflow.find_duplicates(
        session,
        resident=me,
        category_code="property",
        address=None,
        latitude=31.205,
        longitude=121.435,
        now=NOW,
    )
    assert [t.number for t in found] == [lift.number]


async def test_find_duplicates_includes_submitted_and_held(session: AsyncSession) -> None:
    owner = await resident(session)
    org = await make_org(session, categories=["policy"])
    submitted = await file(session, owner, category="policy", now=NOW - HOUR)
    held = await file(session, owner, category="policy", now=NOW - 2 * HOUR)
    member = await make_staff(session)
    await workflow.assign(
        session, number=held.number, staff=member.staff, organisation=org.organisation
    )
    found = await workflow.find_duplicates(
        session,
        resident=await resident(session),
        category_code="policy",
        address=XINGFULI,
        latitude=None,
        longitude=None,
        now=NOW,
    )
    assert [t.number for t in found] == [submitted.number, held.number]


async def test_ticket_events_oldest_first(session: AsyncSession) -> None:
    org = await make_org(session)
    ticket = await file(session, await resident(session))
    await workflow.claim(session, number=ticket.number, organisation=org.organisation)
    rows = await workflow.ticket_events(session, ticket.number)
    assert [e.to_status for e in rows] == ["submitted", "published", "claimed"]
    assert all(isinstance(e.id, int) for e in rows)
    assert [e.id for e in rows] == sorted(e.id for e in rows)
    assert [e.actor for e in rows][-1] == f"org:{org.id}"


async def test_merge_into_a_ticket_of_another_community_is_not_yours(
    session: AsyncSession,
) -> None:
    local = await make_staff(session, communities=["幸福里社区"])
    ticket = await file(session, await resident(session), address=XINGFULI)
    elsewhere = await file(session, await resident(session), address=HEPING)
    with pytest.raises(NotYourTicket):
        await workflow.merge(
            session, number=ticket.number, into=elsewhere.number, staff=local.staff
        )
    assert (await get_ticket(session, ticket.number)).status == S.PUBLISHED
    assert (
        await session.scalar(
            select(TicketFollower.resident_id).where(TicketFollower.ticket_id == elsewhere.id)
        )
        is None
    )


@pytest.mark.parametrize("step", ["claimed", "in_progress", "reopened"])
async def test_approve_only_from_submitted(session: AsyncSession, step: str) -> None:
    member = await make_staff(session)
    org = await make_org(session)
    owner = await resident(session)
    ticket = await file(session, owner)
    await workflow.claim(session, number=ticket.number, organisation=org.organisation)
    if step == "in_progress":
        await workflow.start(session, number=ticket.number, organisation=org.organisation)
    if step == "reopened":
        await workflow.done(session, number=ticket.number, organisation=org.organisation)
        await workflow.not_fixed(session, number=ticket.number, resident=owner)
    with pytest.raises(IllegalTransition):
        await workflow.approve(session, number=ticket.number, staff=member.staff)
    stored = await get_ticket(session, ticket.number)
    assert (stored.status, stored.organisation_id) == (step, org.id)
