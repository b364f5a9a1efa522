"""A package (套餐): what agents sell. Traffic cards are priced by the platform; number cards by the carrier."""

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import Audit, aggregate_id, require_code
from domain.errors import InvalidInput
from domain.money import require_fen
from domain.values import MEGABYTES, NAME


class PackageKind(StrEnum):
    TRAFFIC = "TRAFFIC"
    NUMBER = "NUMBER"


class Package(Aggregate):
    class Defined(Aggregate.Created):
        code: str
        name: str
        kind: str
        purchase_price_fen: int
        period_months: int
        actor: str
        effective_at: datetime
        reason: str

    @staticmethod
    def create_id(code: str, **_: Any) -> UUID:
        return aggregate_id("package", code)

    @classmethod
    def define(
        cls,
        code: str,
        name: str,
        kind: str,
        purchase_price_fen: int,
        period_months: int,
        audit: Audit,
    ) -> "Package":
        require_code(code, "code")
        NAME.check(name, "name")
        if not name.strip():
            raise InvalidInput("name", "name must not be empty")
        if kind not in PackageKind.__members__:
            raise InvalidInput("kind", f"kind must be one of {', '.join(PackageKind)}")
        require_fen(purchase_price_fen, "purchasePrice")
        if type(period_months) is not int or not 1 <= period_months <= 120:
            raise InvalidInput("periodMonths", "periodMonths must be a whole number from 1 to 120")
        return cls._create(
            cls.Defined,
            code=code,
            name=name,
            kind=kind,
            purchase_price_fen=purchase_price_fen,
            period_months=period_months,
            **audit.fields(),
        )

    @event(Defined)
    def __init__(
        self,
        code: str,
        name: str,
        kind: str,
        purchase_price_fen: int,
        period_months: int,
        actor: str,
        effective_at: datetime,
        reason: str,
    ) -> None:
        self.code = code
        self.name = name
        self.kind = kind
        self.purchase_price_fen = purchase_price_fen
        self.period_months = period_months
        self.quota_mb: int | None = None  # the data a period includes (none: unlimited)

    class QuotaSet(Aggregate.Event):
        """The data a period of the package includes: a personal card over it is stopped."""

        package_code: str
        quota_mb: int
        actor: str
        effective_at: datetime
        reason: str

        def apply(self, package: "Package") -> None:
            package.quota_mb = self.quota_mb

    def set_quota(self, quota_mb: int, audit: Audit) -> None:
        MEGABYTES.check(quota_mb, "quotaMb")
        self.trigger_event(
            self.QuotaSet, package_code=self.code, quota_mb=quota_mb, **audit.fields()
        )
