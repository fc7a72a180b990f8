"""The dashboard's emergency and hand-off tickets (issue 12): their own actions on
the ticket page instead of approve / "offered to the organisations", first in the
queue and marked until a staff member acknowledges them."""

from __future__ import annotations

import re

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services import workflow
from services.alerts import AlertKind, TranscriptLine, record_alert
from services.tickets import get_or_create_resident, get_ticket
from tests.web.conftest import PHONE, file, make_org, unique
from tests.web.dashboard.conftest import SignIn
from tests.web.dashboard.helpers import csrf_from

Sessions = async_sessionmaker[AsyncSession]
_ROW = re.compile(r'<tr class="([^"]*)" data-number="(RO-[0-9-]+)"')


async def alert(db: Sessions, description: str, kind: AlertKind = AlertKind.EMERGENCY) -> str:
    async with db() as session, session.begin():
        resident = await get_or_create_resident(
            session, channel="cli", external_id=unique("resident")
        )
        ticket = await record_alert(
            session,
            resident=resident,
            kind=kind,
            description=description,
            language="zh",
            idempotency_key=None,
        )
        ticket.phone = PHONE
        return ticket.number


def rows(html: str) -> list[tuple[str, str]]:
    """(number, row classes) of the queue's rows, in order."""
    return [(number, classes) for classes, number in _ROW.findall(html)]


async def test_the_ticket_page_offers_the_emergency_steps(
    client: httpx.AsyncClient, signed_in: SignIn, db: Sessions
) -> None:
    number = await alert(db, unique("煤气味"))
    await signed_in()
    page = await client.get(f"/dashboard/tickets/{number}")
    assert page.status_code == 200
    html = page.text
    for testid in ("acknowledge", "called-back", "help-arrived", "resolve", "hand-to-organisation"):
        assert f'data-testid="{testid}"' in html, testid
    # Never the dispatch wording or the review steps, never "awaiting review".
    assert 'data-testid="approve"' not in html and "审核通过" not in html
    assert "/assign" not in html and "待审核" not in html
    assert 'data-testid="unacknowledged"' in html
    assert "已通知值班人员" in html
    categories = html.split('data-testid="hand-category"')[1].split("</select>")[0]
    assert 'value="repair"' in categories and 'value="elder_care"' in categories
    token = csrf_from(html)

    acknowledged = await client.post(
        f"/dashboard/tickets/{number}/acknowledge", data={"csrf_token": token}
    )
    assert acknowledged.status_code == 303
    assert acknowledged.headers["location"].endswith("done=dash_done_acknowledged")
    shown = (await client.get(acknowledged.headers["location"])).text
    assert "已确认，由您跟进" in shown
    assert 'data-testid="acknowledge"' not in shown and 'data-testid="unacknowledged"' not in shown
    assert "工作人员跟进中" in shown
    assert "确认跟进" in shown  # the timeline's event and the field

    called = await client.post(
        f"/dashboard/tickets/{number}/called-back",
        data={"csrf_token": token, "note": "已电话联系"},
    )
    assert called.headers["location"].endswith("done=dash_done_called_back")
    resolved = await client.post(
        f"/dashboard/tickets/{number}/resolve", data={"csrf_token": token, "note": ""}
    )
    assert resolved.headers["location"].endswith("done=dash_done_resolved")
    async with db() as session:
        ticket = await get_ticket(session, number)
        assert (ticket.status, ticket.acknowledged_at is not None) == ("closed", True)
    final = (await client.get(f"/dashboard/tickets/{number}")).text
    assert "已电话联系" in final and "社区值班人员已处理" in final
    assert 'data-testid="resolve"' not in final


