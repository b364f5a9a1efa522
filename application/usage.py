"""Usage: carriers' data-usage reports, ingested in bulk, and the quota rules they trigger.

Usage is high volume (a million cards reporting daily), so it is NOT one event per report: the
reports are rows, written in bulk and aggregated per card per day and per month by a store
(projections/usage.py, PostgreSQL, partitioned by month). What the quota rules *decide* is an
event (Card.CarrierCommandDecided, Enterprise.CarrierCommandsDecided), and the decisions are
made on the aggregates, with the usage read from the store (decision 0030).

A report says how many bytes the card used in its period (a day, or a part of one), as of
`reported_at`. The same period reported again replaces the earlier report if it is newer (a
carrier's correction); an older one never overrides a newer one. Each report id counts once.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from application.use_cases.card_management import DecideCardQuota, DecideEnterpriseQuota
from domain.common import Audit
from domain.errors import InvalidInput, LedgerError
from domain.usage import Ingested, UsageReport

__all__ = ["Ingested", "UsageRecorded", "UsageReport", "UsageStore", "record_usage_reports"]

if TYPE_CHECKING:
    from application.ledger import Ledger

MAX_BATCH = 100_000  # reports per call: a carrier's file is sent in batches of this size
# How far back a report may be dated (older months may be pruned: decision 0030), and ahead.
OLDEST_DAYS = 400
AHEAD_DAYS = 1


class UsageStore(Protocol):
    """Where usage lives (projections/usage.py)."""

    def ingest(self, reports: Sequence[UsageReport], carrier: str | None = None) -> Ingested: ...

    def card_month_bytes(self, iccid: str, month: date) -> int: ...

    def cards_month_bytes(self, iccids: Sequence[str], month: date) -> dict[str, int]: ...

    def month_of(self, moment: datetime) -> date: ...


@dataclass(frozen=True)
class UsageRecorded:
    accepted: int
    duplicates: int
    commands_decided: int
    refused: list[tuple[str, LedgerError]]  # (card or enterprise, why its rule was not run)
    # (report id, card, its carrier): not stored, the card is another carrier's
    other_carriers: list[tuple[str, str, str]] = field(default_factory=list)


def record_usage_reports(
    ledger: "Ledger",
    store: UsageStore,
    reports: Sequence[UsageReport],
    actor: str,
    carrier: str | None = None,
) -> UsageRecorded:
    """Ingests a batch (idempotent per report id) and runs the quota rules where it may have
    crossed a quota. The rows are committed first: a rule that fails leaves them stored, and
    the next batch (or a pool top-up) runs it again."""
    if len(reports) > MAX_BATCH:
        raise InvalidInput("reports", f"at most {MAX_BATCH} usage reports per batch")
    today = ledger.clock.now().astimezone(ledger.business_tz).date()
    first, last = today - timedelta(days=OLDEST_DAYS), today + timedelta(days=AHEAD_DAYS)
    for index, report in enumerate(reports):
        if not first <= report.business_day(ledger.business_tz) <= last:
            raise InvalidInput(
                "reports",
                f"report {index} ({report.report_id}) is for a day outside {first} .. {last}",
            )
    ingested = store.ingest(reports, carrier)
    decided, refused = 0, []
    now = ledger.clock.now()
    for iccid, month in ingested.personal_candidates:
        why = Audit(actor, now, f"usage reported for {month:%Y-%m} over the package quota")
        try:
            decided += ledger.execute(
                DecideCardQuota(iccid, f"{month:%Y-%m}", why)
            ).commands_decided
        except LedgerError as exc:
            refused.append((iccid, exc))
    for code, month in ingested.enterprise_candidates:
        why = Audit(actor, now, f"usage reported for {month:%Y-%m} by the pool's cards")
        try:
            decided += ledger.execute(
                DecideEnterpriseQuota(code, f"{month:%Y-%m}", why)
            ).commands_decided
        except LedgerError as exc:
            refused.append((code, exc))
    return UsageRecorded(
        ingested.accepted, ingested.duplicates, decided, refused, ingested.other_carriers
    )
