"""Carriers' reports in: pushed (api/carrier_reports.py) or polled (application/carrier_polls.py),
each handed to the cards area's use cases (the CardReports port), which record it once by its id
and place it by its own time (decision 0031).

A card-state report refused (an unknown card, a time ahead of the clock) does not refuse the
others: it comes back in `errors`, the rest are recorded. Usage goes in as one batch (the usage
store's bulk path). A month-to-date counter (what OneLink, Control Center and CMP answer when
asked) is stored as one period covering the billing month: the newest report of it wins, so the
month's total is the carrier's latest count, however often it was polled.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, tzinfo
from typing import Any

from application.carriers import CardReports, CardStateReport, MonthToDate
from application.usage import UsageReport
from domain.common import Audit
from domain.errors import LedgerError


@dataclass
class ReportsRecorded:
    recorded: int = 0
    duplicates: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)


def month_to_date(report: MonthToDate, zone: tzinfo) -> UsageReport:
    """The counter as a usage report whose period is its whole billing month (business time)."""
    local = report.reported_at.astimezone(zone).date()
    first = local.replace(day=1)
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return UsageReport(
        iccid=report.iccid,
        report_id=report.report_id,
        bytes_used=report.bytes_used,
        reported_at=report.reported_at,
        period_start=datetime.combine(first, time(), zone),
        period_end=datetime.combine(following, time(), zone),
    )


class LedgerCardReports:
    """CardReports through the ledger's use cases and the usage store."""

    def __init__(
        self, ledger: Any, record_usage: Callable[[Sequence[UsageReport], str, str], Any]
    ) -> None:
        self.ledger = ledger
        self.record_usage = record_usage  # application/usage.py's, with the composition's store

    def record_carrier_card_state(
        self,
        iccid: str,
        carrier: str,
        raw_state: str,
        reported_at: datetime,
        report_id: str,
        actor: str,
    ) -> Any:
        audit = Audit(actor, self.ledger.clock.now(), f"carrier report {report_id}")
        return self.ledger.record_carrier_card_state(
            iccid, carrier, raw_state, reported_at, report_id, audit
        )

    def record_usage_reports(self, reports: Sequence[UsageReport], actor: str, carrier: str) -> Any:
        return self.record_usage(reports, actor, carrier)


class CarrierReportIntake:
    def __init__(self, cards: CardReports, zone: tzinfo) -> None:
        self.cards = cards
        self.zone = zone

    def record(
        self,
        actor: str,
        states: Sequence[CardStateReport],
        usage: Sequence[UsageReport],
        carrier: str | None = None,
    ) -> ReportsRecorded:
        """`carrier`: who sent the usage (required with usage): its reports on another
        carrier's cards are refused one by one, as its state reports are."""
        done = ReportsRecorded()
        # Oldest first: several reports of one card in a batch are applied in the order they
        # happened, whatever order the carrier sent them in (a later batch with an older report
        # is the use case's to place: kept as history, never as now).
        for report in sorted(states, key=lambda r: r.reported_at):
            try:
                result = self.cards.record_carrier_card_state(
                    report.iccid,
                    report.carrier,
                    report.raw_state,
                    report.reported_at,
                    report.report_id,
                    actor,
                )
            except LedgerError as exc:
                done.errors.append(
                    {"reportId": report.report_id, "code": exc.code, "message": exc.message}
                )
                continue
            if getattr(result, "outcome", None) == "DUPLICATE":
                done.duplicates += 1
            else:
                done.recorded += 1
        if usage:
            self._record_usage(actor, usage, carrier, done)
        return done

    def _record_usage(
        self, actor: str, usage: Sequence[UsageReport], carrier: str | None, done: ReportsRecorded
    ) -> None:
        if carrier is None:
            raise ValueError("usage reports need the carrier that sent them")
        try:
            ingested = self.cards.record_usage_reports(list(usage), actor, carrier)
        except LedgerError as exc:
            done.errors.extend(
                {"reportId": r.report_id, "code": exc.code, "message": exc.message} for r in usage
            )
            return
        done.recorded += ingested.accepted
        done.duplicates += ingested.duplicates
        for report_id, iccid, theirs in ingested.other_carriers:
            message = f"card {iccid} is reported on by {theirs}, not {carrier}"
            done.errors.append({"reportId": report_id, "code": "INVALID_STATE", "message": message})

    def record_polled(
        self, actor: str, states: Sequence[CardStateReport], counters: Sequence[MonthToDate]
    ) -> ReportsRecorded:
        done = self.record(actor, states, [])
        by_carrier: dict[str, list[UsageReport]] = {}
        for counter in counters:
            by_carrier.setdefault(counter.carrier, []).append(month_to_date(counter, self.zone))
        for carrier, usage in by_carrier.items():
            self._record_usage(actor, usage, carrier, done)
        return done
