"""The organisation pages against the real app on SQLite and PostgreSQL: sign-in with
the token (and a password set from it), claim / start / done / release through the
workflow, contact only after the claim, CSRF, and other organisations' tickets."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from i18n import t
from services.models import OutboxMessage
from services.reference.emergency_kinds import street_hotline
from services.tickets import get_ticket
from services.workflow import ticket_events
from tests.web.conftest import PHONE, Party, file, make_org

Sessions = async_sessionmaker[AsyncSession]
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
# A category few other tests file, so the open list is short and ours is in it.
CATEGORY = "housekeeping"


class OrgBrowser:
    """One browser signed in (or not) to the organisation pages."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.csrf = ""

    async def login(self, **fields: str) -> httpx.Response:
        form = await self.client.get("/org/login")
        assert form.status_code == 200
        token = CSRF.search(form.text)
        assert token
        return await self.client.post(
            "/org/login", data={"csrf_token": token.group(1), "next": "/org", **fields}
        )

    async def home(self) -> httpx.Response:
        page = await self.client.get("/org")
        token = CSRF.search(page.text)
        if token:
            self.csrf = token.group(1)
        return page

    async def act(self, number: str, action: str, **fields: str) -> httpx.Response:
        if not self.csrf:
            await self.home()
        return await self.client.post(
            f"/org/tickets/{number}/{action}", data={"csrf_token": self.csrf, **fields}
        )


@pytest.fixture
async def browsers(web_app: FastAPI) -> AsyncIterator[tuple[OrgBrowser, OrgBrowser]]:
    """Two independent browsers (two cookie jars)."""
    transport = httpx.ASGITransport(app=web_app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://web.test") as one,
        httpx.AsyncClient(transport=transport, base_url="http://web.test") as two,
    ):
        yield OrgBrowser(one), OrgBrowser(two)


async def signed_in(browser: OrgBrowser, party: Party) -> OrgBrowser:
    response = await browser.login(token=party.token)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/org"
    page = await browser.home()
    assert page.status_code == 200 and party.name in page.text
    return browser


def card_of(page: str, number: str) -> str:
    """The HTML of one ticket's card on the page."""
    start = page.index(f'data-number="{number}"')
    end = page.find("</article>", start)
    return page[start:end]


async def status_of(db: Sessions, number: str) -> str:
    async with db() as session:
        return (await get_ticket(session, number)).status


# --- signing in ---------------------------------------------------------------------------


async def test_pages_need_a_sign_in(client: httpx.AsyncClient) -> None:
    response = await client.get("/org")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/org/login?next=")


async def test_a_wrong_token_is_refused(
    browsers: tuple[OrgBrowser, OrgBrowser], db: Sessions
) -> None:
    browser, _ = browsers
    response = await browser.login(token="not-a-token")
    assert response.status_code == 400
    assert t("org_page_login_bad_token", "zh") in response.text
    assert (await browser.client.get("/org")).status_code == 303


async def test_login_without_csrf_is_refused(client: httpx.AsyncClient, db: Sessions) -> None:
    organisation = await make_org(db, categories=[CATEGORY])
    response = await client.post("/org/login", data={"token": organisation.token})
    assert response.status_code == 403


# --- the whole course of a ticket ---------------------------------------------------------


async def test_claim_start_done_with_contact_shown_only_after_the_claim(
    browsers: tuple[OrgBrowser, OrgBrowser], db: Sessions
) -> None:
    organisation = await make_org(db, categories=[CATEGORY])
    browser = await signed_in(browsers[0], organisation)
    number = await file(db, category=CATEGORY)

    page = (await browser.home()).text
    card = card_of(page, number)
    assert "厨房水管漏水" in card
    assert PHONE not in page and "幸福小区3栋" not in page
    assert t("org_page_contact_hidden", "zh") in card

    claimed = await browser.act(number, "claim")
    assert claimed.status_code == 303
    assert await status_of(db, number) == "claimed"
    page = (await browser.client.get(claimed.headers["location"])).text
    assert t("org_page_ok_claim", "zh", number=number) in page
    card = card_of(page, number)
    assert PHONE in card and "幸福小区3栋2单元501" in card
    assert f"/org/tickets/{number}/start" in card

    assert (await browser.act(number, "start")).status_code == 303
    assert await status_of(db, number) == "in_progress"
    done = await browser.act(number, "done", note="换了新的阀门")
    assert done.status_code == 303
    assert await status_of(db, number) == "done"
    async with db() as session:
        events = await ticket_events(session, number)
        assert events[-1].note == "换了新的阀门"
        keys = list(
            await session.scalars(
                select(OutboxMessage.message_key).where(
                    OutboxMessage.ticket_id == events[-1].ticket_id
                )
            )
        )
    assert "n_claimed" in keys and "n_started" in keys and "n_done" in keys
    # A second press of Done changes nothing.
    assert (await browser.act(number, "done")).status_code == 303
    async with db() as session:
        assert len(await ticket_events(session, number)) == len(events)


async def test_release_with_a_reason_publishes_it_again(
    browsers: tuple[OrgBrowser, OrgBrowser], db: Sessions
) -> None:
    organisation = await make_org(db, categories=[CATEGORY])
    browser = await signed_in(browsers[0], organisation)
    number = await file(db, category=CATEGORY)
    await browser.act(number, "claim")
    released = await browser.act(number, "release", reason="reason_far")
    assert released.status_code == 303
    assert await status_of(db, number) == "published"
    async with db() as session:
        assert (await ticket_events(session, number))[-1].note == "reason_far"
    # Not offered back to the organisation that released it, and it cannot claim it.
    page = (await browser.home()).text
    assert f'data-number="{number}"' not in page
    again = await browser.act(number, "claim")
    assert again.status_code == 403
    assert html.escape(t("not_eligible", "zh", number=number), quote=False) in again.text


