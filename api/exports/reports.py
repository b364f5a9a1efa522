"""What each export holds: `fenrun export <what>` and `GET /v1/exports/<what>.xlsx` (decision
0028). Every export is made as of a log position (asOf resolved to one) and says which in its
About sheet; the roles that may fetch it are those of the GraphQL field it mirrors."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

from api.exports.workbook import Money, Sheet, write_workbook
from application.settlement_import import ImportReport
from projections import exports as reads
from projections.queries import ReadModel


@dataclass(frozen=True)
class Export:
    title: str
    mirrors: str  # the GraphQL query field whose roles apply
    views: tuple[str, ...]  # the views it reads (the position is one they have all reached)
    sheet: Callable[[ReadModel, int], Sheet]


def _commissions(read: ReadModel, at: int) -> Sheet:
    return Sheet(
        "Commissions",
        (
            "id",
            "agent",
            "kind",
            "status",
            "amount",
            "original",
            "source",
            "order",
            "iccid",
            "plan",
            "rule",
            "effective at",
            "recorded at",
            "position",
        ),
        (
            (
                r["id"],
                r["agent_code"],
                r["kind"],
                r["status"],
                Money(r["amount_fen"]),
                Money(r["original_fen"]),
                r["source"],
                r["order_id"],
                r["iccid"],
                r["plan_code"],
                r["rule_code"],
                r["effective_at"],
                r["recorded_at"],
                r["position"],
            )
            for r in reads.commission_ledger(read, at)
        ),
    )


def _platform_months(read: ReadModel, at: int) -> Sheet:
    return Sheet(
        "Platform months",
        (
            "month",
            "income",
            "refunded",
            "price differences",
            "frozen",
            "unfreezing",
            "approved",
            "voided",
            "clawed back",
            "agent credits",
            "net",
        ),
        (
            (
                f"{r['month']:%Y-%m}",
                Money(r["income_fen"]),
                Money(r["refunded_fen"]),
                Money(r["price_difference_fen"]),
                Money(r["frozen_fen"]),
                Money(r["unfreezing_fen"]),
                Money(r["approved_fen"]),
                Money(r["voided_fen"]),
                Money(r["clawed_back_fen"]),
                Money(r["agent_credits_fen"]),
                Money(r["net_fen"]),
            )
            for r in reads.platform_months(read, at)
        ),
    )


def _team_performance(read: ReadModel, at: int) -> Sheet:
    return Sheet(
        "Team performance",
        (
            "agent",
            "month",
            "personal amount",
            "personal orders",
            "team amount",
            "team orders",
            "activations",
            "card income",
            "team card income",
        ),
        (
            (
                r["agent_code"],
                f"{r['month']:%Y-%m}",
                Money(r["personal_fen"]),
                r["personal_orders"],
                Money(r["team_fen"]),
                r["team_orders"],
                r["activations"],
                Money(r["card_income_fen"]),
                Money(r["team_card_income_fen"]),
            )
            for r in reads.team_performance(read, at)
        ),
    )


def _activations(read: ReadModel, at: int) -> Sheet:
    return Sheet(
        "Activations",
        ("agent", "month (as reported)", "count", "of which took effect earlier"),
        (
            (r["agent_code"], f"{r['month']:%Y-%m}", r["count"], r["late"])
            for r in reads.activation_report(read, at)
        ),
    )


EXPORTS: dict[str, Export] = {
    "commissions": Export("Commission ledger", "commissions", ("commissions",), _commissions),
    "platform-month": Export(
        "Platform months", "platformMonth", ("platform_months",), _platform_months
    ),
    "team-performance": Export(
        "Team performance",
        "teamPerformance",
        ("directory", "team_performance"),
        _team_performance,
    ),
    "activations": Export("Activation report", "activationReport", ("activations",), _activations),
}


def about(title: str, position: int, as_of: datetime | None, by: str) -> dict[str, Any]:
    return {
        "export": title,
        "log position": position,
        "as of": as_of.isoformat() if as_of else "the latest position",
        "made at": datetime.now(UTC).isoformat(),
        "made by": by,
    }


def write_export(
    what: str, read: ReadModel, position: int, as_of: datetime | None, by: str,
    target: str | IO[bytes],
) -> int:  # fmt: skip
    export = EXPORTS[what]
    sheet = export.sheet(read, position)
    return write_workbook(target, about(export.title, position, as_of, by), [sheet])


def write_import_report(report: ImportReport, target: str | IO[bytes]) -> int:
    """A carrier file's row report: each problem, and the import's counts in About."""
    info = {
        "export": "Settlement import report",
        "file": report.file_name,
        "sha256": report.file_hash,
        "profile": report.profile,
        "status": report.status,
        "rows": report.rows,
        "applied": report.applied,
        "unchanged": report.unchanged,
        "refused": report.refused,
        "log position": report.position if report.position is not None else "nothing recorded",
        "recorded by": report.recorded_by or "",
        "recorded at": report.recorded_at or "",
    }
    sheet = Sheet(
        "Problems",
        ("row", "column", "code", "message"),
        ((p.row, p.column, p.code, p.message) for p in report.problems),
        widths=(8, 16, 22, 90),
    )
    return write_workbook(target, info, [sheet])
