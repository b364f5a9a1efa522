"""Running a reconciliation (decision 0032): gather both sides, match them (domain.reconciliation
.match), answer; unless it is a dry run, record the run (RecordReconciliation).

Sources:
- THREE_WAY (a statement cycle): the movement ledger, the approved statements and the paid
  payouts, read from the views by a `ThreeWaySource` (projections/reconciliation_reads.py);
- CHANNEL_STATEMENT: the payment channel's statement file (csv, xlsx: rows of out-request id,
  amount, status) against the payouts the ledger knows;
- CARRIER_RECEIPT (a settlement period): what the carrier paid (its bank receipt) against the
  totals of the settlement rows recorded for the period, file by file (1:N).
"""

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from eventsourcing.utils import get_topic

from application.ledger import Ledger
from application.log import LedgerLog
from application.settlement_files import read_rows
from application.use_cases.reconciliation import RecordReconciliation, item_record
from domain.common import Audit
from domain.errors import InvalidInput
from domain.money import format_money, parse_money
from domain.reconciliation import Entry, Kind, Outcome, Reconciliation, match
from domain.settlement import CarrierSettlement

# The channel's status words in the ledger's (anything else is compared as written).
CHANNEL_STATUSES = {
    "SUCCESS": "PAID", "SUCCEEDED": "PAID", "PAID": "PAID", "成功": "PAID", "已支付": "PAID",
    "FAIL": "FAILED", "FAILED": "FAILED", "失败": "FAILED",
    "PROCESSING": "SUBMITTED", "PENDING": "SUBMITTED", "处理中": "SUBMITTED",
}  # fmt: skip
CHANNEL_COLUMNS = {
    "out_request_id": ("outrequestid", "out_request_id", "商户订单号", "商户单号", "请求单号"),
    "amount": ("amount", "金额", "付款金额", "打款金额"),
    "status": ("status", "状态", "交易状态"),
}


FILE_REASON = "settlement file "


class ThreeWaySource(Protocol):
    def three_way(self, cycle: str, at: int) -> tuple[Outcome, list[str]]:
        """The three-way outcome of a cycle as of position `at`, and the sources it read."""

    def payouts(self, at: int, cycle: str | None) -> list[Entry]:
        """The payouts the ledger knows (keyed by out-request id, with status), optionally only
        those last changed in a cycle."""


@dataclass
class RunReport:
    run_id: str
    kind: str
    subject: str
    sources: list[str]
    through: int
    outcome: Outcome
    dry_run: bool
    recorded_position: int | None = None
    statuses: dict[str, str] = field(default_factory=dict)


def channel_entries(content: bytes, file_name: str) -> list[Entry]:
    """The channel's statement rows: out-request id, amount (yuan), status. Refuses a file
    without those columns or with an unreadable amount (naming the row)."""
    rows = read_rows(content, file_name)
    header = next(rows, None)
    if header is None:
        raise InvalidInput("file", "the channel's statement file has no header row")
    names = [str(h or "").strip().lower().replace(" ", "") for h in header]
    index: dict[str, int] = {}
    for column, known in CHANNEL_COLUMNS.items():
        found = [i for i, n in enumerate(names) if n in known]
        if not found and column != "status":
            raise InvalidInput("file", f"the channel's file has no {column} column ({known[0]})")
        if found:
            index[column] = found[0]
    entries = []
    for number, cells in enumerate(rows, start=2):
        if not any(c is not None and str(c).strip() for c in cells):
            continue
        values = {name: cells[i] if i < len(cells) else None for name, i in index.items()}
        key = str(values["out_request_id"] or "").strip()
        if not key:
            raise InvalidInput("file", f"row {number}: no out-request id")
        amount = values["amount"]
        text = f"{amount:.2f}" if isinstance(amount, float) else str(amount or "").strip()
        try:
            fen = parse_money(text, field="amount")
        except InvalidInput as exc:
            raise InvalidInput("file", f"row {number}: {exc.message}") from exc
        status = str(values.get("status") or "").strip().upper() or None
        entries.append(Entry(key[:200], fen, status, f"row {number}"))
    return entries


def carrier_entries(ledger: Ledger, period: str, up_to: int) -> list[Entry]:
    """The settlement rows recorded for a period by `up_to`, one entry per file (or per row
    recorded without a file), so that one receipt matches several files (1:N)."""
    log = LedgerLog(ledger)
    by_source: dict[str, int] = {}
    for event in log.events([CarrierSettlement.Recorded], up_to):
        if event.period == period:
            # a file's rows carry its name in their reason (the importers' audit)
            reason = str(event.reason)
            source = reason if reason.startswith(FILE_REASON) else "rows recorded one by one"
            by_source[source] = by_source.get(source, 0) + event.total_fen
    return [Entry(period, total, None, source) for source, total in sorted(by_source.items())]


