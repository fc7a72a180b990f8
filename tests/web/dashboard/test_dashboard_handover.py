"""The ticket page hands a claimed or in-progress ticket on to another organisation,
with a note (issue 11, item 13)."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services import workflow
from services.models import OutboxMessage
from services.parties import get_organisation
from services.tickets import get_ticket
from tests.web.conftest import make_org, unique
from tests.web.dashboard.conftest import SignIn
from tests.web.dashboard.helpers import csrf_from
from tests.web.dashboard.test_dashboard_tickets import file, status_of


async def test_a_claimed_ticket_is_handed_on_from_its_page(
    client: httpx.AsyncClient, signed_in: SignIn, db: async_sessionmaker[AsyncSession]
) -> None:
    number = await file(db, description=unique("漏水"))
    old = await make_org(db, categories=["repair"])
    new = await make_org(db, categories=["repair"])
    async with db() as session, session.begin():
        await workflow.claim(
            session, number=number, organisation=await get_organisation(session, old.id)
        )
        await workflow.start(
            session, number=number, organisation=await get_organisation(session, old.id)
        )
    await signed_in(language="en")
    page = await client.get(f"/dashboard/tickets/{number}")
    assert f"Hand over from &#34;{old.name}&#34; to this organisation" in page.text
    options = page.text.split('data-testid="assign-organisation"')[1].split("</select>")[0]
    assert f'value="{new.id}"' in options and f'value="{old.id}"' not in options
    token = csrf_from(page.text)

    same = await client.post(
        f"/dashboard/tickets/{number}/assign",
        data={"csrf_token": token, "organisation_id": str(old.id), "note": ""},
    )
    assert same.headers["location"].endswith("error=dash_err_already_holds")
    shown = await client.get(same.headers["location"])
    assert "That organisation already holds the ticket" in shown.text

    handed = await client.post(
        f"/dashboard/tickets/{number}/assign",
        data={"csrf_token": token, "organisation_id": str(new.id), "note": "no plumber this week"},
    )
    assert "done=dash_done_assigned" in handed.headers["location"]
    ticket = await status_of(db, number)
    assert (ticket.status, ticket.organisation_id) == ("claimed", new.id)
    async with db() as session:
        stored = await get_ticket(session, number)
        keys = list(
            await session.scalars(
                select(OutboxMessage.message_key).where(OutboxMessage.ticket_id == stored.id)
            )
        )
    assert "n_handed_over" in keys  # (these organisations have no linked chat)

    timeline = (await client.get(f"/dashboard/tickets/{number}")).text
    assert "handed over" in timeline
    assert (
        f"handed over from &#34;{old.name}&#34; to &#34;{new.name}&#34;: no plumber this week"
        in timeline
    )
    assert "(in progress → claimed)" in timeline
