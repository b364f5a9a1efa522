"""The generic Excel writer: sheets of a header and rows, streamed (xlsxwriter's constant_memory
mode writes each row as it comes, so a million-row export holds one row in memory), with a
"About" sheet saying what the file is and which log position it was made at.

Statements and any other export reuse it: `write_workbook(target, about, sheets)`.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import IO, Any

import xlsxwriter

from domain.money import format_money

ABOUT = "About"


@dataclass(frozen=True)
class Money:
    """An amount in fen, written as yuan with two decimals (a number, formatted)."""

    fen: int


@dataclass
class Sheet:
    name: str
    columns: Sequence[str]
    rows: Iterable[Sequence[Any]]
    widths: Sequence[int] | None = None


def write_workbook(target: str | IO[bytes], about: dict[str, Any], sheets: Sequence[Sheet]) -> int:
    """Writes the sheets, then the About sheet (what, as of which position, when made); returns
    the number of data rows written. Money is written as numbers with the fen exact (two
    decimals), times as text in ISO 8601, so a reader gets back what the ledger holds."""
    book = xlsxwriter.Workbook(target, {"constant_memory": True, "in_memory": False})
    bold = book.add_format({"bold": True})
    money = book.add_format({"num_format": "0.00"})
    written = 0
    try:
        for sheet in sheets:
            ws = book.add_worksheet(sheet.name[:31])
            for c, title in enumerate(sheet.columns):
                ws.write_string(0, c, title, bold)
                width = sheet.widths[c] if sheet.widths else max(12, len(title) + 2)
                ws.set_column(c, c, width)
            for r, row in enumerate(sheet.rows, start=1):
                for c, value in enumerate(row):
                    _write(ws, r, c, value, money)
                written += 1
        ws = book.add_worksheet(ABOUT)
        ws.set_column(0, 0, 20)
        ws.set_column(1, 1, 60)
        for r, (key, value) in enumerate(about.items()):
            ws.write_string(r, 0, key, bold)
            _write(ws, r, 1, value, money)
    finally:
        book.close()
    return written


def _write(ws: Any, r: int, c: int, value: Any, money: Any) -> None:
    if value is None:
        return
    if isinstance(value, Money):
        ws.write_number(r, c, value.fen / 100, money)
    elif isinstance(value, bool):
        ws.write_boolean(r, c, value)
    elif isinstance(value, int | float):
        ws.write_number(r, c, value)
    elif isinstance(value, datetime | date):
        ws.write_string(r, c, value.isoformat())
    else:
        ws.write_string(r, c, str(value))


def money_text(fen: int) -> str:
    return format_money(fen)
