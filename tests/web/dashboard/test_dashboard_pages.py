"""Admin pages, charts and the settlement downloads (XLSX opened with openpyxl)."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import httpx
from openpyxl import load_workbook  # type: ignore[import-untyped]
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services import workflow
from services.models import Category, Organisation, Resident
from services.parties import Role, get_organisation
from services.tickets import get_ticket
from tests.web.conftest import make_org, unique
from tests.web.dashboard.conftest import SignIn
from tests.web.dashboard.helpers import PASSWORD, csrf_from, sign_in
from tests.web.dashboard.test_dashboard_tickets import file


async def _rated(
    db: async_sessionmaker[AsyncSession], organisation_id: int, stars: int, category: str
) -> str:
    number = await file(db, category=category, description=unique("结算"))
    async with db() as session, session.begin():
        organisation = await get_organisation(session, organisation_id)
        ticket = await get_ticket(session, number)
        if ticket.status == "submitted":
            ticket.status = "published"
        await workflow.claim(session, number=number, organisation=organisation)
        await workflow.done(session, number=number, organisation=organisation)
        owner = await session.get(Resident, ticket.resident_id)
        assert owner is not None
        await workflow.rate(session, number=number, resident=owner, stars=stars)
    return number


async def test_settlement_page_csv_and_xlsx_agree_to_the_cent(
    client: httpx.AsyncClient, signed_in: SignIn, db: async_sessionmaker[AsyncSession]
) -> None:
    async with db() as session, session.begin():
        category = await session.get(Category, "housekeeping")
        assert category is not None
        price = Decimal(category.unit_price)
    org = await make_org(db, categories=["housekeeping"])
    numbers = [await _rated(db, org.id, stars, "housekeeping") for stars in (5, 4, 2)]
    await signed_in(language="en")
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    period = {"from": today, "to": today}
    page = await client.get("/dashboard/settlement", params=period)
    assert page.status_code == 200
    assert all(number in page.text for number in numbers)
    assert f"{org.name} subtotal (3 tickets)" in page.text

    sheet = await client.get("/dashboard/settlement.xlsx", params=period)
    assert sheet.status_code == 200
    assert sheet.headers["content-disposition"].startswith("attachment; filename=")
    book = load_workbook(io.BytesIO(sheet.content))
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    mine = [row for row in rows if row[0] == org.name]
    assert sorted(str(row[1]) for row in mine) == sorted(numbers)
    assert all(Decimal(str(row[6])) == price for row in mine)
    [subtotal] = [row for row in rows if str(row[0]).startswith(f"{org.name} subtotal")]
    assert Decimal(str(subtotal[6])).quantize(Decimal("0.01")) == price * 3
    assert Decimal(str(subtotal[5])) == Decimal("3.67")
    total = rows[-1]
    body = [row for row in rows[2:-1] if row[1]]
    assert Decimal(str(total[6])).quantize(Decimal("0.01")) == sum(
        (Decimal(str(row[6])) for row in body), Decimal("0")
    ).quantize(Decimal("0.01"))
    summary = {row[0]: row for row in book.worksheets[1].iter_rows(values_only=True)}
    assert summary[org.name][1:3] == (3, 3)

    text = (await client.get("/dashboard/settlement.csv", params=period)).content.decode(
        "utf-8-sig"
    )
    table = list(csv.reader(io.StringIO(text)))
    assert table[0][0] == "Organisation"
    [csv_subtotal] = [row for row in table if row[0].startswith(f"{org.name} subtotal")]
    assert csv_subtotal[6] == f"{price * 3:.2f}"
    assert table[-1][6] == f"{Decimal(str(total[6])):.2f}"


async def test_staff_settle_and_chart_only_their_communities(
    client: httpx.AsyncClient, signed_in: SignIn, db: async_sessionmaker[AsyncSession]
) -> None:
    org = await make_org(db, categories=["housekeeping"])
    number = await _rated(db, org.id, 5, "housekeeping")  # 幸福里社区
    await signed_in(role=Role.STAFF, communities=("和平新村社区",))
    assert number not in (await client.get("/dashboard/settlement")).text
    xlsx = await client.get("/dashboard/settlement.xlsx")
    assert number.encode() not in xlsx.content  # (zip-compressed either way; belt and braces)
    book = load_workbook(io.BytesIO(xlsx.content))
    assert number not in {row[1] for row in book.worksheets[0].iter_rows(values_only=True)}


async def test_charts_page_embeds_its_data_as_json(
    client: httpx.AsyncClient, signed_in: SignIn, db: async_sessionmaker[AsyncSession]
) -> None:
    org = await make_org(db, categories=["housekeeping"])
    await _rated(db, org.id, 5, "housekeeping")
    await signed_in(language="en")
    page = await client.get("/dashboard/charts")
    assert page.status_code == 200
    assert '<script type="application/json" id="chart-data">' in page.text
    assert "/static/vendor/chart-4.6.1.umd.min.js" in page.text
    assert "Tickets per category per week" in page.text and "League table" in page.text
    assert (await client.get("/static/dashboard-charts.js")).status_code == 200


async def test_admin_creates_edits_and_suspends_an_organisation(
    client: httpx.AsyncClient, signed_in: SignIn, db: async_sessionmaker[AsyncSession]
) -> None:
    _, token = await signed_in(role=Role.ADMIN, language="en")
    name = unique("Helping Hands")
    created = await client.post(
        "/dashboard/organisations",
        data={
            "csrf_token": token,
            "name": name,
            "categories": ["repair", "property"],
            "communities": ["1"],
            "contact": "021-1234",
        },
    )
    assert created.status_code == 200 and "shown this once" in created.text
    assert 'data-testid="api-token"' in created.text
    listing = await client.get("/dashboard/organisations")
    assert name in listing.text
    async with db() as session:
        from sqlalchemy import select

        organisation = await session.scalar(select(Organisation).where(Organisation.name == name))
        assert organisation is not None
        assert {c.code for c in organisation.categories} == {"repair", "property"}
    edit = await client.post(
        f"/dashboard/organisations/{organisation.id}",
        data={"csrf_token": token, "name": name, "categories": ["repair"], "all_communities": "1"},
    )
    assert edit.headers["location"].endswith("done=dash_done_saved")
    suspended = await client.post(
        f"/dashboard/organisations/{organisation.id}/active",
        data={"csrf_token": token, "active": "0"},
    )
    assert suspended.status_code == 303
    async with db() as session:
        stored = await session.get(Organisation, organisation.id)
        assert stored is not None
        assert (stored.active, stored.all_communities) == (False, True)
        assert [c.code for c in stored.categories] == ["repair"]
    assert "suspended" in (await client.get(f"/dashboard/organisations/{organisation.id}")).text
    # Without the token nothing changes.
    refused = await client.post(
        f"/dashboard/organisations/{organisation.id}/active", data={"active": "1"}
    )
    assert refused.status_code == 403


async def test_admin_changes_a_category_and_adds_staff(
    client: httpx.AsyncClient,
    browser: httpx.AsyncClient,
    signed_in: SignIn,
    db: async_sessionmaker[AsyncSession],
) -> None:
    _, token = await signed_in(role=Role.ADMIN)
    async with db() as session:
        before = await session.get(Category, "disability")
        assert before is not None
        original = (
            before.needs_review,
            before.sla_claim_hours,
            before.sla_done_hours,
            before.unit_price,
        )
    try:
        saved = await client.post(
            "/dashboard/categories/disability",
            data={
                "csrf_token": token,
                "needs_review": "1",
                "sla_claim_hours": "12",
                "sla_done_hours": "48",
                "unit_price": "123.45",
            },
        )
        assert saved.headers["location"].endswith("done=dash_done_saved")
        bad = await client.post(
            "/dashboard/categories/disability",
            data={
                "csrf_token": token,
                "sla_claim_hours": "0",
                "sla_done_hours": "1",
                "unit_price": "1.234",
            },
        )
        assert "error=disability" in bad.headers["location"]
        async with db() as session:
            after = await session.get(Category, "disability")
            assert after is not None
            assert (after.needs_review, after.sla_claim_hours, after.sla_done_hours) == (
                True,
                12,
                48,
            )
            assert Decimal(after.unit_price) == Decimal("123.45")
    finally:
        async with db() as session, session.begin():
            category = await session.get(Category, "disability")
            assert category is not None
            (
                category.needs_review,
                category.sla_claim_hours,
                category.sla_done_hours,
                category.unit_price,
            ) = original

    name = unique("new-staff")
    created = await client.post(
        "/dashboard/staff",
        data={
            "csrf_token": token,
            "name": name,
            "password": PASSWORD,
            "role": "staff",
            "communities": ["1"],
        },
    )
    assert created.status_code == 200 and name in created.text
    assert name in (await client.get("/dashboard/staff")).text
    duplicate = await client.post(
        "/dashboard/staff",
        data={"csrf_token": token, "name": name, "password": PASSWORD, "role": "staff"},
    )
    assert duplicate.headers["location"] == "/dashboard/staff?error=1"
    # The new member signs in with that password.
    from tests.web.dashboard.helpers import WebStaff

    await sign_in(browser, WebStaff(0, name, PASSWORD))
    assert csrf_from((await browser.get("/dashboard")).text)
