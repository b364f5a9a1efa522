"""A reconciliation run as Excel (decision 0032): its differences with both sides' values and
their status as of the read, the decisions on them, and in About what was compared, at which
log position it compared, and at which position the file was made."""

from datetime import UTC, datetime
from typing import IO

from api.exports.workbook import Money, Sheet, write_workbook
from application.reconciliation import RecordedRun
from domain.reconciliation import Item


def write_reconciliation_report(
    found: RecordedRun, at: int, made_by: str, target: str | IO[bytes]
) -> int:
    run = found.run
    items = [Item.of(i) for i in run["items"]]
    about = {
        "export": "Reconciliation report",
        "run": run["run_id"],
        "kind": run["kind"],
        "subject": run["subject"],
        "sources": ", ".join(run["sources"]),
        "compared at log position": run["through"],
        "recorded at log position": found.position,
        "recorded by": run["actor"],
        "recorded at": run["effective_at"],
        "matched": run["matched"],
        "differences": len(items),
        "ours total": Money(run["ours_fen"]),
        "theirs total": Money(run["theirs_fen"]),
        "log position": at,
        "made by": made_by,
        "made at": datetime.now(UTC),
    }
    differences = Sheet(
        "Differences",
        (
            "item",
            "rule",
            "key",
            "difference",
            "ours",
            "theirs",
            "gap",
            "our status",
            "their status",
            "our sources",
            "their sources",
            "status",
        ),
        (
            (
                i.id,
                i.rule,
                i.key,
                i.difference.value,
                None if i.ours_fen is None else Money(i.ours_fen),
                None if i.theirs_fen is None else Money(i.theirs_fen),
                Money(i.gap_fen),
                i.ours_status,
                i.theirs_status,
                "; ".join(i.ours_refs),
                "; ".join(i.theirs_refs),
                found.statuses.get(i.id, "OPEN"),
            )
            for i in items
        ),
    )
    decisions = Sheet(
        "Decisions",
        ("item", "status", "amount", "actor", "reason", "effective at", "position"),
        (
            (
                d["item_id"],
                d["status"],
                Money(d["amount_fen"]),
                d["actor"],
                d["reason"],
                d["effective_at"],
                d["position"],
            )
            for d in found.decisions
        ),
    )
    return write_workbook(target, about, [differences, decisions])
