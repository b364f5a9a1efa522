"""A commission plan: a versioned, effective-dated rules document."""

from collections.abc import Sequence
from datetime import datetime, time, tzinfo
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import Audit, aggregate_id, require_code
from domain.errors import InvalidInput, PlanRefused
from domain.rules import (
    PRICE_MENU_PLAN,
    PlanVersion,
    dump_rules,
    overlapping_rules,
    parse_rules,
    rerates_months,
)


class CommissionPlan(Aggregate):
    class Created(Aggregate.Created):
        code: str

    class VersionDefined(Aggregate.Event):
        version: int
        effective_from: datetime
        rules: list[dict[str, Any]]
        actor: str
        effective_at: datetime
        reason: str

    class CorrectionDefined(Aggregate.Event):
        """A version that replaces the plan's rules over [effective_from, effective_to) also for
        facts already processed: the commission policy records the adjustments it implies."""

        version: int
        effective_from: datetime
        effective_to: datetime | None
        rules: list[dict[str, Any]]
        actor: str
        effective_at: datetime
        reason: str

    @staticmethod
    def create_id(code: str, **_: Any) -> UUID:
        return aggregate_id("plan", code)

    @classmethod
    def start(cls, code: str) -> "CommissionPlan":
        require_code(code, "code")
        if code == PRICE_MENU_PLAN:
            raise PlanRefused(
                "code", f"'{PRICE_MENU_PLAN}' names the built-in price-difference plan"
            )
        return cls._create(cls.Created, code=code)

    @event(Created)
    def __init__(self, code: str) -> None:
        self.code = code
        self.versions: list[dict[str, Any]] = []

    def define_version(
        self,
        effective_from: datetime,
        document: object,
        audit: Audit,
        other_plans: Sequence[PlanVersion] = (),
    ) -> int:
        """A new version in force from `effective_from` on (never before the latest version).
        Refused when one of its rules pays the same kind for the same scope as a rule another
        plan has in force at the same time: the agent would be paid twice."""
        rules = parse_rules(document)
        _require_offset(effective_from, "effectiveFrom")
        latest = self._latest_from()
        if latest is not None and effective_from < latest:
            raise PlanRefused(
                "effectiveFrom",
                f"a new version must not take effect before version {len(self.versions)} "
                f"({latest.isoformat()}); to change the past, apply a plan correction",
            )
        version = len(self.versions) + 1
        candidate = PlanVersion(self.code, version, effective_from, tuple(rules))
        refuse_overlap(candidate, other_plans)
        self._define_version(
            version=version,
            effective_from=effective_from,
            rules=dump_rules(rules),
            **audit.fields(),
        )
        return version

    def correction_candidate(
        self,
        document: object,
        effective_from: datetime,
        effective_to: datetime | None,
        business_tz: tzinfo,
    ) -> PlanVersion:
        """The version a correction would define: in force over [from, to) only, retroactively.
        A month re-rated as a whole (RERATE_MONTH) is corrected as a whole: a period cutting it
        would re-rate sales on both sides of the cut."""
        _require_offset(effective_from, "from")
        if effective_to is not None:
            _require_offset(effective_to, "to")
            if effective_to <= effective_from:
                raise InvalidInput("to", "'to' must be after 'from'")
        rules = parse_rules(document)
        candidate = PlanVersion(
            self.code,
            len(self.versions) + 1,
            effective_from,
            tuple(rules),
            effective_to=effective_to,
            correction=True,
        )
        if any(rerates_months(v) for v in [candidate, *self.plan_versions()]):
            for field, at in (("from", effective_from), ("to", effective_to)):
                if at is not None and not _month_start(at, business_tz):
                    raise PlanRefused(
                        field,
                        f"plan {self.code} re-rates whole months (RERATE_MONTH): '{field}' must "
                        f"be the start of a business month ({business_tz})",
                    )
        return candidate

    def define_correction(
        self, candidate: PlanVersion, audit: Audit, other_plans: Sequence[PlanVersion] = ()
    ) -> int:
        """Records a correcting version: its rules replace the plan's over [from, to) for facts
        already processed too. The commission policy records the resulting adjustments."""
        if not audit.reason:
            raise InvalidInput("reason", "a plan correction needs a reason")
        refuse_overlap(candidate, other_plans)
        self._define_correction(
            version=candidate.version,
            effective_from=candidate.effective_from,
            effective_to=candidate.effective_to,
            rules=dump_rules(list(candidate.rules)),
            **audit.fields(),
        )
        return candidate.version

    def _latest_from(self) -> datetime | None:
        ordinary = [v["effective_from"] for v in self.versions if not v.get("correction")]
        return max(ordinary) if ordinary else None

    @event(VersionDefined)
    def _define_version(
        self,
        version: int,
        effective_from: datetime,
        rules: list[dict[str, Any]],
        actor: str,
        effective_at: datetime,
        reason: str,
    ) -> None:
        self.versions.append({"version": version, "effective_from": effective_from, "rules": rules})

    @event(CorrectionDefined)
    def _define_correction(
        self,
        version: int,
        effective_from: datetime,
        effective_to: datetime | None,
        rules: list[dict[str, Any]],
        actor: str,
        effective_at: datetime,
        reason: str,
    ) -> None:
        self.versions.append(
            {
                "version": version,
                "effective_from": effective_from,
                "effective_to": effective_to,
                "rules": rules,
                "correction": True,
            }
        )

    def plan_versions(self) -> list[PlanVersion]:
        return [
            PlanVersion(
                self.code,
                v["version"],
                v["effective_from"],
                tuple(parse_rules(v["rules"], stored=True)),
                effective_to=v.get("effective_to"),
                correction=bool(v.get("correction")),
            )
            for v in self.versions
        ]


def _month_start(at: datetime, tz: tzinfo) -> bool:
    local = at.astimezone(tz)
    return local.day == 1 and local.time() == time(0)


def _require_offset(at: datetime, field: str) -> None:
    if at.tzinfo is None:
        raise PlanRefused(field, f"{field} must carry a UTC offset")


def refuse_overlap(candidate: PlanVersion, other_plans: Sequence[PlanVersion]) -> None:
    clash = overlapping_rules(candidate, [v for v in other_plans if v.code != candidate.code])
    if clash is not None:
        raise PlanRefused("rules", clash)


class PlanCatalog(Aggregate):
    """The codes of all commission plans, so the ledger can list them without the read models."""

    class Created(Aggregate.Created):
        pass

    class PlanAdded(Aggregate.Event):
        code: str

    class VersionNoted(Aggregate.Event):
        """Every plan version passes through the catalog, so two plans defined at the same
        time conflict here and are decided one after the other (the overlap check sees both)."""

        code: str
        version: int

    @staticmethod
    def create_id(**_: Any) -> UUID:
        return aggregate_id("plan-catalog", "all")

    @classmethod
    def start(cls) -> "PlanCatalog":
        return cls._create(cls.Created)

    @event(Created)
    def __init__(self) -> None:
        self.codes: list[str] = []

    def note(self, code: str, version: int) -> None:
        self._note(code=code, version=version)

    @event(PlanAdded)
    def _add(self, code: str) -> None:
        self.codes.append(code)

    @event(VersionNoted)
    def _note(self, code: str, version: int) -> None:
        if code not in self.codes:
            self.codes.append(code)