async def test_hand_to_organisation_from_the_page(
    client: httpx.AsyncClient, signed_in: SignIn, db: Sessions
) -> None:
    number = await alert(db, unique("找人工"), AlertKind.HANDOFF)
    helper = await make_org(db, categories=["housekeeping"])
    await signed_in(language="en")
    page = (await client.get(f"/dashboard/tickets/{number}")).text
    assert 'data-testid="help-arrived"' not in page  # a hand-off has no "help arrived"
    assert "passed to staff" in page
    token = csrf_from(page)
    nothing = await client.post(
        f"/dashboard/tickets/{number}/hand-to-organisation",
        data={"csrf_token": token, "category": ""},
    )
    assert nothing.headers["location"].endswith("error=dash_err_input")
    bogus = await client.post(
        f"/dashboard/tickets/{number}/hand-to-organisation",
        data={"csrf_token": token, "category": "<script>"},
    )
    assert bogus.headers["location"].endswith("error=dash_err_input")
    handed = await client.post(
        f"/dashboard/tickets/{number}/hand-to-organisation",
        data={"csrf_token": token, "category": "housekeeping", "note": "needs a cleaner"},
    )
    assert handed.headers["location"].endswith("done=dash_done_handed")
    async with db() as session:
        ticket = await get_ticket(session, number)
        assert (ticket.kind, ticket.category_code, ticket.status) == (
            "service",
            "housekeeping",
            "published",
        )
        assert await workflow.offer_count(session, number) >= 1
    shown = (await client.get(f"/dashboard/tickets/{number}")).text
    assert "Talk to a person handed to organisations as &#34;Housekeeping" in shown
    assert helper.name  # offered through the ordinary matching


async def test_unacknowledged_alerts_lead_the_queue_until_acknowledged(
    client: httpx.AsyncClient, signed_in: SignIn, db: Sessions
) -> None:
    word = unique("漏")
    number = await alert(db, f"{word} 紧急")
    later = await file(db, description=f"{word} 厨房")  # newer, so first by "newest"
    _, token = await signed_in()
    for sort in ("attention", "newest", "oldest", "updated"):
        listed = rows((await client.get("/dashboard/rows", params={"q": word, "sort": sort})).text)
        assert [n for n, _ in listed] == [number, later], sort
        assert "unacknowledged" in listed[0][1] and "unacknowledged" not in listed[1][1]
    queue = (await client.get("/dashboard", params={"q": word})).text
    assert "未确认" in queue and "待审核" not in queue.split(number)[1].split("</tr>")[0]

    await client.post(f"/dashboard/tickets/{number}/acknowledge", data={"csrf_token": token})
    listed = rows((await client.get("/dashboard/rows", params={"q": word, "sort": "newest"})).text)
    assert [n for n, _ in listed] == [later, number]
    assert all("unacknowledged" not in classes for _, classes in listed)


async def test_service_tickets_keep_their_review_steps(
    client: httpx.AsyncClient, signed_in: SignIn, db: Sessions
) -> None:
    number = await file(db, category="legal_aid", description=unique("欠薪"))  # needs review
    await signed_in()
    page = (await client.get(f"/dashboard/tickets/{number}")).text
    assert 'data-testid="approve"' in page and 'data-testid="acknowledge"' not in page
    token = csrf_from(page)
    refused = await client.post(
        f"/dashboard/tickets/{number}/acknowledge", data={"csrf_token": token}
    )
    assert refused.headers["location"].endswith("error=dash_err_state")
    forged = await client.post(f"/dashboard/tickets/{number}/resolve", data={})
    assert forged.status_code in (400, 403)


async def test_a_handoff_shows_its_conversation_beside_the_need(
    client: httpx.AsyncClient, signed_in: SignIn, db: Sessions
) -> None:
    need = unique("楼上漏水到我家")
    async with db() as session, session.begin():
        resident = await get_or_create_resident(
            session, channel="cli", external_id=unique("resident")
        )
        ticket = await record_alert(
            session,
            resident=resident,
            kind=AlertKind.HANDOFF,
            description=need,
            language="zh",
            idempotency_key=None,
            transcript=[
                TranscriptLine("resident", "你好"),
                TranscriptLine("assistant", "您好！请问需要什么帮助？"),
                TranscriptLine("resident", need),
                TranscriptLine("resident", "<script>alert(1)</script>找人工"),
            ],
        )
        number = ticket.number
    await signed_in()
    html = (await client.get(f"/dashboard/tickets/{number}")).text
    assert f'data-testid="description">{need}</dd>' in html
    conversation = html.split('data-testid="transcript"')[1].split("</details>")[0]
    assert "最近 4 条消息" in conversation
    at = [conversation.index(text) for text in ("你好", "请问需要什么帮助", need)]
    assert at == sorted(at), at
    assert "居民：" in conversation and "助手：" in conversation
    assert "<script>" not in conversation and "&lt;script&gt;" in conversation


async def test_a_ticket_without_a_conversation_shows_none(
    client: httpx.AsyncClient, signed_in: SignIn, db: Sessions
) -> None:
    number = await alert(db, unique("煤气味"))
    await signed_in()
    assert 'data-testid="transcript"' not in (await client.get(f"/dashboard/tickets/{number}")).text
