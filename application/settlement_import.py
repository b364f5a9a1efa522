"""Importing a carrier settlement file (decision 0028): read, check every row, then apply.

1. The file's content hash: a file already imported changes nothing and says so.
2. Every row is parsed by the carrier's column profile and decided as the ledger would decide
   it (cards, plans and rows already recorded read in bulk), without saving anything. A row
   whose id is already recorded with the same data is "unchanged"; with other data it is
   ROW_CHANGED (reported, never applied).
3. All or nothing by default: any problem refuses the whole file and nothing is saved.
   `accept_valid` applies the good rows and reports the rest.
4. The good rows are saved 500 per command (RecordSettlementRows), then the import's record
   (RecordSettlementImport, by hash: who, when, counts, the problems). Each row is decided once:
   the check keeps its decision (CheckedRow) and the save reuses it, unless something the
   decisions read was recorded after the check began; then the save decides again (0034).
"""

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from application.ledger import Ledger
from application.log import LedgerLog
from application.settlement_files import (
    INPUT_NAMES,
    Columns,
    Problem,
    Profile,
    parse_row,
    read_rows,
)
from application.use_cases.settlements import (
    CheckedRow,
    CheckedRows,
    CheckPoint,
    RecordSettlementImport,
    RecordSettlementRows,
    RowDecider,
    SettlementRow,
)
from domain.common import Audit, aggregate_id
from domain.errors import LedgerError
from domain.settlement import CarrierSettlement
from domain.settlement_import import MAX_PROBLEMS_KEPT, SettlementImport

CHUNK = 500  # rows per command: the most a command's list may hold
Checked = tuple[SettlementRow, CheckedRow]


@dataclass
class ImportReport:
    """What an import did, row by row where something was wrong."""

    file_hash: str
    file_name: str
    profile: str
    status: str  # APPLIED, PARTIAL (some rows refused), REFUSED, ALREADY_IMPORTED
    rows: int = 0
    applied: int = 0
    unchanged: int = 0
    problems: list[Problem] = field(default_factory=list)
    agent_share_fen: int = 0
    platform_share_fen: int = 0
    position: int | None = None  # the log position of the import's record
    recorded_by: str | None = None
    recorded_at: Any = None

    @property
    def refused(self) -> int:
        return len({p.row for p in self.problems if p.row > 1})

    def message(self) -> str:
        if self.status == "ALREADY_IMPORTED":
            return (
                f"this file was already imported by {self.recorded_by} at {self.recorded_at}:"
                " nothing changed"
            )
        if self.status == "REFUSED":
            return (
                f"{self.refused} of {self.rows} rows have problems: nothing was applied"
                " (--accept-valid applies the good rows)"
            )
        return (
            f"{self.applied} rows applied, {self.unchanged} already recorded unchanged,"
            f" {self.refused} refused"
        )


