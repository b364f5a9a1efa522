"""A card (ICCID): distributed to an agent, activated by real-name, recharged by its user."""

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import Audit, aggregate_id, require_code
from domain.errors import InvalidState
from domain.money import require_balance, require_fen
from domain.rules import CardFacts
from domain.values import refuse_before


class CardStatus(StrEnum):
    ASSIGNED = "ASSIGNED"
    ACTIVATED = "ACTIVATED"


class Card(Aggregate):
    class Assigned(Aggregate.Created):
        iccid: str
        agent_code: str
        package_code: str | None
        package_kind: str | None
        actor: str
        effective_at: datetime
        reason: str

    class Activated(Aggregate.Event):
        actor: str
        effective_at: datetime
        reason: str

    class RechargeRecorded(Aggregate.Event):
        amount_fen: int
        actor: str
        effective_at: datetime
        reason: str

    @staticmethod
    def create_id(iccid: str, **_: Any) -> UUID:
        return aggregate_id("card", iccid)

    @classmethod
    def assign(
        cls,
        iccid: str,
        agent_code: str,
        package_code: str | None,
        package_kind: str | None,
        audit: Audit,
    ) -> "Card":
        require_code(iccid, "iccid")
        require_code(agent_code, "agentCode")
        if package_code is not None:
            require_code(package_code, "packageCode")
        return cls._create(
            cls.Assigned,
            iccid=iccid,
            agent_code=agent_code,
            package_code=package_code,
            package_kind=package_kind,
            **audit.fields(),
        )

    @event(Assigned)
    def __init__(
        self,
        iccid: str,
        agent_code: str,
        package_code: str | None,
        package_kind: str | None,
        actor: str,
        effective_at: datetime,
        reason: str,
    ) -> None:
        self.iccid = iccid
        self.agent_code = agent_code
        self.package_code = package_code
        self.package_kind = package_kind
        self.status = CardStatus.ASSIGNED
        self.activated_at: datetime | None = None
        self.first_recharge_fen: int | None = None
        self.total_recharge_fen = 0
        self.assigned_at = effective_at
        self.last_fact_at = effective_at

    def activate(self, audit: Audit) -> None:
        if self.status != CardStatus.ASSIGNED:
            raise InvalidState("iccid", f"card '{self.iccid}' is already {self.status}")
        self.require_existed_at(audit.effective_at)
        self._activate(**audit.fields())

    @event(Activated)
    def _activate(self, actor: str, effective_at: datetime, reason: str) -> None:
        self.status = CardStatus.ACTIVATED
        self.activated_at = effective_at
        self.last_fact_at = max(self.last_fact_at, effective_at)

    def record_recharge(self, amount_fen: int, audit: Audit) -> None:
        require_fen(amount_fen, "amount", allow_zero=False)
        require_balance(
            self.total_recharge_fen + amount_fen, "amount", f"card {self.iccid}'s recharges"
        )
        self.require_existed_at(audit.effective_at)
        self._record_recharge(amount_fen=amount_fen, **audit.fields())

    @event(RechargeRecorded)
    def _record_recharge(
        self, amount_fen: int, actor: str, effective_at: datetime, reason: str
    ) -> None:
        if self.first_recharge_fen is None:
            self.first_recharge_fen = amount_fen
        self.total_recharge_fen += amount_fen
        self.last_fact_at = max(self.last_fact_at, effective_at)

    def require_existed_at(self, at: datetime, field: str = "occurredAt") -> None:
        """A fact about the card is not dated before the card was assigned to its agent."""
        refuse_before(at, self.assigned_at, field, f"card {self.iccid} was assigned")

    def facts(self) -> CardFacts:
        return CardFacts(
            iccid=self.iccid,
            package_code=self.package_code,
            package_kind=self.package_kind,
            agent_code=self.agent_code,
            activated=self.status == CardStatus.ACTIVATED,
            first_recharge_fen=self.first_recharge_fen,
            total_recharge_fen=self.total_recharge_fen,
            effective_at=self.last_fact_at,
        )
