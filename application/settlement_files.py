"""Carrier settlement files: column profiles (configuration), reading xlsx/xls/csv, and turning
each row into a settlement row or the problems found in it (decision 0028).

Profiles are TOML: the one shipped beside this module, and a company's own file that adds or
replaces profiles by name. Cells are checked with the domain's own value types and money
parser, so a row refused here would have been refused by the ledger for the same reason.
"""

import csv
import io
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from python_calamine import CalamineWorkbook

from application.spreadsheet_guard import MAX_ROWS, check_zip_workbook, rows_in_child
from application.use_cases.settlements import SettlementRow
from domain.errors import InvalidInput, LedgerError, SheetTooLarge
from domain.identity import carrier_spoken_for
from domain.money import parse_money
from domain.settlement import NETWORK_STATUSES
from domain.values import CODE, Whole

FIELDS = (
    "row_id",
    "iccid",
    "period",
    "total",
    "network_status",
    "in_arrears",
    "suspended",
    "complained",
    "periods_used",
)
OPTIONAL = ("row_id", "periods_used")
# The API's input name of each field, as the ledger's refusals name them.
INPUT_NAMES = {
    "rowId": "row_id",
    "iccid": "iccid",
    "period": "period",
    "totalCommission": "total",
    "networkStatus": "network_status",
    "noArrears": "in_arrears",
    "periodsUsed": "periods_used",
}
FORMATS = (".xlsx", ".xlsm", ".xls", ".xlsb", ".ods", ".csv")
_PERIOD = re.compile(r"^(\d{4})\D?(0[1-9]|1[0-2])(?:\D?\d{1,2})?$", re.ASCII)
_PERIODS_USED = Whole(0, 1200)


@dataclass(frozen=True)
class Problem:
    """What is wrong with a row: its number in the file (the header is row 1), the column as
    the file names it (None: the row as a whole), a code and a message."""

    row: int
    column: str | None
    code: str
    message: str


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    headers: dict[str, tuple[str, ...]]  # field -> headers that carry it
    yes: frozenset[str]
    no: frozenset[str]
    statuses: dict[str, str]
    carrier: str | None = None  # whose files these are: only that carrier's keys may use it


def load_profiles(own_file: Path | None = None) -> dict[str, Profile]:
    """The shipped profiles, then the company's own (same names replace shipped ones)."""
    shipped = resources.files("application").joinpath("settlement_profiles.toml").read_text("utf-8")
    found = _profiles(tomllib.loads(shipped))
    if own_file is not None:
        found.update(_profiles(tomllib.loads(Path(own_file).read_text("utf-8"))))
    return found


def _profiles(document: dict[str, Any]) -> dict[str, Profile]:
    found = {}
    for name, body in document.get("profiles", {}).items():
        missing = [f for f in FIELDS if f not in OPTIONAL and not body.get(f)]
        if missing:
            raise ValueError(f"settlement profile '{name}' names no column for {missing}")
        found[name] = Profile(
            name=name,
            description=body.get("description", ""),
            headers={f: tuple(_key(h) for h in body[f]) for f in FIELDS if body.get(f)},
            yes=frozenset(_key(v) for v in body.get("yes", ["是", "Y", "YES", "TRUE", "1"])),
            no=frozenset(_key(v) for v in body.get("no", ["否", "N", "NO", "FALSE", "0"])),
            statuses={_key(k): v for k, v in body.get("statuses", {}).items()},
            carrier=_carrier(name, body.get("carrier")),
        )
        bad = sorted(set(found[name].statuses.values()) - set(NETWORK_STATUSES))
        if bad:
            raise ValueError(f"settlement profile '{name}' maps to unknown statuses {bad}")
    return found


def _carrier(profile: str, value: object) -> str | None:
    if value is None:
        return None
    carrier = carrier_spoken_for(str(value))
    if carrier is None:
        raise ValueError(f"settlement profile '{profile}' names an unknown carrier {value!r}")
    return carrier


def _key(text: object) -> str:
    return str(text).strip().upper()


# -- reading ---------------------------------------------------------------------------------------
def read_rows(content: bytes, file_name: str) -> Iterator[list[Any]]:
    """The file's rows (the first is the header) as cell values: xlsx/xls/ods with calamine,
    the first sheet; csv with the standard library (UTF-8, a BOM allowed, else GB18030)."""
    suffix = Path(file_name).suffix.lower()
    if suffix not in FORMATS:
        raise InvalidInput("file", f"a settlement file is one of {', '.join(FORMATS)}")
    if suffix == ".csv":
        yield from _csv_rows(content)
        return
    if suffix in (".xls", ".xlsb"):
        yield from rows_in_child(content)
        return
    check_zip_workbook(content)
    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(content))
        sheet = workbook.get_sheet_by_index(0)
    except Exception as exc:  # calamine's errors name the broken part of the file
        raise InvalidInput("file", f"the file cannot be read as a spreadsheet: {exc}") from exc
    yield from sheet.iter_rows()