def file_hash(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def previous_import(ledger: Ledger, digest: str) -> SettlementImport | None:
    return ledger._find(SettlementImport, aggregate_id("settlement-import", digest))


def report_of(record: SettlementImport, status: str = "ALREADY_IMPORTED") -> ImportReport:
    return ImportReport(
        file_hash=record.file_hash,
        file_name=record.file_name,
        profile=record.profile,
        status=status,
        rows=record.rows,
        applied=record.applied,
        unchanged=record.unchanged,
        problems=[Problem(*p) for p in record.problems],
        recorded_by=record.actor,
        recorded_at=record.effective_at.isoformat(),
    )


@dataclass
class SettlementImporter:
    ledger: Ledger
    profile: Profile
    audit: Audit
    accept_valid: bool = False
    # (phase, rows done, rows in the phase or None while unknown): "checking", then "applying"
    progress: Callable[[str, int, int | None], None] | None = None
    # the sending key's carrier: rows on other carriers' cards are refused
    carrier: str | None = field(default=None, kw_only=True)

    def run(self, content: bytes, file_name: str) -> ImportReport:
        digest = file_hash(content)
        if (known := previous_import(self.ledger, digest)) is not None:
            return report_of(known)
        report = ImportReport(digest, file_name[:200] or "file", self.profile.name, "APPLIED")
        # Where the check reads the ledger from: its decisions are reused by the save if
        # nothing they read was recorded after it (decision 0034).
        checked_at = self.ledger.recorder.max_notification_id() or 0  # type: ignore[attr-defined]
        good = self._check(read_rows(content, file_name), report)
        if report.problems and not self.accept_valid:
            report.status = "REFUSED"
            return report
        self._apply(good, checked_at, report)
        if report.problems:
            report.status = "PARTIAL"
        done = self.ledger.commit(
            RecordSettlementImport(
                digest,
                report.file_name,
                self.profile.name,
                report.rows,
                report.applied,
                report.unchanged,
                report.refused,
                tuple(
                    (p.row, p.column, p.code, p.message[:2000])
                    for p in report.problems[:MAX_PROBLEMS_KEPT]
                ),
                self.audit,
            )
        )
        report.position = done.position
        report.recorded_by = self.audit.recorded_actor
        report.recorded_at = self.audit.effective_at.isoformat()
        return report

    # -- checking ---------------------------------------------------------------------------------
    def _check(self, rows: Iterator[list[Any]], report: ImportReport) -> list[Checked]:
        header = next(rows, None)
        if header is None:
            report.problems.append(Problem(1, None, "EMPTY_FILE", "the file has no header row"))
            return []
        columns, problems = Columns.of(header, self.profile)
        if problems:
            report.problems += problems
            return []
        good: list[Checked] = []
        seen: dict[str, SettlementRow] = {}
        numbered = ((n, cells) for n, cells in enumerate(rows, start=2) if any(_filled(cells)))
        while chunk := list(islice(numbered, CHUNK)):
            parsed = []
            for number, cells in chunk:
                report.rows += 1
                row, found = parse_row(number, cells, columns, self.profile)
                if row is None:
                    report.problems += found
                elif row[0] in seen:
                    self._repeated(number, row, seen[row[0]], columns, report)
                else:
                    seen[row[0]] = row
                    parsed.append((number, row))
            good += self._decide(parsed, columns, report)
            if self.progress:
                self.progress("checking", report.rows, None)
        report.problems.sort(key=lambda p: p.row)  # stable: a row's cells stay in column order
        return good

    def _repeated(
        self, number: int, row: SettlementRow, first: SettlementRow, columns: Columns,
        report: ImportReport,
    ) -> None:  # fmt: skip
        if row == first:
            report.unchanged += 1
            return
        report.problems.append(
            Problem(number, columns.column("row_id"), "ROW_CHANGED",
                    f"row id '{row[0]}' appears earlier in the file with other data")
        )  # fmt: skip

    def _decide(
        self, parsed: list[tuple[int, SettlementRow]], columns: Columns, report: ImportReport
    ) -> list[Checked]:
        """Rows decided as the ledger would; rows already recorded compared with the record."""
        ids = [CarrierSettlement.create_id(row[0]) for _, row in parsed]
        recorded = self.ledger.recorder.select_histories(ids)  # type: ignore[attr-defined]
        decider = RowDecider(self.ledger, self.audit, carrier=self.carrier)
        decider.load([row[1] for _, row in parsed])
        good = []
        for (number, row), row_aggregate in zip(parsed, ids, strict=True):
            stored = recorded.get(row_aggregate)
            if stored:
                self._known(number, row, stored, columns, report)
                continue
            try:
                checked = decider.check(row)
            except LedgerError as exc:
                column = columns.column(INPUT_NAMES.get(exc.field or "", "iccid"))
                report.problems.append(Problem(number, column, exc.code, exc.message))
                continue
            good.append((row, checked))
        return good

    def _known(
        self, number: int, row: SettlementRow, stored: list[Any], columns: Columns,
        report: ImportReport,
    ) -> None:  # fmt: skip
        event = self.ledger.mapper.decode_all(stored[:1])[0]  # type: ignore[attr-defined]
        before = (
            event.row_id, event.iccid, event.period, event.total_fen, event.network_status,
            event.no_arrears, event.no_suspension, event.no_complaint, event.periods_used,
        )  # fmt: skip
        if before == tuple(row):
            report.unchanged += 1
            return
        changed = [name for name, a, b in zip(_NAMES, before, row, strict=True) if a != b]
        report.problems.append(
            Problem(
                number,
                columns.column("row_id"),
                "ROW_CHANGED",
                f"row '{row[0]}' was recorded before with other {', '.join(changed)}:"
                " not applied (a correction is a row of its own)",
            )
        )

    # -- applying ---------------------------------------------------------------------------------
    def _apply(self, good: list[Checked], checked_at: int, report: ImportReport) -> None:
        since = CheckPoint(checked_at)
        for start in range(0, len(good), CHUNK):
            chunk = good[start : start + CHUNK]
            command = RecordSettlementRows.checked(
                report.file_hash,
                tuple(row for row, _ in chunk),
                self.audit,
                CheckedRows(since, tuple(checked for _, checked in chunk)),
                self.carrier,
            )
            done = self.ledger.commit(command)
            report.applied += done.result.rows
            report.agent_share_fen += done.result.agent_share_fen
            report.platform_share_fen += done.result.platform_share_fen
            if self.progress:
                self.progress("applying", report.applied, len(good))


_NAMES = (
    "rowId", "iccid", "period", "totalCommission", "networkStatus", "noArrears",
    "noSuspension", "noComplaint", "periodsUsed",
)  # fmt: skip


def _filled(cells: list[Any]) -> Iterator[bool]:
    return (c is not None and str(c).strip() != "" for c in cells)


def recorded_imports(ledger: Ledger, up_to: int) -> list[tuple[int, Any]]:
    """Every import recorded at or before a log position, with its position, newest first."""
    log = LedgerLog(ledger)
    found = [
        (notification.id, event)
        for page in log.pages([SettlementImport.Recorded], up_to)
        for notification, event in zip(page, log.decode(page), strict=True)
    ]
    return found[::-1]
