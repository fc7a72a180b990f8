"""Staff hand a claimed or in-progress ticket on through the JSON API, and list the
organisations to choose from (issue 11, item 13), on SQLite and PostgreSQL."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.models import Community
from services.parties import Role, get_organisation, set_organisation_active
from services.workflow import ticket_events
from tests.web.conftest import PHONE, Party, file, make_org, make_staff
from web.state import WebState

CONTACT = {"phone", "address", "latitude", "longitude"}
Sessions = async_sessionmaker[AsyncSession]


async def post(
    client: httpx.AsyncClient, number: str, action: str, party: Party, body: object = None
) -> httpx.Response:
    return await client.post(f"/api/tickets/{number}/{action}", headers=party.headers, json=body)


async def read(client: httpx.AsyncClient, number: str, party: Party) -> httpx.Response:
    return await client.get(f"/api/tickets/{number}", headers=party.headers)


async def test_staff_hand_a_claimed_ticket_to_another_organisation(
    client: httpx.AsyncClient, db: Sessions, web: WebState
) -> None:
    number = await file(db)
    old, new = await make_org(db), await make_org(db)
    staff = await make_staff(db)
    assert (await post(client, number, "claim", old)).status_code == 200
    assert (await read(client, number, old)).json()["phone"] == PHONE
    await web.waker.wait(0)  # forget earlier wake-ups

    handed = await post(
        client,
        number,
        "assign",
        staff,
        body={"organisation_id": new.id, "note": "  居民要求换一家  "},
    )
    assert handed.status_code == 200, handed.text
    ticket = handed.json()
    # The same shape as GET, for staff (with the contact).
    assert ticket == (await read(client, number, staff)).json()
    assert ticket["status"] == "claimed"
    assert ticket["organisation"] == {"id": new.id, "name": new.name}
    assert ticket["phone"] == PHONE
    assert await web.waker.wait(0) is True  # the notifier is woken for the notices

    # The new holder sees the contact; the old one no longer does.
    assert (await read(client, number, new)).json()["phone"] == PHONE
    seen_by_old = await read(client, number, old)
    if seen_by_old.status_code == 200:
        assert CONTACT.isdisjoint(seen_by_old.json())
    else:
        assert seen_by_old.status_code in (403, 404)
    refused = await post(client, number, "start", old)
    assert refused.status_code == 403
    assert (await post(client, number, "start", new)).status_code == 200

    async with db() as session:
        [event] = [e for e in await ticket_events(session, number) if e.action == "reassigned"]
    assert event.actor == f"staff:{staff.id}"
    assert (event.from_status, event.to_status) == ("claimed", "claimed")
    assert event.note == f"from org:{old.id} to org:{new.id}: 居民要求换一家"


async def test_a_ticket_in_progress_is_claimed_again_by_the_new_holder(
    client: httpx.AsyncClient, db: Sessions
) -> None:
    number = await file(db)
    old, new = await make_org(db), await make_org(db)
    staff = await make_staff(db)
    await post(client, number, "claim", old)
    assert (await post(client, number, "start", old)).json()["status"] == "in_progress"
    handed = await post(client, number, "assign", staff, body={"organisation_id": new.id})
    assert handed.status_code == 200
    assert handed.json()["status"] == "claimed"
    assert handed.json()["organisation"]["id"] == new.id
    done = await post(client, number, "done", new)
    assert done.json()["status"] == "done"


async def test_assigning_to_the_holder_a_suspended_or_unknown_organisation_is_refused(
    client: httpx.AsyncClient, db: Sessions
) -> None:
    number = await file(db)
    holder, suspended = await make_org(db), await make_org(db)
    staff = await make_staff(db)
    async with db() as session, session.begin():
        await set_organisation_active(session, await get_organisation(session, suspended.id), False)
    await post(client, number, "claim", holder)

    same = await post(client, number, "assign", staff, body={"organisation_id": holder.id})
    assert same.status_code == 409
    assert same.json() == {
        "error": "already_holder",
        "message": f"The organisation {holder.id} already holds the ticket.",
        "status": "claimed",
        "holder": holder.name,
    }
    off = await post(client, number, "assign", staff, body={"organisation_id": suspended.id})
    assert off.status_code == 422
    assert off.json() == {
        "error": "organisation_suspended",
        "message": f"The organisation {suspended.id} is suspended.",
    }
    unknown = await post(client, number, "assign", staff, body={"organisation_id": 2**31 - 1})
    assert (unknown.status_code, unknown.json()["error"]) == (422, "unknown_organisation")
    for body in (
        {"organisation_id": holder.id, "note": "x" * 2001},
        {"organisation_id": holder.id, "note": 5},
    ):
        invalid = await post(client, number, "assign", staff, body=body)
        assert (invalid.status_code, invalid.json()["error"]) == (422, "invalid_request"), body
    # NUL is refused at the edge (400 bad_characters) or by the body's validator (422).
    nul = await post(client, number, "assign", staff, body={"organisation_id": 1, "note": "a\x00"})
    assert nul.status_code in (400, 422) and "error" in nul.json()
    # Nothing changed.
    now = (await read(client, number, staff)).json()
    assert (now["status"], now["organisation"]["id"]) == ("claimed", holder.id)


async def test_done_tickets_and_other_communities_are_refused(
    client: httpx.AsyncClient, db: Sessions
) -> None:
    number = await file(db)
    holder, other = await make_org(db), await make_org(db)
    await post(client, number, "claim", holder)
    async with db() as session:
        elsewhere = await session.scalar(
            select(Community.id).where(Community.name_zh == "和平新村社区")
        )
    assert elsewhere is not None
    outsider = await make_staff(db, role=Role.STAFF, communities=[elsewhere])
    forbidden = await post(client, number, "assign", outsider, body={"organisation_id": other.id})
    assert forbidden.status_code == 403
    await post(client, number, "done", holder)
    staff = await make_staff(db)
    late = await post(client, number, "assign", staff, body={"organisation_id": other.id})
    assert late.status_code == 409
    assert late.json()["error"] == "illegal_transition"
    assert late.json()["status"] == "done"


async def test_organisations_are_listed_for_staff_only(
    client: httpx.AsyncClient, db: Sessions
) -> None:
    async with db() as session:
        community = await session.scalar(
            select(Community.id).where(Community.name_zh == "幸福里社区")
        )
    assert community is not None
    everywhere = await make_org(db, categories=("repair", "legal_aid"))
    local = await make_org(db, categories=("elder_care",), communities=[community])
    suspended = await make_org(db, categories=("repair",))
    async with db() as session, session.begin():
        await set_organisation_active(session, await get_organisation(session, suspended.id), False)
    staff = await make_staff(db, role=Role.STAFF, communities=[community])

    listed = await client.get("/api/organisations", headers=staff.headers)
    assert listed.status_code == 200
    by_id = {o["id"]: o for o in listed.json()}
    assert by_id[everywhere.id] == {
        "id": everywhere.id,
        "name": everywhere.name,
        "categories": ["legal_aid", "repair"],
        "communities": [],
        "all_communities": True,
        "active": True,
    }
    assert by_id[local.id]["communities"] == [community]
    assert by_id[local.id]["all_communities"] is False
    assert by_id[suspended.id]["active"] is False
    assert [o["name"] for o in listed.json()] == sorted(o["name"] for o in listed.json())

    as_org = await client.get("/api/organisations", headers=everywhere.headers)
    assert as_org.status_code == 403
    assert as_org.json()["error"] == "wrong_token_kind"
    anonymous = await client.get("/api/organisations")
    assert (anonymous.status_code, anonymous.json()["error"]) == (401, "missing_token")
    wrong = await client.get("/api/organisations", headers={"Authorization": "Bearer nope"})
    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_token")