@dataclass
class Reconciler:
    ledger: Ledger
    source: ThreeWaySource
    audit: Audit
    # How far two amounts may differ and still match (outside files only: the three-way
    # compares the ledger with itself, to the fen).
    tolerance_fen: int = 0

    def three_way(self, cycle: str, at: int, dry_run: bool, run_id: str | None = None) -> RunReport:
        outcome, sources = self.source.three_way(cycle, at)
        return self._finish(Kind.THREE_WAY, cycle, sources, at, outcome, dry_run, run_id)

    def channel(
        self, content: bytes, file_name: str, at: int, dry_run: bool, cycle: str | None = None,
        run_id: str | None = None,
    ) -> RunReport:  # fmt: skip
        theirs = channel_entries(content, file_name)
        ours = self.source.payouts(at, cycle)
        outcome = match("channel", ours, theirs, statuses=CHANNEL_STATUSES,
                        tolerance_fen=self.tolerance_fen)  # fmt: skip
        subject = f"{file_name[:150]}" + (f" ({cycle})" if cycle else "")
        sources = ["payouts", f"channel file {file_name[:150]}"]
        return self._finish(Kind.CHANNEL_STATEMENT, subject, sources, at, outcome, dry_run,
                            run_id)  # fmt: skip

    def carrier_receipt(
        self, period: str, amount_fen: int, at: int, dry_run: bool, run_id: str | None = None
    ) -> RunReport:
        ours = carrier_entries(self.ledger, period, at)
        theirs = [Entry(period, amount_fen, None, "bank receipt")]
        outcome = match("carrier-receipt", ours, theirs, tolerance_fen=self.tolerance_fen)
        sources = ["settlement files", "carrier bank receipt"]
        return self._finish(Kind.CARRIER_RECEIPT, period, sources, at, outcome, dry_run, run_id)

    def _finish(
        self, kind: Kind, subject: str, sources: Sequence[str], at: int, outcome: Outcome,
        dry_run: bool, run_id: str | None,
    ) -> RunReport:  # fmt: skip
        if self.tolerance_fen and kind != Kind.THREE_WAY:
            sources = [*sources, f"tolerance {format_money(self.tolerance_fen)}"]
        report = RunReport(run_id or f"R-{uuid.uuid4().hex[:16]}", kind.value, subject,
                           list(sources), at, outcome, dry_run)  # fmt: skip
        if dry_run:
            return report
        done = self.ledger.commit(
            RecordReconciliation(
                report.run_id, kind.value, subject[:200], tuple(s[:200] for s in sources), at,
                outcome.matched, outcome.ours_fen, outcome.theirs_fen,
                tuple(item_record(i) for i in outcome.items), self.audit,
            )
        )  # fmt: skip
        # the run's own event (the commit's position may be a later record of the same write)
        recorder: Any = self.ledger.recorder
        at_event = recorder.position_of(Reconciliation.create_id(report.run_id))
        report.recorded_position = at_event or done.position
        return report


@dataclass
class RecordedRun:
    """A run as known at a log position: its record and its items' settlement so far."""

    position: int
    run: dict[str, Any]
    statuses: dict[str, str] = field(default_factory=dict)
    decisions: list[dict[str, Any]] = field(default_factory=list)


def recorded_runs(
    ledger: Ledger,
    up_to: int,
    kind: str | None = None,
    first: int | None = None,
    before: int | None = None,
) -> list[RecordedRun]:
    """The runs recorded at or before a log position (and before position `before`, a page's
    cursor) with what was decided on their items by then, newest first; at most `first`.
    Only the runs answered are read and decoded (a run keeps up to 5,000 items)."""
    log = LedgerLog(ledger)
    topic = get_topic(Reconciliation.Recorded)
    cursor = min(up_to + 1, before if before is not None else up_to + 1)
    found: list[RecordedRun] = []
    size = (first or 100) + 1
    while first is None or len(found) < first:
        heads = log.recorder.select_latest(topic, cursor, size)
        if not heads:
            break
        runs = _runs(log, [originator for _, originator in heads], up_to)
        for _, originator in heads:
            run = runs.get(originator)
            if run is not None and (kind is None or run.run["kind"] == kind):
                found.append(run)
        cursor = heads[-1][0]
    return found if first is None else found[:first]


def _runs(log: LedgerLog, originator_ids: list[Any], up_to: int) -> dict[Any, RecordedRun]:
    runs: dict[Any, RecordedRun] = {}
    page = log.recorder.select_positioned(originator_ids, up_to)
    for notification, event in zip(page, log.decode(page), strict=True):
        _fold(runs, notification.id, event)
    return runs


def _fold(runs: dict[Any, RecordedRun], position: int, event: Any) -> None:
    if isinstance(event, Reconciliation.Recorded):
        runs[event.originator_id] = RecordedRun(position, {
            "run_id": event.run_id, "kind": event.kind, "subject": event.subject,
            "sources": event.sources, "through": event.through, "matched": event.matched,
            "ours_fen": event.ours_fen, "theirs_fen": event.theirs_fen, "items": event.items,
            "actor": event.actor, "effective_at": event.effective_at,
        })  # fmt: skip
        return
    run = runs.get(event.originator_id)
    if run is None:
        return
    status = {
        Reconciliation.ItemResolved: "RESOLVED",
        Reconciliation.WriteOffProposed: "WRITE_OFF_PROPOSED",
        Reconciliation.WrittenOff: "WRITTEN_OFF",
    }[type(event)]
    run.statuses[event.item_id] = status
    run.decisions.append({
        "item_id": event.item_id, "status": status, "actor": event.actor,
        "reason": event.reason, "effective_at": event.effective_at, "position": position,
        "amount_fen": getattr(event, "amount_fen", 0),
    })  # fmt: skip


def find_run(ledger: Ledger, run_id: str, up_to: int) -> RecordedRun | None:
    """One run by its id as of a log position: its own events only, never the other runs'."""
    originator = Reconciliation.create_id(run_id)
    return _runs(LedgerLog(ledger), [originator], up_to).get(originator)


def entries(rows: Iterable[tuple[str, int, str | None, str | None]]) -> list[Entry]:
    return [Entry(*r) for r in rows]
