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
    def record(
        cls,
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
    ) -> "CarrierSettlement":
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
        return cls._create(
            cls.Recorded,
            row_id=row_id,
            iccid=iccid,
            period=period,
            total_fen=total_fen,
            agent_code=card.agent_code,
            package_code=card.package_code,
            network_status=network_status,
            no_arrears=no_arrears,
            no_suspension=no_suspension,
            no_complaint=no_complaint,
            periods_used=periods_used,
            activated=card.activated,
            first_recharge_fen=card.first_recharge_fen,
            total_recharge_fen=card.total_recharge_fen,
            **audit.fields(),
            uplines=list(uplines),
        )

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
        return SettlementFacts(
            row_id=self.row_id,
            iccid=self.iccid,
            period=self.period,
            total_fen=self.total_fen,
            agent_code=self.agent_code,
            package_code=self.package_code,
            activated=self.activated,
            first_recharge_fen=self.first_recharge_fen,
            total_recharge_fen=self.total_recharge_fen,
            network_status=self.network_status,
            no_arrears=self.no_arrears,
            no_suspension=self.no_suspension,
            no_complaint=self.no_complaint,
            periods_used=self.periods_used,
            effective_at=self.effective_at,
            grades=grades or {},
            uplines=self.uplines,
        )
