"""Charts (Chart.js, served from /static/vendor) and the settlement (政府买单) with
its XLSX and CSV downloads. Staff see their communities' numbers; admins all."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response
from openpyxl import Workbook  # type: ignore[import-untyped]  # no stubs installed
from openpyxl.styles import Font  # type: ignore[import-untyped]

from i18n import t
from services.reports import (
    Durations,
    category_names,
    league_table,
    median_durations,
    satisfaction_per_organisation,
    tickets_per_category_per_week,
)
from services.settlement import MAX_PERIOD, Settlement, settle
from services.spreadsheet import csv_rows, xlsx_append
from web.dashboard.queue import visible_communities
from web.pages import language, parse_date, render, secure, transaction
from web.sessions import StaffMember
from web.state import request_state

router = APIRouter(include_in_schema=False)
CHART_WEEKS = 12
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MONEY_FORMAT = "#,##0.00"
CENT = Decimal("0.01")


def _timezone(request: Request) -> str:
    return request_state(request).settings.timezone


def _today(request: Request) -> date:
    return datetime.now(ZoneInfo(_timezone(request))).date()


def _period(request: Request, default_start: date, default_end: date) -> tuple[date, date]:
    start = parse_date(request.query_params.get("from"), "from") or default_start
    end = parse_date(request.query_params.get("to"), "to") or default_end
    if end < start:
        start, end = end, start
    if end - start > MAX_PERIOD:
        start = end - MAX_PERIOD
    return start, end


# --- charts -------------------------------------------------------------------------------


@router.get("/dashboard/charts")
async def charts_page(request: Request, staff: StaffMember) -> Response:
    """Tickets per category per week, median times, satisfaction, the 红黑榜."""
    lang = language(request)
    today = _today(request)
    start, end = _period(request, today - timedelta(weeks=CHART_WEEKS) + timedelta(days=1), today)
    timezone, communities = _timezone(request), visible_communities(staff)
    async with transaction(request) as session:
        categories = await category_names(session)
        weekly = await tickets_per_category_per_week(
            session, start=start, end=end, timezone=timezone, communities=communities
        )
        durations = await median_durations(
            session, start=start, end=end, timezone=timezone, communities=communities
        )
        satisfaction = await satisfaction_per_organisation(
            session, start=start, end=end, timezone=timezone, communities=communities
        )
        league = await league_table(session)

    def name(code: str) -> str:
        category = categories.get(code)
        if category is None:
            return code
        return category.name_zh if lang == "zh" else category.name_en

    timed = [c for c in categories if c in durations.to_claim or c in durations.to_done]
    unit, scale = duration_unit(durations)
    data: dict[str, Any] = {
        "weekly": {
            "labels": [week.isoformat() for week in weekly.weeks],
            "datasets": [
                {"label": name(code), "data": weekly.counts[code]}
                for code in categories
                if code in weekly.counts
            ],
        },
        "durations": {
            "labels": [name(code) for code in timed],
            "datasets": [
                {
                    "label": t("dash_chart_to_claim", lang),
                    "data": [round(durations.to_claim.get(c, 0.0) * scale, 1) for c in timed],
                },
                {
                    "label": t("dash_chart_to_done", lang),
                    "data": [round(durations.to_done.get(c, 0.0) * scale, 1) for c in timed],
                },
            ],
        },
        "satisfaction": {
            "labels": [s.name for s in satisfaction],
            "datasets": [
                {
                    "label": t("dash_chart_rating", lang),
                    "data": [round(s.average, 2) for s in satisfaction],
                }
            ],
        },
    }
    return render(
        request,
        "dashboard/charts.html",
        {
            "start": start,
            "end": end,
            "data": data,
            "durations": durations,
            "duration_unit": unit,
            "overall_to_claim": _scaled(durations.overall_to_claim, scale),
            "overall_to_done": _scaled(durations.overall_to_done, scale),
            "satisfaction": satisfaction,
            "league": league,
        },
    )


def duration_unit(durations: Durations) -> tuple[str, float]:
    """The unit the median times read in, and the factor from hours: minutes when every
    time is under an hour ("0.3 h" says nothing), else hours."""
    every = [
        *durations.to_claim.values(),
        *durations.to_done.values(),
        *(v for v in (durations.overall_to_claim, durations.overall_to_done) if v is not None),
    ]
    return ("minutes", 60.0) if every and max(every) < 1.0 else ("hours", 1.0)


def _scaled(value: float | None, scale: float) -> str:
    return f"{value * scale:.1f}" if value is not None else "–"


# --- settlement ---------------------------------------------------------------------------


async def _settlement(request: Request, staff: StaffMember) -> Settlement:
    today = _today(request)
    start, end = _period(request, today.replace(day=1), today)
    async with transaction(request) as session:
        return await settle(
            session,
            start=start,
            end=end,
            timezone=_timezone(request),
            communities=visible_communities(staff),
        )


@router.get("/dashboard/settlement")
async def settlement_page(request: Request, staff: StaffMember) -> Response:
    """Per organisation: the period's paid tickets, unit prices, ratings and totals."""
    result = await _settlement(request, staff)
    query = f"from={result.start.isoformat()}&to={result.end.isoformat()}"
    return render(request, "dashboard/settlement.html", {"s": result, "query": query})


