"""Carriers' reports in: pushed (api/carrier_reports.py) or polled (application/carrier_polls.py),
each handed to the cards area's use cases (the CardReports port), which record it once by its id
and place it by its own time. One report refused (an unknown card) does not refuse the others:
it comes back in `errors`, the rest are recorded."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from application.carriers import CardReports, CardStateReport, UsageReport
from domain.errors import LedgerError


@dataclass
class ReportsRecorded:
    recorded: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)


class CarrierReportIntake:
    def __init__(self, cards: CardReports) -> None:
        self.cards = cards

    def record(
        self, actor: Any, states: Sequence[CardStateReport], usage: Sequence[UsageReport]
    ) -> ReportsRecorded:
        done = ReportsRecorded()
        # Oldest first: a batch that holds several reports of one card is then applied in the
        # order they happened, whatever order the carrier sent them in.
        for report in sorted(states, key=lambda r: r.reported_at):
            try:
                self.cards.record_carrier_card_state(
                    report.iccid,
                    report.carrier,
                    report.raw_state,
                    report.reported_at,
                    report.report_id,
                )
            except LedgerError as exc:
                done.errors.append(
                    {"reportId": report.report_id, "code": exc.code, "message": exc.message}
                )
            else:
                done.recorded += 1
        if usage:
            self.cards.record_usage_reports(sorted(usage, key=lambda r: r.reported_at))
            done.recorded += len(usage)
        return done
