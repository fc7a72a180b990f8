"""The queue, the ticket page and staff actions through the browser forms."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.models import OutboxMessage, Ticket
from services.parties import Role
from services.tickets import NewTicket, get_or_create_resident, get_ticket
from services.workflow import file_ticket
from tests.web.conftest import make_org, unique
from tests.web.dashboard.conftest import SignIn
from tests.web.dashboard.helpers import csrf_from
from web.state import WebState

XINGFULI = "幸福小区3栋2单元501"
HEPING = "和平新村5号楼"


async def file(
    db: async_sessionmaker[AsyncSession],
    *,
    category: str = "repair",
    address: str | None = XINGFULI,
    description: str = "厨房水管漏水",
) -> str:
    async with db() as session, session.begin():
        resident = await get_or_create_resident(
            session, channel="cli", external_id=unique("resident"), display_name="王阿姨"
        )
        ticket = (
            await file_ticket(
                session,
                resident=resident,
                request=NewTicket(
                    category_code=category,
                    description=description,
                    address=address,
                    latitude=31.2050,
                    longitude=121.4350,
                    preferred_time_text="明天下午三点",
                    preferred_time_at=None,
                    phone="+8613812345678",
                    photo_path=None,
                    language="zh",
                    idempotency_key=None,
                ),
            )
        ).ticket
        return ticket.number


async def status_of(db: async_sessionmaker[AsyncSession], number: str) -> Ticket:
    async with db() as session:
        return await get_ticket(session, number)


async def test_the_queue_filters_searches_and_polls(
    client: httpx.AsyncClient, signed_in: SignIn, db: async_sessionmaker[AsyncSession]
) -> None:
    marker = unique("漏水")
    number = await file(db, description=f"{marker} 卫生间")
    other = await file(db, category="counselling", description=unique("心情"))
    await signed_in(role=Role.ADMIN)
    found = await client.get("/dashboard", params={"q": marker})
    assert found.status_code == 200
    assert number in found.text and other not in found.text
    assert 'hx-trigger="every 3s"' in found.text
    by_number = await client.get("/dashboard/rows", params={"q": number.lower()})
    assert number in by_number.text and "<html" not in by_number.text
    reviewed = await client.get(
        "/dashboard/rows", params={"status": "submitted", "category": "counselling"}
    )
    assert other in reviewed.text and number not in reviewed.text
    # Malformed filters are ignored, never a server error.
    odd = await client.get(
        "/dashboard/rows",
        params={"status": "nope", "from": "yesterday", "community": "x", "sort": "?", "page": "-1"},
    )
    assert odd.status_code == 200
    # LIKE wildcards in the search are literal characters.
    assert number not in (await client.get("/dashboard/rows", params={"q": "%"})).text


async def test_staff_of_one_community_never_see_another_communitys_tickets(
    client: httpx.AsyncClient, signed_in: SignIn, db: async_sessionmaker[AsyncSession]
) -> None:
    theirs = await file(db, category="counselling", address=HEPING, description=unique("和平"))
    mine = await file(db, category="counselling", address=XINGFULI, description=unique("幸福"))
    _, token = await signed_in(role=Role.STAFF, communities=("幸福里社区",))
    rows = (await client.get("/dashboard/rows", params={"status": "all"})).text
    assert mine in rows and theirs not in rows
    assert (await client.get(f"/dashboard/tickets/{mine}")).status_code == 200
    assert (await client.get(f"/dashboard/tickets/{theirs}")).status_code == 404
    assert (await client.get(f"/dashboard/tickets/{theirs}/photo")).status_code == 404
    for action, data in [
        ("approve", {}),
        ("reject", {"reason": "reason_scope"}),
        ("close", {"reason": "reason_handled"}),
        ("escalate", {}),
    ]:
        answer = await client.post(
            f"/dashboard/tickets/{theirs}/{action}", data={"csrf_token": token, **data}
        )
        assert answer.status_code == 404, action
    # Merging one's own ticket into another community's is refused too.
    merged = await client.post(
        f"/dashboard/tickets/{mine}/merge", data={"csrf_token": token, "into": theirs}
    )
    assert "error=dash_err_input" in merged.headers["location"]
    assert (await status_of(db, theirs)).status == "submitted"
    assert (await status_of(db, mine)).status == "submitted"
    # Settlement and charts only count their communities (checked in their tests).


async def test_actions_need_the_csrf_token(
    client: httpx.AsyncClient, signed_in: SignIn, db: async_sessionmaker[AsyncSession]
) -> None:
    number = await file(db, category="counselling")
    await signed_in()
    refused = await client.post(f"/dashboard/tickets/{number}/approve")
    assert refused.status_code == 403
    forged = await client.post(f"/dashboard/tickets/{number}/approve", data={"csrf_token": "x"})
    assert forged.status_code == 403
    assert (await status_of(db, number)).status == "submitted"


async def test_descriptions_are_shown_as_text_never_as_html(
    client: httpx.AsyncClient, signed_in: SignIn, db: async_sessionmaker[AsyncSession]
) -> None:
    attack = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    number = await file(db, description=f"{unique('xss')} {attack}")
    await signed_in()
    for page in (
        await client.get(f"/dashboard/tickets/{number}"),
        await client.get("/dashboard/rows", params={"q": number}),
    ):
        assert "<script>alert" not in page.text
        assert "<img src=x" not in page.text
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]


async def test_approve_then_assign_escalate_merge_and_close(
    client: httpx.AsyncClient,
    signed_in: SignIn,
    db: async_sessionmaker[AsyncSession],
    web: WebState,
) -> None:
    number = await file(db, category="counselling", description=unique("失眠"))
    organisation = await make_org(db, categories=["counselling"])
    await signed_in(language="en")
    page = await client.get(f"/dashboard/tickets/{number}")
    token = csrf_from(page.text)
    assert "Approve" in page.text and "openstreetmap.org/?mlat=31.205000" in page.text
    assert "+8613812345678" in page.text and XINGFULI in page.text

    approved = await client.post(f"/dashboard/tickets/{number}/approve", data={"csrf_token": token})
    assert approved.headers["location"] == f"/dashboard/tickets/{number}?done=dash_done_approved"
    shown = await client.get(approved.headers["location"])
    assert "Approved; offered to the organisations." in shown.text
    assert (await status_of(db, number)).status == "published"
    # Approving twice is a no-op; rejecting a published ticket is refused politely.
    again = await client.post(f"/dashboard/tickets/{number}/approve", data={"csrf_token": token})
    assert "done=" in again.headers["location"]
    late = await client.post(
        f"/dashboard/tickets/{number}/reject", data={"csrf_token": token, "reason": "reason_scope"}
    )
    assert late.headers["location"].endswith("error=dash_err_state")

    escalated = await client.post(
        f"/dashboard/tickets/{number}/escalate", data={"csrf_token": token, "note": "call them"}
    )
    assert "done=dash_done_escalated" in escalated.headers["location"]
    assert (await status_of(db, number)).escalated_at is not None

    assigned = await client.post(
        f"/dashboard/tickets/{number}/assign",
        data={"csrf_token": token, "organisation_id": str(organisation.id)},
    )
    assert "done=dash_done_assigned" in assigned.headers["location"]
    held = await status_of(db, number)
    assert (held.status, held.organisation_id) == ("claimed", organisation.id)

    duplicate = await file(db, category="counselling", description=unique("又失眠"))
    merged = await client.post(
        f"/dashboard/tickets/{duplicate}/merge", data={"csrf_token": token, "into": number}
    )
    assert "done=dash_done_merged" in merged.headers["location"]
    assert (await status_of(db, duplicate)).status == "merged"

    closed = await client.post(
        f"/dashboard/tickets/{number}/close",
        data={"csrf_token": token, "reason": "reason_handled", "reason_text": ""},
    )
    assert "done=dash_done_closed" in closed.headers["location"]
    assert (await status_of(db, number)).status == "closed"
    # The resident is told with the catalogue's reason (the notifier renders it).
    async with db() as session:
        ticket = await get_ticket(session, number)
        told = await session.scalar(
            select(OutboxMessage).where(
                OutboxMessage.ticket_id == ticket.id, OutboxMessage.message_key == "n_closed"
            )
        )
        assert told is not None and told.params["reason"] == "reason_handled"

    timeline = (await client.get(f"/dashboard/tickets/{number}")).text
    steps = re.findall(r"<strong>([^<]+)</strong>", timeline)
    assert steps[:2] == ["awaiting review", "waiting for an organisation"]
    assert "call them" in timeline and f"assigned to &#34;{organisation.name}&#34;" in timeline
    assert "Actions" not in timeline  # a closed ticket has none


async def test_a_photo_is_served_to_staff_only(
    client: httpx.AsyncClient,
    browser: httpx.AsyncClient,
    signed_in: SignIn,
    db: async_sessionmaker[AsyncSession],
    web: WebState,
) -> None:
    number = await file(db)
    name = f"{unique('photo')}.jpg"
    web.settings.photos_dir.mkdir(parents=True, exist_ok=True)
    (web.settings.photos_dir / name).write_bytes(b"\xff\xd8\xff\xe0fake-jpeg")
    async with db() as session, session.begin():
        ticket = await get_ticket(session, number)
        ticket.photo_path = name
    await signed_in()
    assert (
        f"/dashboard/tickets/{number}/photo"
        in (await client.get(f"/dashboard/tickets/{number}")).text
    )
    photo = await client.get(f"/dashboard/tickets/{number}/photo")
    assert photo.status_code == 200 and photo.headers["content-type"] == "image/jpeg"
    assert photo.content.startswith(b"\xff\xd8")
    assert (await browser.get(f"/dashboard/tickets/{number}/photo")).status_code == 303
