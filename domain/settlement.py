"""A carrier settlement row (号卡结算): the carrier's total commission for one card and period.

One aggregate per row id, so a row recorded twice is detected, not paid twice. The commission
policy splits the total by the long-term rules in force; the platform keeps the rest.
"""

import re
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import Audit, aggregate_id, require_code
from domain.errors import InvalidInput
from domain.money import require_fen
from domain.rules import CardFacts, SettlementFacts

_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$", re.ASCII)
NETWORK_STATUSES = ("NORMAL", "SUSPENDED", "CANCELLED", "UNKNOWN")


class CarrierSettlement(Aggregate):
    class Recorded(Aggregate.Created):
        class_version = 2
        row_id: str
        iccid: str
        period: str
        total_fen: int
        agent_code: str
        package_code: str | None
        network_status: str
        no_arrears: bool
        no_suspension: bool
        no_complaint: bool
        periods_used: int | None
        # The card as the ledger knew it when the row was recorded.
        activated: bool
        first_recharge_fen: int | None
        total_recharge_fen: int
        actor: str
        effective_at: datetime
        reason: str
        # The card agent's uplines when the row was recorded, level 1 first (version 2 on:
        # rows recorded before had no rule that paid uplines).
        uplines: list[str]

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["uplines"] = []

    @staticmethod
    def create_id(row_id: str, **_: Any) -> UUID:
        return aggregate_id("carrier-settlement", row_id)

    @classmethod
    def record(cls, *args: Any, **kwargs: Any) -> "CarrierSettlement":
        """A row recorded from `checked_fields`' arguments, checked first."""
        return cls.from_fields(cls.checked_fields(*args, **kwargs))

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> "CarrierSettlement":
        """The row recorded from fields `checked_fields` answered (checked already)."""
        return cls._create(cls.Recorded, **fields)

    @staticmethod
    def checked_fields(
        row_id: str,
        iccid: str,
        period: str,
        total_fen: int,
        network_status: str,
        three_no: tuple[bool, bool, bool],
        periods_used: int | None,
        card: CardFacts,
        audit: Audit,
        uplines: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        """The row's event fields, every input checked: what `record` records, and what an
        import's check decides a row from without building its aggregate (decision 0043)."""
        require_code(row_id, "rowId")
        if not isinstance(period, str) or not _PERIOD.match(period):
            raise InvalidInput("period", "period must be a month like '2026-03'")
        require_fen(total_fen, "totalCommission")
        if network_status not in NETWORK_STATUSES:
            raise InvalidInput(
                "networkStatus", f"networkStatus must be one of {', '.join(NETWORK_STATUSES)}"
            )
        if periods_used is not None and (type(periods_used) is not int or periods_used < 0):
            raise InvalidInput("periodsUsed", "periodsUsed must be a non-negative integer")
        no_arrears, no_suspension, no_complaint = (bool(flag) for flag in three_no)
        return {
            "row_id": row_id,
            "iccid": iccid,
            "period": period,
            "total_fen": total_fen,
            "agent_code": card.agent_code,
            "package_code": card.package_code,
            "network_status": network_status,
            "no_arrears": no_arrears,
            "no_suspension": no_suspension,
            "no_complaint": no_complaint,
            "periods_used": periods_used,
            "activated": card.activated,
            "first_recharge_fen": card.first_recharge_fen,
            "total_recharge_fen": card.total_recharge_fen,
            **audit.fields(),
            "uplines": list(uplines),
        }

    @event(Recorded)
    def __init__(
        self,
        row_id: str,
        iccid: str,
        period: str,
        total_fen: int,
        agent_code: str,
        package_code: str | None,
        network_status: str,
        no_arrears: bool,
        no_suspension: bool,
        no_complaint: bool,
        periods_used: int | None,
        activated: bool,
        first_recharge_fen: int | None,
        total_recharge_fen: int,
        actor: str,
        effective_at: datetime,
        reason: str,
        uplines: list[str],
    ) -> None:
        self.row_id = row_id
        self.iccid = iccid
        self.period = period
        self.total_fen = total_fen
        self.agent_code = agent_code
        self.package_code = package_code
        self.network_status = network_status
        self.no_arrears = no_arrears
        self.no_suspension = no_suspension
        self.no_complaint = no_complaint
        self.periods_used = periods_used
        self.activated = activated
        self.first_recharge_fen = first_recharge_fen
        self.total_recharge_fen = total_recharge_fen
        self.effective_at = effective_at
        self.uplines = tuple(uplines)

    def facts(self, grades: dict[str, str] | None = None) -> SettlementFacts:
        return self.facts_of(vars(self), grades)

    @staticmethod
    def facts_of(row: dict[str, Any], grades: dict[str, str] | None = None) -> SettlementFacts:
        """What the rules read of a row: its recorded fields (or the aggregate's attributes)."""
        return SettlementFacts(
            row_id=row["row_id"],
            iccid=row["iccid"],
            period=row["period"],
            total_fen=row["total_fen"],
            agent_code=row["agent_code"],
            package_code=row["package_code"],
            activated=row["activated"],
            first_recharge_fen=row["first_recharge_fen"],
            total_recharge_fen=row["total_recharge_fen"],
            network_status=row["network_status"],
            no_arrears=row["no_arrears"],
            no_suspension=row["no_suspension"],
            no_complaint=row["no_complaint"],
            periods_used=row["periods_used"],
            effective_at=row["effective_at"],
            grades=grades or {},
            uplines=tuple(row["uplines"]),
        )