async def test_csrf_less_posts_are_refused(
    browsers: tuple[OrgBrowser, OrgBrowser], db: Sessions
) -> None:
    organisation = await make_org(db, categories=[CATEGORY])
    browser = await signed_in(browsers[0], organisation)
    number = await file(db, category=CATEGORY)
    missing = await browser.client.post(f"/org/tickets/{number}/claim")
    assert missing.status_code == 403
    wrong = await browser.client.post(f"/org/tickets/{number}/claim", data={"csrf_token": "forged"})
    assert wrong.status_code == 403
    assert await status_of(db, number) == "published"


async def test_another_organisations_ticket_is_refused(
    browsers: tuple[OrgBrowser, OrgBrowser], db: Sessions
) -> None:
    first, second = (
        await make_org(db, categories=[CATEGORY]),
        await make_org(db, categories=[CATEGORY]),
    )
    holder = await signed_in(browsers[0], first)
    other = await signed_in(browsers[1], second)
    number = await file(db, category=CATEGORY)
    assert (await holder.act(number, "claim")).status_code == 303

    taken = await other.act(number, "claim")
    assert taken.status_code == 409
    assert html.escape(t("taken_by", "zh", number=number, holder=first.name), quote=False) in (
        taken.text
    )
    for action, fields in (("start", {}), ("done", {"note": "x"}), ("release", {"reason": "x"})):
        refused = await other.act(number, action, **fields)
        assert refused.status_code == 403, action
    page = (await other.home()).text
    assert PHONE not in page
    assert await status_of(db, number) == "claimed"


async def test_an_organisation_outside_the_category_cannot_claim(
    browsers: tuple[OrgBrowser, OrgBrowser], db: Sessions
) -> None:
    organisation = await make_org(db, categories=["legal_aid"])
    browser = await signed_in(browsers[0], organisation)
    number = await file(db, category=CATEGORY)
    assert f'data-number="{number}"' not in (await browser.home()).text
    assert (await browser.act(number, "claim")).status_code == 404  # as for no such ticket
    unknown = await browser.act("RO-000000-0000", "claim")
    assert unknown.status_code == 404


async def test_descriptions_are_shown_as_text(
    browsers: tuple[OrgBrowser, OrgBrowser], db: Sessions
) -> None:
    organisation = await make_org(db, categories=[CATEGORY])
    browser = await signed_in(browsers[0], organisation)
    number = await file(db, category=CATEGORY)
    async with db() as session, session.begin():
        ticket = await get_ticket(session, number)
        ticket.description = "<script>alert(1)</script>"
    page = (await browser.home()).text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in card_of(page, number)


# --- the web password ---------------------------------------------------------------------


async def test_password_set_after_a_token_sign_in_then_used_to_sign_in(
    browsers: tuple[OrgBrowser, OrgBrowser], db: Sessions
) -> None:
    organisation = await make_org(db, categories=[CATEGORY])
    browser = await signed_in(browsers[0], organisation)
    short = await browser.client.post(
        "/org/password",
        data={"csrf_token": browser.csrf, "new_password": "short", "confirm": "short"},
    )
    assert short.status_code == 400
    saved = await browser.client.post(
        "/org/password",
        data={
            "csrf_token": browser.csrf,
            "new_password": "correct horse battery",
            "confirm": "correct horse battery",
        },
    )
    assert saved.status_code == 303

    other = browsers[1]
    wrong = await other.login(name=organisation.name, password="wrong password!")
    assert wrong.status_code == 400
    assert t("org_page_login_bad_password", "zh") in wrong.text
    right = await other.login(name=organisation.name, password="correct horse battery")
    assert right.status_code == 303
    assert organisation.name in (await other.home()).text


# --- absolute times -----------------------------------------------------------------------


async def test_the_preferred_time_is_an_absolute_date_beside_the_residents_words(
    browsers: tuple[OrgBrowser, OrgBrowser], db: Sessions
) -> None:
    """Read the next day, "明天下午三点" alone sends a provider on the wrong day: the card
    shows the date understood (in Shanghai time) and the resident's words beside it."""
    organisation = await make_org(db, categories=[CATEGORY])
    browser = await signed_in(browsers[0], organisation)
    number = await file(db, category=CATEGORY)
    async with db() as session, session.begin():
        ticket = await get_ticket(session, number)
        # 06:00 UTC on Saturday 5 December 2026 is 14:00 in Shanghai.
        ticket.preferred_time_at = datetime(2026, 12, 5, 6, 0, tzinfo=UTC)
    card = html.unescape(card_of((await browser.home()).text, number))
    assert "12月5日(周六) 14:00" in card
    assert "明天下午三点" in card  # the resident's words stay beside it


async def test_the_sign_in_hint_speaks_to_an_organisation(client: httpx.AsyncClient) -> None:
    # Whom to ask for an account, its token or a link code, and how to reach them (the
    # street office's hotline and hours, services/reference/street.yml).
    office = street_hotline()
    page = html.unescape((await client.get("/org/login")).text)
    assert "orders org" not in page
    hint = t(
        "org_page_token_hint", "zh", hotline=office.number, office_hours=office.office_hours_zh
    )
    assert hint in page
    assert "社区工作人员" in hint and "绑定码" in hint and "021-62345000" in hint
    english = html.unescape(
        (await client.get("/org/login", headers={"Accept-Language": "en"})).text
    )
    hint = t(
        "org_page_token_hint", "en", hotline=office.number, office_hours=office.office_hours_en
    )
    assert hint in english
    assert "community staff" in hint and "link code" in hint
