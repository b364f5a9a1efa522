"""Commission plans: versions defined ahead, and corrections of a past period."""

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from application.commands import Command, Decision
from application.results import PlanVersionRecorded
from domain.common import Audit, require_code
from domain.errors import PlanRefused
from domain.plan import CommissionPlan, PlanCatalog
from domain.values import Code, Json, Key, Version

if TYPE_CHECKING:
    from application.ledger import Ledger


@dataclass(frozen=True)
class DefineCommissionPlan(Command[PlanVersionRecorded]):
    code: Code
    effective_from: datetime
    rules: Json  # the rules document (docs/rules.md)
    audit: Audit
    key: Key | None = None

    def decide(self, ledger: "Ledger") -> Decision[PlanVersionRecorded]:
        plan = ledger.plan(self.code) or CommissionPlan.start(self.code)
        version = plan.define_version(
            self.effective_from, self.rules, self.audit, ledger.plan_versions()
        )
        catalog = ledger.plan_catalog() or PlanCatalog.start()
        catalog.note(self.code, version)
        return [plan, catalog], PlanVersionRecorded(self.code, version)


@dataclass(frozen=True)
class CorrectCommissionPlan(Command[PlanVersionRecorded]):
    """Records a correcting version of a plan over [start, end). The commission policy then
    adjusts every commission of the period already recorded (see simulation.py).
    expected_version: the version a simulation showed; refused if the plan moved on since."""

    code: Code
    rules: Json
    start: datetime
    end: datetime | None
    audit: Audit
    key: Key | None = None
    expected_version: Version | None = None

    input_names: ClassVar[dict[str, str]] = {"start": "from", "end": "to"}

    def decide(self, ledger: "Ledger") -> Decision[PlanVersionRecorded]:
        require_code(self.code, "code")
        plan = ledger.defined_plan(self.code)
        candidate = plan.correction_candidate(self.rules, self.start, self.end, ledger.business_tz)
        if self.expected_version is not None and candidate.version != self.expected_version:
            raise PlanRefused(
                "expectedVersion",
                f"plan {self.code} would now get version {candidate.version}, not "
                f"{self.expected_version}: it changed since the simulation; simulate again",
            )
        version = plan.define_correction(candidate, self.audit, ledger.plan_versions())
        catalog = ledger.plan_catalog() or PlanCatalog.start()
        catalog.note(self.code, version)
        return [plan, catalog], PlanVersionRecorded(self.code, version)
