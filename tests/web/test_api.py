"""The JSON API against the real app on SQLite and PostgreSQL (in process, ASGI)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.models import Community, OutboxMessage
from services.parties import Role
from services.tickets import get_ticket
from services.workflow import ticket_events
from tests.web.conftest import ADDRESS, PHONE, Party, file, make_org, make_staff
from web.state import WebState

CONTACT = {"phone", "address", "latitude", "longitude"}
Sessions = async_sessionmaker[AsyncSession]


async def claimed_events(db: Sessions, number: str) -> int:
    async with db() as session:
        events = await ticket_events(session, number)
    return sum(1 for e in events if e.action == "transition" and e.to_status == "claimed")


async def post(
    client: httpx.AsyncClient, number: str, action: str, party: Party, body: object = None
) -> httpx.Response:
    return await client.post(f"/api/tickets/{number}/{action}", headers=party.headers, json=body)


async def community_id(db: Sessions, name_zh: str) -> int:
    async with db() as session:
        found = await session.scalar(select(Community.id).where(Community.name_zh == name_zh))
    assert found is not None
    return found


# --- health -------------------------------------------------------------------------------


async def test_healthz_answers_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


# --- claiming -----------------------------------------------------------------------------


async def test_claim_wins_then_another_organisation_gets_409_naming_the_holder(
    client: httpx.AsyncClient, db: Sessions
) -> None:
    first, second = await make_org(db), await make_org(db)  # both offered the ticket
    number = await file(db)

    won = await post(client, number, "claim", first)
    assert won.status_code == 200, won.text
    ticket = won.json()
    assert ticket["number"] == number
    assert ticket["status"] == "claimed"
    assert ticket["organisation"] == {"id": first.id, "name": first.name}
    assert ticket["category"] == "repair"
    assert ticket["kind"] == "service"
    assert ticket["escalated"] is False
    assert ticket["rating"] is None
    assert ticket["preferred_time"] == "明天下午三点"
    assert ticket["community_id"] == await community_id(db, "幸福里社区")
    for field in ("created_at", "published_at", "claimed_at"):
        assert ticket[field].endswith("Z")
        assert datetime.fromisoformat(ticket[field]).utcoffset() is not None
    assert ticket["done_at"] is None and ticket["closed_at"] is None

    lost = await post(client, number, "claim", second)
    assert lost.status_code == 409
    assert lost.json() == {
        "error": "already_taken",
        "message": f"The ticket is already held by {first.name}.",
        "status": "claimed",
        "holder": first.name,
    }
    assert await claimed_events(db, number) == 1


async def test_winner_claiming_again_gets_the_same_ticket_and_no_new_event(
    client: httpx.AsyncClient, db: Sessions, web: WebState
) -> None:
    number = await file(db)
    organisation = await make_org(db)
    await web.waker.wait(0)  # forget earlier wake-ups

    first = await post(client, number, "claim", organisation)
    assert first.status_code == 200
    assert await web.waker.wait(0) is True  # the change woke the notifier

    again = await post(client, number, "claim", organisation)
    assert again.status_code == 200
    assert again.json() == first.json()
    assert await claimed_events(db, number) == 1
    assert await web.waker.wait(0) is False  # nothing changed, nobody woken


async def test_contact_is_hidden_before_the_claim_and_shown_to_the_holder_only(
    client: httpx.AsyncClient, db: Sessions
) -> None:
    holder, other = await make_org(db), await make_org(db)
    staff = await make_staff(db)
    number = await file(db)

    before = await client.get(f"/api/tickets/{number}", headers=holder.headers)
    assert before.status_code == 200
    assert before.json()["status"] == "published"
    assert CONTACT.isdisjoint(before.json())

    claimed = (await post(client, number, "claim", holder)).json()
    assert claimed["phone"] == PHONE
    assert claimed["address"] == ADDRESS
    assert (claimed["latitude"], claimed["longitude"]) == (31.205, 121.435)

    seen_by_other = await client.get(f"/api/tickets/{number}", headers=other.headers)
    assert seen_by_other.status_code == 200
    assert seen_by_other.json()["organisation"]["name"] == holder.name
    assert CONTACT.isdisjoint(seen_by_other.json())

    seen_by_staff = (await client.get(f"/api/tickets/{number}", headers=staff.headers)).json()
    assert seen_by_staff["phone"] == PHONE

    seen_by_holder = (await client.get(f"/api/tickets/{number}", headers=holder.headers)).json()
    assert seen_by_holder["phone"] == PHONE

    # No outbox message to anyone but the holder carries the phone number either.
    async with db() as session:
        ticket = await get_ticket(session, number)
        messages = list(
            await session.scalars(select(OutboxMessage).where(OutboxMessage.ticket_id == ticket.id))
        )
    with_phone = {m.message_key for m in messages if PHONE in str(m.params)}
    assert with_phone <= {"o_claimed"}


async def test_an_organisation_outside_the_category_is_forbidden(
    client: httpx.AsyncClient, db: Sessions
) -> None:
    number = await file(db, category="repair")
    outsider = await make_org(db, categories=["elder_care"])
    # Answered as for no such ticket (tests/web/test_api_privacy.py).
    response = await post(client, number, "claim", outsider)
    assert response.status_code == 404
    assert response.json()["error"] == "ticket_not_found"
    read = await client.get(f"/api/tickets/{number}", headers=outsider.headers)
    assert read.status_code == 404


async def test_an_organisation_outside_the_community_is_forbidden(
    client: httpx.AsyncClient, db: Sessions
) -> None:
    number = await file(db)  # 幸福里社区
    elsewhere = await make_org(db, communities=[await community_id(db, "枫林苑社区")])
    response = await post(client, number, "claim", elsewhere)
    assert response.status_code == 404
    assert response.json()["error"] == "ticket_not_found"


# --- start, done, release -----------------------------------------------------------------


async def test_start_then_done_with_a_note(client: httpx.AsyncClient, db: Sessions) -> None:
    organisation, other = await make_org(db), await make_org(db)
    number = await file(db)
    assert (await post(client, number, "claim", organisation)).status_code == 200

    started = await post(client, number, "start", organisation)
    assert started.status_code == 200
    assert started.json()["status"] == "in_progress"
    assert started.json()["phone"] == PHONE

    finished = await post(client, number, "done", organisation, body={"note": " 换了阀门 "})
    assert finished.status_code == 200
    assert finished.json()["status"] == "done"
    assert finished.json()["done_at"] is not None
    assert finished.json()["phone"] == PHONE  # done by it: still the holder
    async with db() as session:
        events = await ticket_events(session, number)
    assert events[-1].to_status == "done" and events[-1].note == "换了阀门"

    again = await post(client, number, "done", organisation)
    assert again.status_code == 200 and again.json() == finished.json()

    for action, body in (("start", None), ("release", {"reason": "too late"})):
        late = await post(client, number, action, organisation, body=body)
        assert late.status_code == 409, action
        assert late.json()["error"] == "illegal_transition"
        assert late.json()["status"] == "done"

    taken = await post(client, number, "claim", other)  # offered it: told who has it
    assert taken.status_code == 409
    assert taken.json()["holder"] == organisation.name


async def test_done_straight_from_claimed_without_a_body(
    client: httpx.AsyncClient, db: Sessions
) -> None:
    number = await file(db)
    organisation = await make_org(db)
    await post(client, number, "claim", organisation)
    finished = await post(client, number, "done", organisation)
    assert finished.status_code == 200
    assert finished.json()["status"] == "done"


async def test_start_and_done_by_a_non_holder_are_forbidden(
    client: httpx.AsyncClient, db: Sessions
) -> None:
    holder, other = await make_org(db), await make_org(db)
    number = await file(db)
    for action in ("start", "done"):
        response = await post(client, number, action, holder)  # not claimed yet
        assert response.status_code == 403, action
        assert response.json()["error"] == "not_your_ticket"
    await post(client, number, "claim", holder)
    response = await post(client, number, "release", other, body={"reason": "not ours"})
    assert response.status_code == 403


async def test_release_publishes_the_ticket_again_and_hides_the_contact(
    client: httpx.AsyncClient, db: Sessions
) -> None:
    number = await file(db)
    organisation, next_one = await make_org(db), await make_org(db)
    await post(client, number, "claim", organisation)
    await post(client, number, "start", organisation)

    released = await post(client, number, "release", organisation, body={"reason": "no plumber"})
    assert released.status_code == 200
    body = released.json()
    assert body["status"] == "published"
    assert body["organisation"] is None and body["claimed_at"] is None
    assert CONTACT.isdisjoint(body)
    async with db() as session:
        events = await ticket_events(session, number)
    assert (events[-1].to_status, events[-1].note) == ("published", "no plumber")

    again = await post(client, number, "release", organisation, body={"reason": "no plumber"})
    assert again.status_code == 403  # not its ticket any more

    taken = await post(client, number, "claim", next_one)
    assert taken.status_code == 200
    assert taken.json()["organisation"]["id"] == next_one.id


async def test_release_needs_a_reason(client: httpx.AsyncClient, db: Sessions) -> None:
    number = await file(db)
    organisation = await make_org(db)
    await post(client, number, "claim", organisation)
    url = f"/api/tickets/{number}/release"
    missing = await client.post(url, headers=organisation.headers)
    assert missing.status_code == 422
    assert missing.json()["problems"] == [{"where": "body", "problem": "Field required"}]
    bad_json: list[object] = [
        {},
        {"reason": "   "},
        {"reason": None},
        {"reason": 42},
        {"reason": ["a"]},
        {"reason": "x" * 2001},
        {"reason": "bad\x00byte"},
        ["reason"],
        "reason",
    ]
    cases: list[tuple[bytes, str]] = [
        *((json.dumps(body).encode(), "application/json") for body in bad_json),
        (b"", "application/json"),
        (b"reason=busy", "text/plain"),
        (b"reason=busy", "application/x-www-form-urlencoded"),
        (b'{"reason": "busy"', "application/json"),
        (b"\xff\xfe\x00", "application/json"),
    ]
    for content, content_type in cases:
        response = await client.post(
            url, headers={**organisation.headers, "Content-Type": content_type}, content=content
        )
        assert response.status_code in (400, 422), (content[:40], response.text)
        assert response.json()["error"] in ("invalid_request", "bad_request"), response.text
        assert response.json()["message"]
    async with db() as session:
        assert (await get_ticket(session, number)).status == "claimed"


async def test_huge_bodies_are_refused(client: httpx.AsyncClient, db: Sessions) -> None:
    number = await file(db)
    organisation = await make_org(db)
    await post(client, number, "claim", organisation)
    huge = b'{"reason": "' + b"x" * (1024 * 1024) + b'"}'
    response = await client.post(
        f"/api/tickets/{number}/release",
        headers={**organisation.headers, "Content-Type": "application/json"},
        content=huge,
    )
    assert response.status_code == 413
    assert response.json()["error"] == "body_too_large"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while read
        for _ in range(64):
            yield b"x" * 16384

    streamed = await client.post(
        f"/api/tickets/{number}/done",
        headers={**organisation.headers, "Content-Type": "application/json"},
        content=chunks(),
    )
    assert streamed.status_code == 413
    assert streamed.json()["error"] == "body_too_large"
    async with db() as session:
        assert (await get_ticket(session, number)).status == "claimed"


# --- staff --------------------------------------------------------------------------------


async def test_staff_approve_a_submitted_ticket(client: httpx.AsyncClient, db: Sessions) -> None:
    number = await file(db, category="legal_aid")  # needs review
    staff = await make_staff(db)
    organisation = await make_org(db)

    refused = await post(client, number, "claim", organisation)
    assert refused.status_code == 404  # awaiting review: not for organisations to know yet
    assert refused.json()["error"] == "ticket_not_found"

    approved = await post(client, number, "approve", staff)
    assert approved.status_code == 200
    assert approved.json()["status"] == "published"
    assert approved.json()["phone"] == PHONE  # staff see the contact
    again = await post(client, number, "approve", staff)
    assert again.status_code == 200 and again.json()["status"] == "published"

    assert (await post(client, number, "claim", organisation)).status_code == 200
    late = await post(client, number, "approve", staff)
    assert late.status_code == 409
    assert late.json()["status"] == "claimed"
    async with db() as session:
        ticket = await get_ticket(session, number)
    assert (ticket.status, ticket.organisation_id) == ("claimed", organisation.id)


async def test_staff_reject_with_a_reason(client: httpx.AsyncClient, db: Sessions) -> None:
    number = await file(db, category="legal_aid")
    staff = await make_staff(db)
    missing = await post(client, number, "reject", staff, body={})
    assert missing.status_code == 422
    rejected = await post(client, number, "reject", staff, body={"reason": "not a legal matter"})
    assert rejected.status_code == 200
    assert rejected.json()["status"] == "rejected"
    assert rejected.json()["closed_at"] is not None

    published = await file(db)
    late = await post(client, published, "reject", staff, body={"reason": "no"})
    assert late.status_code == 409
    assert late.json() == {
        "error": "illegal_transition",
        "message": "The ticket is published; it cannot move to rejected.",
        "status": "published",
    }


async def test_staff_assign_to_an_organisation(client: httpx.AsyncClient, db: Sessions) -> None:
    number = await file(db, category="legal_aid")
    staff = await make_staff(db)
    organisation = await make_org(db, categories=["elder_care"])  # staff may override

    for body in ({}, {"organisation_id": "1"}, {"organisation_id": 0}, {"organisation_id": 2**40}):
        invalid = await post(client, number, "assign", staff, body=body)
        assert invalid.status_code == 422, body
    unknown = await post(client, number, "assign", staff, body={"organisation_id": 2**31 - 1})
    assert unknown.status_code == 422
    assert unknown.json()["error"] == "unknown_organisation"

    assigned = await post(
        client, number, "assign", staff, body={"organisation_id": organisation.id}
    )
    assert assigned.status_code == 200
    assert assigned.json()["status"] == "claimed"
    assert assigned.json()["organisation"] == {"id": organisation.id, "name": organisation.name}
    assert assigned.json()["phone"] == PHONE

    started = await post(client, number, "start", organisation)
    assert started.status_code == 200 and started.json()["phone"] == PHONE

    # A ticket in progress is handed on (tests/web/test_api_handover.py): claimed again.
    other = await make_org(db)
    handed = await post(client, number, "assign", staff, body={"organisation_id": other.id})
    assert handed.status_code == 200
    assert handed.json()["status"] == "claimed"
    assert handed.json()["organisation"] == {"id": other.id, "name": other.name}


async def test_staff_of_another_community_are_forbidden(
    client: httpx.AsyncClient, db: Sessions
) -> None:
    number = await file(db, category="legal_aid")  # 幸福里社区
    elsewhere = await make_staff(
        db, role=Role.STAFF, communities=[await community_id(db, "枫林苑社区")]
    )
    response = await post(client, number, "approve", elsewhere)
    assert response.status_code == 403
    assert response.json()["error"] == "not_your_ticket"
    here = await make_staff(db, role=Role.STAFF, communities=[await community_id(db, "幸福里社区")])
    assert (await post(client, number, "approve", here)).status_code == 200


# --- authentication and unknown tickets ---------------------------------------------------


async def test_missing_malformed_and_unknown_tokens_are_401(
    client: httpx.AsyncClient, db: Sessions
) -> None:
    number = await file(db)
    for headers in (
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer    "},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Token abc"},
    ):
        for action in ("claim", "approve"):
            response = await client.post(f"/api/tickets/{number}/{action}", headers=headers)
            assert response.status_code == 401, (headers, action)
            assert response.json()["error"] == "missing_token"
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
    for token in (b"nope", b"x" * 5000, "é-ü".encode()):
        for action in ("claim", "approve"):
            response = await client.post(
                f"/api/tickets/{number}/{action}", headers=[(b"Authorization", b"Bearer " + token)]
            )
            assert response.status_code == 401
            assert response.json()["error"] == "invalid_token"
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
    async with db() as session:
        assert (await get_ticket(session, number)).status == "published"


async def test_a_token_of_the_other_kind_is_403(client: httpx.AsyncClient, db: Sessions) -> None:
    number = await file(db)
    organisation, staff = await make_org(db), await make_staff(db)
    as_staff = await post(client, number, "approve", organisation)
    assert as_staff.status_code == 403
    assert as_staff.json()["error"] == "wrong_token_kind"
    as_org = await post(client, number, "claim", staff)
    assert as_org.status_code == 403
    assert as_org.json()["error"] == "wrong_token_kind"


async def test_unknown_tickets_are_404(client: httpx.AsyncClient, db: Sessions) -> None:
    organisation, staff = await make_org(db), await make_staff(db)
    for number in ("RO-991231-9999", "nope", "RO-1-1", "%00", "RO-991231-0001%20", "票"):
        for party, action in ((organisation, "claim"), (staff, "approve")):
            response = await post(client, number, action, party)
            assert response.status_code == 404, (number, action)
            # A NUL in the path is refused at the edge (web/edge.py), before any route.
            expected = "not_found" if number == "%00" else "ticket_not_found"
            assert response.json()["error"] == expected
        assert (
            await client.get(f"/api/tickets/{number}", headers=staff.headers)
        ).status_code == 404


async def test_unknown_routes_and_methods_answer_json(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/nothing")
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    wrong = await client.get("/api/tickets/RO-991231-0001/claim")
    assert wrong.status_code == 405
    assert wrong.json()["error"] == "method_not_allowed"
