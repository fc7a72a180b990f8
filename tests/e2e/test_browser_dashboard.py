"""The staff dashboard in a real headless Chromium, against a real `orders web`
process on the e2e stack (real engine, action server, bot and database; Telegram is
the fake Bot API): staff signs in, filters the queue, approves a counselling ticket
(a category that needs review), sees it claimed live — no reload — when the
organisation presses Claim in Telegram, then downloads the settlement XLSX, which
the test opens with openpyxl to check the totals."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import load_workbook  # type: ignore[import-untyped]
from playwright.async_api import Browser, Page
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services import workflow
from services.models import Category, Resident
from services.parties import Role, create_organisation, create_staff
from services.tickets import NewTicket, get_or_create_resident, get_ticket
from tests.e2e.test_lifecycle import expect, expect_button, link
from tests.fakes.telegram import FakeTelegram

PASSWORD = "dashboard-e2e-password"
LIVE_TIMEOUT_MS = 20_000


async def _file_counselling(db: async_sessionmaker[AsyncSession], description: str) -> str:
    async with db() as session, session.begin():
        resident = await get_or_create_resident(
            session, channel="cli", external_id="dashboard-e2e", display_name="Resident"
        )
        ticket = (
            await workflow.file_ticket(
                session,
                resident=resident,
                request=NewTicket(
                    category_code="counselling",
                    description=description,
                    address="幸福小区3栋2单元501",
                    latitude=31.205,
                    longitude=121.435,
                    preferred_time_text="明天上午",
                    preferred_time_at=None,
                    phone="+8613812345678",
                    photo_path=None,
                    language="zh",
                    idempotency_key=None,
                ),
            )
        ).ticket
        assert ticket.status == "submitted"
        return ticket.number


# The height of an element's text over its font size: one line is about 1.5, two are 3.
LINES_JS = """element => {
    const range = document.createRange();
    range.selectNodeContents(element);
    const size = parseFloat(getComputedStyle(element).fontSize);
    return range.getBoundingClientRect().height / size;
}"""


async def one_line(page: Page, selector: str) -> None:
    """The text at `selector` (a ticket number) is on one line."""
    height = await page.locator(selector).first.evaluate(LINES_JS)
    assert 0 < height < 2.0, f"{selector} wraps ({height:.1f} font sizes high)"


async def test_staff_approve_see_the_claim_live_and_download_the_settlement(
    browser: Browser,
    web_url: str,
    telegram: FakeTelegram,
    db: async_sessionmaker[AsyncSession],
    tmp_path: Any,
) -> None:
    async with db() as session, session.begin():
        await create_staff(
            session, name="dash-e2e-admin", role=Role.ADMIN, password=PASSWORD, language="en"
        )
        organisation, credentials = await create_organisation(
            session, name="Quiet Harbour", categories=["counselling"], communities=None
        )
        category = await session.get(Category, "counselling")
        assert category is not None
        price = Decimal(category.unit_price)
    helper = telegram.user(76001, first_name="Q", language_code="zh")
    await link(helper, credentials.link_code, "Quiet Harbour")
    number = await _file_counselling(db, "孩子最近情绪很低落，<b>想找心理老师</b>")

    context = await browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    errors: list[Any] = []

    def page_error(error: Any) -> None:
        errors.append(error)

    def console(message: Any) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("pageerror", page_error)
    page.on("console", console)

    # Sign in (redirected to the login page first).
    await page.goto(f"{web_url}/dashboard")
    assert "/login?next=" in page.url
    await page.fill("input[name=name]", "dash-e2e-admin")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{web_url}/dashboard")
    assert await page.locator("h1").inner_text() == "Ticket queue"

    # Filter the queue: submitted counselling tickets.
    await page.select_option("select[name=status]", "submitted")
    await page.select_option("select[name=category]", "counselling")
    await page.click("[data-testid=apply-filters]")
    await page.wait_for_url("**/dashboard?*status=submitted*")
    row = page.locator(f'tr[data-number="{number}"]')
    await row.wait_for()
    # The resident's markup is text on the page, not HTML.
    assert "<b>想找心理老师</b>" in await row.locator(".desc").inner_text()

    # Open it and approve.
    await row.locator(f'a[href="/dashboard/tickets/{number}"]').click()
    await page.wait_for_url(f"**/dashboard/tickets/{number}")
    assert "openstreetmap.org" in (await page.get_attribute("[data-testid=map-link]", "href") or "")
    await page.click("[data-testid=approve]")
    await page.wait_for_url("**done=dash_done_approved")
    assert await page.locator("[data-testid=ticket-status]").inner_text() == (
        "waiting for an organisation"
    )

    # On a phone (390 px), ticket numbers never wrap: the ticket's title, the queue.
    await page.set_viewport_size({"width": 390, "height": 844})
    await one_line(page, "[data-testid=ticket-title]")
    await page.goto(f"{web_url}/dashboard?status=all&q={number}")
    await one_line(page, f'tr[data-number="{number}"] td.number a')
    await page.set_viewport_size({"width": 1280, "height": 900})

    # The queue of this ticket, left open: htmx polls it.
    await page.goto(f"{web_url}/dashboard?status=all&q={number}")
    await page.locator(f'tr[data-number="{number}"][data-status="published"]').wait_for()
    await page.evaluate("window.__sameDocument = true")

    # The organisation gets the card in Telegram and presses Claim.
    card = await expect_button(helper, f"o:claim:{number}")
    await helper.press(card, f"o:claim:{number}")
    await expect(helper, number)
    await page.locator(f'tr[data-number="{number}"][data-status="claimed"]').wait_for(
        timeout=LIVE_TIMEOUT_MS
    )
    assert await page.evaluate("window.__sameDocument === true")  # no reload happened
    assert "Quiet Harbour" in await page.locator(f'tr[data-number="{number}"]').inner_text()

    # The work is done and rated (services, as the bot would), then the settlement.
    async with db() as session, session.begin():
        await workflow.done(session, number=number, organisation=organisation)
        ticket = await get_ticket(session, number)
        owner = await session.get(Resident, ticket.resident_id)
        assert owner is not None
        await workflow.rate(session, number=number, resident=owner, stars=5)
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    await page.goto(f"{web_url}/dashboard/settlement?from={today}&to={today}")
    assert number in await page.locator("[data-testid=settlement-table]").inner_text()
    await page.set_viewport_size({"width": 390, "height": 844})
    await one_line(page, f'[data-testid=settlement-table] a[href="/dashboard/tickets/{number}"]')
    await page.set_viewport_size({"width": 1280, "height": 900})
    async with page.expect_download() as download_info:
        await page.click("[data-testid=download-xlsx]")
    download = await download_info.value
    path = tmp_path / download.suggested_filename
    await download.save_as(path)
    assert path.suffix == ".xlsx"

    book = load_workbook(path)
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    mine = [r for r in rows if r[0] == "Quiet Harbour"]
    assert [(r[1], r[5], Decimal(str(r[6]))) for r in mine] == [(number, 5, price)]
    [subtotal] = [r for r in rows if str(r[0]).startswith("Quiet Harbour subtotal")]
    assert Decimal(str(subtotal[6])) == price
    lines = [Decimal(str(r[6])) for r in rows[2:-1] if r[1]]
    grand = Decimal(str(rows[-1][6]))
    assert grand.quantize(Decimal("0.01")) == sum(lines, Decimal("0")).quantize(Decimal("0.01"))
    summary = {r[0]: r for r in book.worksheets[1].iter_rows(values_only=True)}
    assert summary["Quiet Harbour"][1] == 1

    # The charts page draws with the vendored Chart.js (no errors, CSP included).
    await page.goto(f"{web_url}/dashboard/charts")
    await page.wait_for_selector("body[data-charts-drawn=yes]")
    assert errors == []
    await context.close()
