"""The card's lifecycle: carrier reports, network conditions, package periods, its enterprise
and the carrier commands decided for it. A mixin of the Card (domain/card.py), whose events it
records; validation happens here, before an event, never inside one.

Reports are idempotent per report id, and ordered by their own timestamps: a report older than
the newest one applied is recorded (the raw fact is kept) but changes nothing.
"""

import calendar
from dataclasses import replace
from datetime import datetime
from typing import Any

from domain.common import Audit, derived_id, require_code
from domain.errors import InvalidInput, InvalidState
from domain.lifecycle import (
    CONDITIONS,
    CardStatus,
    CarrierCommand,
    CommandCause,
    MappedState,
    ReportOutcome,
    failed_words,
    may_move,
)
from domain.values import REASON

MAX_PERIODS = 1200


class CardLifecycle:
    iccid: str
    status: CardStatus
    activated_at: datetime | None
    assigned_at: datetime
    last_fact_at: datetime
    package_code: str | None
    periods: list[list[Any]]
    periods_used: int
    enterprise_code: str | None
    last_command: list[str] | None
    commands_decided: int
    CarrierStateReported: Any
    CarrierConditionsReported: Any
    failed_conditions: tuple[str, ...]

    def report_conditions(
        self, flags: tuple[bool, bool, bool, bool], source: str, audit: Audit
    ) -> None:
        raise NotImplementedError

    PackagePeriodAdded: Any
    EnterpriseJoined: Any
    CarrierCommandDecided: Any

    def trigger_event(self, event_class: Any, **kwargs: Any) -> None:
        raise NotImplementedError

    def start_lifecycle(self) -> None:
        """The lifecycle's state of a card just assigned (called by its creation event)."""
        self.carrier: str | None = None
        self.carrier_state: str | None = None
        self.carrier_state_name: str | None = None
        self.mapping_version: str | None = None
        self.state_reported_at: datetime | None = None  # the newest carrier state applied
        self.report_ids: set[str] = set()
        self.carrier_arrears = False  # as the carrier's conditions reports say
        self.carrier_complaint = False
        self.carrier_conditions_at: datetime | None = None
        self.periods = []
        self.periods_used = 0
        self.enterprise_code = None
        self.last_command = None
        self.commands_decided = 0

    # -- the carrier's reports -------------------------------------------------------------------
    def seen_report(self, report_id: str) -> bool:
        return report_id in self.report_ids

    def require_carrier(self, carrier: str) -> None:
        """Refuses a report from a carrier other than the one already reporting on the card:
        one carrier's key must not move another carrier's cards."""
        if self.carrier is not None and carrier != self.carrier:
            raise InvalidState(
                "carrier", f"card {self.iccid} is reported on by {self.carrier}, not {carrier}"
            )

    def report_carrier_state(
        self, mapped: MappedState, report_id: str, reported_at: datetime, audit: Audit
    ) -> ReportOutcome | None:
        """Records a state report: what it did (None: this report id was recorded already)."""
        require_code(report_id, "reportId")
        self.require_carrier(mapped.carrier)
        if report_id in self.report_ids:
            return None
        outcome = self._state_outcome(mapped.state, reported_at)
        self.trigger_event(
            self.CarrierStateReported,
            carrier=mapped.carrier,
            raw_state=mapped.raw_state,
            carrier_state_name=mapped.name,
            state=str(mapped.state),
            mapping_version=mapped.version,
            report_id=report_id,
            reported_at=reported_at,
            outcome=str(outcome),
            **audit.fields(),
        )
        if outcome == ReportOutcome.APPLIED:
            self._sync_conditions(mapped.carrier, audit)
        return outcome

    def _state_outcome(self, state: CardStatus, reported_at: datetime) -> ReportOutcome:
        if self.state_reported_at is not None and reported_at < self.state_reported_at:
            return ReportOutcome.OLDER
        if state == self.status:
            return ReportOutcome.UNCHANGED
        if not may_move(self.status, state):
            return ReportOutcome.REFUSED
        return ReportOutcome.APPLIED

    def apply_state_report(self, event: Any) -> None:
        self.report_ids.add(event.report_id)
        self.carrier = event.carrier
        if event.outcome == ReportOutcome.OLDER:
            return
        self.state_reported_at = event.reported_at
        self.carrier_state = event.raw_state
        self.carrier_state_name = event.carrier_state_name
        self.mapping_version = event.mapping_version
        if event.outcome == ReportOutcome.APPLIED:
            self.status = CardStatus(event.state)

    def report_carrier_conditions(
        self,
        carrier: str,
        arrears: bool,
        complaint: bool,
        report_id: str,
        reported_at: datetime,
        audit: Audit,
    ) -> ReportOutcome | None:
        """Records a conditions report: what it did (None: its report id was recorded)."""
        require_code(report_id, "reportId")
        self.require_carrier(carrier)
        if report_id in self.report_ids:
            return None
        older = self.carrier_conditions_at is not None and reported_at < self.carrier_conditions_at
        self.trigger_event(
            self.CarrierConditionsReported,
            carrier=carrier,
            arrears=arrears,
            complaint=complaint,
            report_id=report_id,
            reported_at=reported_at,
            outcome=str(ReportOutcome.OLDER if older else ReportOutcome.APPLIED),
            **audit.fields(),
        )
        if older:
            return ReportOutcome.OLDER
        self._sync_conditions(carrier, audit)
        return ReportOutcome.APPLIED

    def _sync_conditions(self, carrier: str, audit: Audit) -> None:
        """The commission conditions (Card.ConditionsReported, which the commission policy
        reads: a failed one voids the card's unreleased commissions) follow what the carrier
        reports: stopped and cancelled from our state, arrears and complaints from its
        conditions reports. Recorded when they change, never dated before the card existed."""
        flags = (
            self.status == CardStatus.SUSPENDED,
            self.carrier_arrears,
            self.status == CardStatus.CANCELLED,
            self.carrier_complaint,
        )
        failed = tuple(name for name, flag in zip(CONDITIONS, flags, strict=True) if flag)
        if failed == self.failed_conditions or audit.effective_at < self.assigned_at:
            return
        said = failed_words(failed) if failed else "conditions normal"
        reason = REASON.fit(f"card {self.iccid} {said} (reported by {carrier})")
        self.report_conditions(flags, carrier, replace(audit, reason=reason))

    def apply_conditions(self, event: Any) -> None:
        self.report_ids.add(event.report_id)
        if event.outcome == ReportOutcome.OLDER:
            return
        self.carrier_arrears, self.carrier_complaint = event.arrears, event.complaint
        self.carrier_conditions_at = event.reported_at

    @property
    def current_package(self) -> str | None:
        """The package of its latest paid period (else the one it was assigned with): whose
        quota the card is held to. `package_code` stays the assignment's (commission facts)."""
        return self.periods[-1][1] if self.periods else self.package_code

    @property
    def arrears(self) -> bool:
        return "arrears" in self.failed_conditions

    @property
    def complaint(self) -> bool:
        return "complaint" in self.failed_conditions

    @property
    def network_normal(self) -> bool:
        """In service and not in arrears (正常在网)."""
        return self.status == CardStatus.ACTIVATED and not self.arrears

    @property
    def three_no(self) -> bool:
        """三无: no arrears, no suspension, no complaint."""
        return not self.arrears and self.status != CardStatus.SUSPENDED and not self.complaint

    # -- package periods, enterprise -------------------------------------------------------------
    def add_package_period(
        self, order_id: str, package_code: str, periods: int, months_each: int, audit: Audit
    ) -> None:
        """A paid order's periods, starting when the last one ends (or now, if it ended)."""
        if self.status == CardStatus.CANCELLED:
            raise InvalidState("iccid", f"card '{self.iccid}' is cancelled")
        if self.periods_used + periods > MAX_PERIODS:
            raise InvalidInput("iccid", f"a card counts at most {MAX_PERIODS} package periods")
        start = audit.effective_at
        if self.periods and self.periods[-1][3] > start:
            start = self.periods[-1][3]
        end = add_months(start, months_each * periods)
        self.trigger_event(
            self.PackagePeriodAdded,
            order_id=order_id,
            package_code=package_code,
            periods=periods,
            period_start=start,
            period_end=end,
            periods_used=self.periods_used + periods,
            **audit.fields(),
        )

    def join_enterprise(self, enterprise_code: str, audit: Audit) -> None:
        if self.enterprise_code is not None:
            raise InvalidState(
                "iccids", f"card '{self.iccid}' belongs to enterprise '{self.enterprise_code}'"
            )
        if self.status == CardStatus.CANCELLED:
            raise InvalidState("iccids", f"card '{self.iccid}' is cancelled")
        self.trigger_event(self.EnterpriseJoined, enterprise_code=enterprise_code, **audit.fields())

    # -- decisions ------------------------------------------------------------------------------
    def decide_stop_for_quota(self, used_bytes: int, quota_bytes: int, audit: Audit) -> bool:
        """A personal card over its package quota is stopped (once: not again while a stop
        stands or the carrier already reports it stopped). False: nothing to decide."""
        if self.enterprise_code is not None or used_bytes <= quota_bytes:
            return False
        if self.status in (CardStatus.SUSPENDED, CardStatus.CANCELLED):
            return False
        if self.last_command is not None and self.last_command[0] == CarrierCommand.STOP:
            return False
        self._decide(
            CarrierCommand.STOP, CommandCause.PACKAGE_QUOTA, used_bytes, quota_bytes, audit
        )
        return True

    def decide_for_pool(
        self,
        command: CarrierCommand,
        cause: CommandCause,
        used: int,
        limit: int | None,
        audit: Audit,
    ) -> str:
        """Its enterprise's pool rules decided a stop or a resume (the enterprise keeps which
        of its cards it stopped); the command's id."""
        if self.enterprise_code is None:
            raise InvalidState("iccid", f"card '{self.iccid}' belongs to no enterprise")
        self._decide(command, cause, used, limit, audit)
        return command_id(self.iccid, self.commands_decided)

    def decide_activation(self, audit: Audit) -> bool:
        """A paid order activates a card not yet in service (once)."""
        if self.status in (CardStatus.ACTIVATED, CardStatus.SUSPENDED, CardStatus.CANCELLED):
            return False
        if self.last_command is not None and self.last_command[0] == CarrierCommand.ACTIVATE:
            return False
        self._decide(CarrierCommand.ACTIVATE, CommandCause.ORDER_PAID, None, None, audit)
        return True

    def _decide(
        self,
        command: CarrierCommand,
        cause: CommandCause,
        used: int | None,
        quota: int | None,
        audit: Audit,
    ) -> None:
        self.trigger_event(
            self.CarrierCommandDecided,
            command_id=command_id(self.iccid, self.commands_decided + 1),
            command=str(command),
            cause=str(cause),
            used_bytes=used,
            quota_bytes=quota,
            **audit.fields(),
        )


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time `months` later, on the month's last day if it is shorter."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    days = [31, 29 if calendar.isleap(year) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    return moment.replace(year=year, month=month, day=min(moment.day, days[month - 1]))


def command_id(iccid: str, sequence: int) -> str:
    """The carrier command's id, stable for a card's n-th decision (its idempotency at the
    carrier: a command sent again carries the same id)."""
    return derived_id("carrier-command", iccid, sequence)