def _csv_rows(content: bytes) -> Iterator[list[Any]]:
    # No byte cap: text costs memory in proportion to its size (the request body limit bounds
    # uploads), and a million-row csv from the command line is larger than the spreadsheet cap.
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = content.decode("gb18030")
        except UnicodeDecodeError:
            raise InvalidInput("file", "the csv file is neither UTF-8 nor GB18030 text") from None
    try:
        for number, row in enumerate(csv.reader(io.StringIO(text, newline="")), start=1):
            if number > MAX_ROWS + 1:
                raise SheetTooLarge("file", f"the file has more than {MAX_ROWS} rows")
            yield row
    except csv.Error as exc:
        raise InvalidInput("file", f"the csv file cannot be read: {exc}") from None


@dataclass
class Columns:
    """Where each field is in this file, by the profile."""

    index: dict[str, int]
    names: dict[str, str]  # field -> the header as the file writes it

    @classmethod
    def of(cls, header: list[Any], profile: Profile) -> tuple["Columns", list[Problem]]:
        keys = [_key(h) for h in header]
        index, names, problems = {}, {}, []
        for f, wanted in profile.headers.items():
            at = next((i for i, k in enumerate(keys) if k in wanted), None)
            if at is None:
                if f not in OPTIONAL:
                    problems.append(
                        Problem(1, None, "MISSING_COLUMN", f"no column {' / '.join(wanted)}")
                    )
                continue
            index[f], names[f] = at, str(header[at]).strip()
        return cls(index, names), problems

    def column(self, field: str) -> str | None:
        return self.names.get(field)


def parse_row(
    number: int, cells: list[Any], columns: Columns, profile: Profile
) -> tuple[SettlementRow | None, list[Problem]]:
    """A file row as the ledger's settlement row, or its problems (every cell is checked)."""
    values: dict[str, Any] = {}
    problems: list[Problem] = []
    for f in FIELDS:
        if f not in columns.index:
            values[f] = None
            continue
        at = columns.index[f]
        cell = cells[at] if at < len(cells) else None
        try:
            values[f] = _PARSERS[f](cell, profile)
        except LedgerError as exc:
            problems.append(Problem(number, columns.column(f), exc.code, exc.message))
    if problems:
        return None, problems
    row_id = values["row_id"] or f"{values['iccid']}/{values['period']}"
    try:
        CODE.check(row_id, "rowId")
    except LedgerError as exc:
        return None, [Problem(number, columns.column("row_id"), exc.code, exc.message)]
    return (
        row_id,
        values["iccid"],
        values["period"],
        values["total"],
        values["network_status"],
        not values["in_arrears"],
        not values["suspended"],
        not values["complained"],
        values["periods_used"],
    ), []


def _text(cell: Any) -> str:
    if cell is None or (isinstance(cell, str) and not cell.strip()):
        return ""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))  # a number read from a spreadsheet: 8986001.0 is "8986001"
    return str(cell).strip()


def _code(field: str) -> Any:
    def parse(cell: Any, _: Profile) -> str | None:
        text = _text(cell)
        if not text:
            if field == "rowId":
                return None
            raise InvalidInput(field, f"{field} is empty")
        return CODE.check(text, field)

    return parse


def _period(cell: Any, _: Profile) -> str:
    if isinstance(cell, datetime | date):
        return f"{cell.year:04d}-{cell.month:02d}"
    text = _text(cell)
    match = _PERIOD.match(text)
    if match is None:
        raise InvalidInput("period", f"'{text[:40]}' is not a month like 2026-03 or 202603")
    return f"{match.group(1)}-{match.group(2)}"


def _money(cell: Any, _: Profile) -> int:
    if isinstance(cell, float | int) and not isinstance(cell, bool):
        # A spreadsheet number: its shortest decimal text, so 30.1 is 30.10, never 30.0999...
        text = (
            format(Decimal(repr(cell)).normalize(), "f") if isinstance(cell, float) else str(cell)
        )
        return parse_money(text, field="totalCommission")
    return parse_money(_text(cell), field="totalCommission")


def _status(cell: Any, profile: Profile) -> str:
    text = _text(cell)
    status = profile.statuses.get(_key(text))
    if status is None:
        known = ", ".join(sorted(profile.statuses))
        raise InvalidInput("networkStatus", f"network status '{text[:40]}' is not one of {known}")
    return status


def _flag(field: str) -> Any:
    def parse(cell: Any, profile: Profile) -> bool:
        if isinstance(cell, bool):
            return cell
        text = _key(_text(cell))
        if text in profile.yes:
            return True
        if text in profile.no:
            return False
        raise InvalidInput(field, f"'{text[:40]}' is neither yes nor no ({field})")

    return parse


def _periods_used(cell: Any, _: Profile) -> int | None:
    text = _text(cell)
    if not text:
        return None
    if not text.isdigit():
        raise InvalidInput("periodsUsed", f"'{text[:40]}' is not a whole number of months")
    return _PERIODS_USED.check(int(text), "periodsUsed")  # type: ignore[no-any-return]


_PARSERS = {
    "row_id": _code("rowId"),
    "iccid": _code("iccid"),
    "period": _period,
    "total": _money,
    "network_status": _status,
    "in_arrears": _flag("inArrears"),
    "suspended": _flag("suspended"),
    "complained": _flag("complained"),
    "periods_used": _periods_used,
}
