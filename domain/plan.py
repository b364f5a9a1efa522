"""A commission plan: a versioned, effective-dated rules document."""

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import Audit, aggregate_id, require_code
from domain.errors import PlanRefused
from domain.rules import PlanVersion, dump_rules, parse_rules


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

    @staticmethod
    def create_id(code: str, **_: Any) -> UUID:
        return aggregate_id("plan", code)

    @classmethod
    def start(cls, code: str) -> "CommissionPlan":
        require_code(code, "code")
        return cls._create(cls.Created, code=code)

    @event(Created)
    def __init__(self, code: str) -> None:
        self.code = code
        self.versions: list[dict[str, Any]] = []

    def define_version(self, effective_from: datetime, document: object, audit: Audit) -> int:
        rules = dump_rules(parse_rules(document))
        if effective_from.tzinfo is None:
            raise PlanRefused("effectiveFrom", "effectiveFrom must carry a UTC offset")
        if self.versions and effective_from < self.versions[-1]["effective_from"]:
            raise PlanRefused(
                "effectiveFrom",
                f"a new version must not take effect before version {len(self.versions)} "
                f"({self.versions[-1]['effective_from'].isoformat()})",
            )
        version = len(self.versions) + 1
        self._define_version(
            version=version, effective_from=effective_from, rules=rules, **audit.fields()
        )
        return version

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

    def plan_versions(self) -> list[PlanVersion]:
        return [
            PlanVersion(
                self.code, v["version"], v["effective_from"], tuple(parse_rules(v["rules"]))
            )
            for v in self.versions
        ]


class PlanCatalog(Aggregate):
    """The codes of all commission plans, so the ledger can list them without the read models."""

    class Created(Aggregate.Created):
        pass

    class PlanAdded(Aggregate.Event):
        code: str

    @staticmethod
    def create_id(**_: Any) -> UUID:
        return aggregate_id("plan-catalog", "all")

    @classmethod
    def start(cls) -> "PlanCatalog":
        return cls._create(cls.Created)

    @event(Created)
    def __init__(self) -> None:
        self.codes: list[str] = []

    def add(self, code: str) -> None:
        if code not in self.codes:
            self._add(code=code)

    @event(PlanAdded)
    def _add(self, code: str) -> None:
        self.codes.append(code)