def _headings(lang: str) -> list[str]:
    keys = ("organisation", "number", "category", "done", "closed", "rating", "price")
    return [t(f"dash_settle_col_{key}", lang) for key in keys]


def settlement_rows(result: Settlement, lang: str, timezone: str) -> list[list[Any]]:
    """The sheet: one row per ticket, a subtotal per organisation, the grand total.
    Money stays Decimal; the writer decides how to show it."""
    zone = ZoneInfo(timezone)
    rows: list[list[Any]] = []
    for organisation in result.organisations:
        for line in organisation.lines:
            rows.append(
                [
                    organisation.name,
                    line.number,
                    line.category_zh if lang == "zh" else line.category_en,
                    line.done_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
                    line.closed_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
                    line.rating if line.rating is not None else "",
                    line.unit_price,
                ]
            )
        rows.append(
            [
                t("dash_settle_subtotal", lang, name=organisation.name, count=organisation.count),
                "",
                "",
                "",
                "",
                organisation.average_rating if organisation.average_rating is not None else "",
                organisation.total,
            ]
        )
    rows.append(
        [t("dash_settle_total", lang, count=result.count), "", "", "", "", "", result.total]
    )
    return rows


def _filename(result: Settlement, extension: str) -> str:
    return f"settlement_{result.start.isoformat()}_{result.end.isoformat()}.{extension}"


def settlement_csv_bytes(result: Settlement, lang: str, timezone: str) -> bytes:
    """The settlement as CSV: money with two decimals, names as text (never formulas)."""
    rows = [
        [v.quantize(CENT) if isinstance(v, Decimal) else v for v in row]
        for row in settlement_rows(result, lang, timezone)
    ]
    return csv_rows([_headings(lang), *rows])


def settlement_xlsx_bytes(result: Settlement, lang: str, timezone: str) -> bytes:
    """The settlement as a workbook: the tickets sheet and a summary sheet; every cell
    through xlsx_append, so names are text (never formulas) and money is numbers."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = t("dash_settle_sheet", lang)
    period = {"start": result.start.isoformat(), "end": result.end.isoformat()}
    xlsx_append(sheet, [t("dash_settle_heading", lang, **period)])
    xlsx_append(sheet, _headings(lang))
    for cell in sheet[2]:
        cell.font = Font(bold=True)
    for row in settlement_rows(result, lang, timezone):
        last = xlsx_append(sheet, row)
        sheet.cell(row=last, column=7).number_format = MONEY_FORMAT
        if row[1] == "":
            for cell in sheet[last]:
                cell.font = Font(bold=True)
    for column, width in zip("ABCDEFG", (24, 18, 12, 18, 18, 8, 12), strict=True):
        sheet.column_dimensions[column].width = width
    summary = book.create_sheet(t("dash_settle_summary", lang))
    xlsx_append(
        summary,
        [
            t("dash_settle_col_organisation", lang),
            t("dash_settle_col_count", lang),
            t("dash_settle_col_rated", lang),
            t("dash_settle_col_average", lang),
            t("dash_settle_col_total", lang),
        ],
    )
    for organisation in result.organisations:
        last = xlsx_append(
            summary,
            [
                organisation.name,
                organisation.count,
                organisation.rated,
                organisation.average_rating if organisation.average_rating is not None else "",
                organisation.total,
            ],
        )
        summary.cell(row=last, column=5).number_format = MONEY_FORMAT
    last = xlsx_append(
        summary,
        [t("dash_settle_total", lang, count=result.count), result.count, "", "", result.total],
    )
    summary.cell(row=last, column=5).number_format = MONEY_FORMAT
    output = io.BytesIO()
    book.save(output)
    return output.getvalue()


@router.get("/dashboard/settlement.csv")
async def settlement_csv(request: Request, staff: StaffMember) -> Response:
    """The settlement as CSV (UTF-8 with a BOM, so spreadsheet programs read Chinese)."""
    result = await _settlement(request, staff)
    response = Response(
        settlement_csv_bytes(result, language(request), _timezone(request)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{_filename(result, "csv")}"'},
    )
    return secure(response)


@router.get("/dashboard/settlement.xlsx")
async def settlement_xlsx(request: Request, staff: StaffMember) -> Response:
    """The settlement as an Excel workbook: the tickets sheet and a summary sheet."""
    result = await _settlement(request, staff)
    response = Response(
        settlement_xlsx_bytes(result, language(request), _timezone(request)),
        media_type=XLSX_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{_filename(result, "xlsx")}"'},
    )
    return secure(response)
