"""The staff queue query: filters, search, attention first, paging, visibility."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services import workflow
from services.queue import QueueQuery, Sort, search_queue, ticket_detail
from tests.services.helpers import (
    HEPING,
    NOW,
    community_id,
    file,
    make_org,
    make_staff,
    resident,
    unique,
)

HOUR = timedelta(hours=1)


async def _numbers(
    session: AsyncSession, query: QueueQuery, now: datetime = NOW + HOUR
) -> list[str]:
    page = await search_queue(session, query, now=now)
    return [row.ticket.number for row in page.rows]


async def test_search_matches_description_and_number_literally(session: AsyncSession) -> None:
    marker = unique("漏水")
    found = await file(session, await resident(session), description=f"{marker} 100%_坏了")
    other = await file(session, await resident(session), description=unique("别的"))
    assert await _numbers(session, QueueQuery(search=marker)) == [found.number]
    assert await _numbers(session, QueueQuery(search=found.number.lower())) == [found.number]
    assert await _numbers(session, QueueQuery(search=f"{marker} 100%_")) == [found.number]
    assert found.number not in await _numbers(session, QueueQuery(search="100%x"))
    assert other.number not in await _numbers(session, QueueQuery(search=marker))


async def test_overdue_and_escalated_come_first(session: AsyncSession) -> None:
    marker = unique("队列")
    old = await file(session, await resident(session), description=f"{marker} old", now=NOW)
    fresh = await file(
        session, await resident(session), description=f"{marker} new", now=NOW + 20 * HOUR
    )
    newest = await file(
        session, await resident(session), description=f"{marker} newest", now=NOW + 21 * HOUR
    )
    at = NOW + 25 * HOUR  # repair: claim SLA 24 h; only `old` is overdue
    query = QueueQuery(search=marker)
    assert await _numbers(session, query, now=at) == [old.number, newest.number, fresh.number]
    page = await search_queue(session, query, now=at)
    assert [row.overdue for row in page.rows] == [True, False, False]
    await workflow.escalate(session, fresh, actor="system", note="by hand", now=at)
    assert await _numbers(session, query, now=at) == [fresh.number, old.number, newest.number]
    assert await _numbers(session, QueueQuery(search=marker, attention_only=True), now=at) == [
        fresh.number,
        old.number,
    ]
    assert await _numbers(session, QueueQuery(search=marker, sort=Sort.OLDEST), now=at) == [
        old.number,
        fresh.number,
        newest.number,
    ]


async def test_filters_and_paging(session: AsyncSession) -> None:
    marker = unique("分页")
    org = await make_org(session)
    tickets = [
        await file(
            session, await resident(session), description=f"{marker} {i}", now=NOW + i * HOUR
        )
        for i in range(5)
    ]
    await workflow.claim(session, number=tickets[0].number, organisation=org.organisation, now=NOW)
    base = QueueQuery(search=marker, sort=Sort.NEWEST, per_page=2)
    first = await search_queue(session, base, now=NOW + HOUR)
    assert (first.total, first.has_next, first.has_previous) == (5, True, False)
    pages = [
        [r.ticket.number for r in (await search_queue(session, replace(base, page=p))).rows]
        for p in (1, 2, 3)
    ]
    assert [n for page in pages for n in page] == [t.number for t in reversed(tickets)]
    assert await _numbers(session, QueueQuery(search=marker, status="claimed")) == [
        tickets[0].number
    ]
    assert await _numbers(session, QueueQuery(search=marker, organisation_id=org.id)) == [
        tickets[0].number
    ]
    assert await _numbers(session, QueueQuery(search=marker, category="elder_care")) == []
    day = (NOW + 8 * HOUR).date()  # 2031-05-06 in Shanghai: all five
    assert (
        len(await _numbers(session, QueueQuery(search=marker, created_from=day, created_to=day)))
        == 5
    )
    assert (
        await _numbers(session, QueueQuery(search=marker, created_from=day + timedelta(days=1)))
        == []
    )


async def test_communities_limit_what_staff_see(session: AsyncSession) -> None:
    marker = unique("社区")
    here = await file(session, await resident(session), description=f"{marker} a")
    there = await file(session, await resident(session), description=f"{marker} b", address=HEPING)
    nowhere = await file(
        session, await resident(session), description=f"{marker} c", address="火星基地1号"
    )
    xingfuli = here.community_id
    assert xingfuli is not None
    seen = await _numbers(session, QueueQuery(search=marker, communities=[xingfuli]))
    assert set(seen) == {here.number, nowhere.number}  # no community: every staff member
    heping = await community_id(session, "和平新村社区")
    assert await _numbers(session, QueueQuery(search=marker, community_id=heping)) == [there.number]


async def test_ticket_detail_names_the_actors(session: AsyncSession) -> None:
    member = await make_staff(session, role="admin")
    org = await make_org(session)
    ticket = await file(session, await resident(session), category="legal_aid")
    await workflow.assign(
        session, number=ticket.number, staff=member.staff, organisation=org.organisation, now=NOW
    )
    detail = await ticket_detail(session, ticket.number, now=NOW)
    assert [(e.actor_kind, e.actor_name, e.event.to_status) for e in detail.timeline] == [
        ("resident", None, "submitted"),
        ("staff", member.staff.name, "published"),
        ("staff", member.staff.name, "claimed"),
    ]
    assert detail.organisation_names[org.id] == org.organisation.name
    assert detail.organisation is not None and detail.organisation.id == org.id
