"""Staff act on emergency and hand-off tickets through the JSON API (issue 12):
acknowledge, called-back, help-arrived, resolve, hand-to-organisation; on SQLite and
PostgreSQL, errors in the API's one shape."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.alerts import AlertKind, record_alert
from services.models import Community, OutboxMessage, Ticket
from services.parties import Role
from services.tickets import get_or_create_resident, get_ticket
from services.workflow import ticket_events
from tests.web.conftest import ADDRESS, PHONE, Party, make_org, make_staff, unique
from web.state import WebState

Sessions = async_sessionmaker[AsyncSession]


async def alert(db: Sessions, kind: AlertKind = AlertKind.EMERGENCY) -> tuple[str, str]:
    """An alert ticket as the dialogue files it; (number, resident's chat id)."""
    async with db() as session, session.begin():
        resident = await get_or_create_resident(
            session, channel="cli", external_id=unique("resident")
        )
        ticket = await record_alert(
            session,
            resident=resident,
            kind=kind,
            description="家里有很重的煤气味",
            language="zh",
            idempotency_key=None,
        )
        ticket.address, ticket.phone = ADDRESS, PHONE
        return ticket.number, resident.external_id


async def post(
    client: httpx.AsyncClient, number: str, action: str, party: Party, body: object = None
) -> httpx.Response:
    return await client.post(f"/api/tickets/{number}/{action}", headers=party.headers, json=body)


async def told(db: Sessions, chat: str) -> list[str]:
    async with db() as session:
        rows = await session.scalars(
            select(OutboxMessage.message_key)
            .where(OutboxMessage.chat_id == chat)
            .order_by(OutboxMessage.id)
        )
        return list(rows)


async def test_acknowledge_then_resolve(
    client: httpx.AsyncClient, db: Sessions, web: WebState
) -> None:
    number, chat = await alert(db)
    staff = await make_staff(db)
    await web.waker.wait(0)

    answer = await post(client, number, "acknowledge", staff)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["kind"], body["status"]) == ("emergency", "submitted")
    assert body["acknowledged_at"] is not None
    assert body["phone"] == PHONE  # staff read the contact
    assert await web.waker.wait(0) is True
    assert (await told(db, chat))[-1] == "n_alert_acknowledged_emergency"
    # Again: the same ticket, nothing new.
    again = await post(client, number, "acknowledge", staff)
    assert again.status_code == 200 and again.json() == body

    noted = await post(client, number, "called-back", staff, {"note": "  已回电，居民安全  "})
    assert noted.status_code == 200, noted.text
    assert (await post(client, number, "help-arrived", staff)).status_code == 200

    resolved = await post(client, number, "resolve", staff, {"note": "燃气公司已关阀"})
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["status"] == "closed"
    assert resolved.json()["closed_at"] is not None
    assert (await told(db, chat))[-1] == "n_alert_resolved_emergency"

    async with db() as session:
        history = [(e.action, e.actor, e.note) for e in await ticket_events(session, number)]
    actor = f"staff:{staff.id}"
    assert history[1:] == [
        ("acknowledged", actor, None),
        ("called_back", actor, "已回电，居民安全"),
        ("help_arrived", actor, None),
        ("transition", actor, "燃气公司已关阀"),
    ]
    # After the end: 409 in the one error shape.
    late = await post(client, number, "called-back", staff)
    assert late.status_code == 409
    assert late.json()["error"] == "illegal_transition" and late.json()["status"] == "closed"


async def test_hand_to_organisation(client: httpx.AsyncClient, db: Sessions) -> None:
    number, chat = await alert(db, AlertKind.HANDOFF)
    staff = await make_staff(db)
    helper = await make_org(db, categories=("policy",))

    unknown = await post(client, number, "hand-to-organisation", staff, {"category": "nope"})
    assert unknown.status_code == 422
    problem = unknown.json()
    assert problem["error"] == "unknown_category"
    assert "repair" in problem["categories"] and "repair" in problem["message"]
    missing = await post(client, number, "hand-to-organisation", staff, {})
    assert missing.status_code == 422 and missing.json()["error"] == "invalid_request"

    handed = await post(
        client, number, "hand-to-organisation", staff, {"category": "policy", "note": "补贴"}
    )
    assert handed.status_code == 200, handed.text
    body = handed.json()
    assert (body["kind"], body["category"], body["status"]) == ("service", "policy", "published")
    assert body["acknowledged_at"] is not None
    assert (await told(db, chat))[-1] == "n_alert_handed"
    # The organisation serving it can now read and claim it like any ticket.
    assert (await post(client, number, "claim", helper)).status_code == 200
    # The alert steps no longer apply.
    assert (await post(client, number, "resolve", staff)).status_code == 409


async def test_no_dispatch_of_an_alert_and_no_help_arrived_for_a_hand_off(
    client: httpx.AsyncClient, db: Sessions
) -> None:
    number, _ = await alert(db, AlertKind.HANDOFF)
    staff = await make_staff(db)
    organisation = await make_org(db)
    approve = await post(client, number, "approve", staff)
    assert approve.status_code == 409 and approve.json()["error"] == "illegal_transition"
    assign = await post(client, number, "assign", staff, {"organisation_id": organisation.id})
    assert assign.status_code == 409
    arrived = await post(client, number, "help-arrived", staff)
    assert arrived.status_code == 409
    async with db() as session:
        ticket = await get_ticket(session, number)
        assert (ticket.status, ticket.organisation_id, ticket.acknowledged_at) == (
            "submitted",
            None,
            None,
        )


async def test_only_staff_of_the_ticket(client: httpx.AsyncClient, db: Sessions) -> None:
    number, _ = await alert(db)
    organisation = await make_org(db)
    async with db() as session, session.begin():
        ids = {
            c.name_zh: c.id for c in await session.scalars(select(Community).order_by(Community.id))
        }
        ticket = await session.scalar(select(Ticket).where(Ticket.number == number))
        assert ticket is not None
        ticket.community_id = ids["幸福里社区"]
    elsewhere = await make_staff(db, role=Role.STAFF, communities=[ids["和平新村社区"]])
    for action in ("acknowledge", "called-back", "help-arrived", "resolve"):
        refused = await post(client, number, action, organisation)
        assert refused.status_code == 403 and refused.json()["error"] == "wrong_token_kind"
        other = await post(client, number, action, elsewhere)
        assert other.status_code == 403 and other.json()["error"] == "not_your_ticket"
        anonymous = await client.post(f"/api/tickets/{number}/{action}")
        assert anonymous.status_code == 401
    hand = await post(client, number, "hand-to-organisation", elsewhere, {"category": "repair"})
    assert hand.status_code == 403
    staff = await make_staff(db)
    missing = await post(client, "RO-000101-9999", "acknowledge", staff)
    assert missing.status_code == 404 and missing.json()["error"] == "ticket_not_found"
    bad = await post(client, "not-a-number", "resolve", staff)
    assert bad.status_code == 404
    huge = await post(client, number, "resolve", staff, {"note": "x" * 5000})
    assert huge.status_code == 422
    async with db() as session:
        ticket = await get_ticket(session, number)
        assert ticket.acknowledged_at is None and ticket.status == "submitted"
