"""Cards (ICCIDs): assigned to an agent, activated, recharged."""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from application.commands import Command, Decision
from application.results import CardRecorded, RechargeRecorded
from domain.card import Card
from domain.common import Audit
from domain.errors import AlreadyExists

if TYPE_CHECKING:
    from application.ledger import Ledger


@dataclass(frozen=True)
class AssignCard(Command[CardRecorded]):
    iccid: str
    agent_code: str
    package_code: str | None
    audit: Audit
    key: str | None = None

    def decide(self, ledger: "Ledger") -> Decision[CardRecorded]:
        if ledger.exists("card", self.iccid):
            raise AlreadyExists("iccid", f"card '{self.iccid}' is already assigned")
        ledger.agent(self.agent_code)
        kind = ledger.package(self.package_code).kind if self.package_code else None
        card = Card.assign(self.iccid, self.agent_code, self.package_code, kind, self.audit)
        return [card], CardRecorded(self.iccid)


@dataclass(frozen=True)
class ActivateCard(Command[CardRecorded]):
    iccid: str
    audit: Audit
    key: str | None = None

    def decide(self, ledger: "Ledger") -> Decision[CardRecorded]:
        card = ledger.card(self.iccid)
        card.activate(self.audit)
        return [card], CardRecorded(self.iccid)


@dataclass(frozen=True)
class RecordRecharge(Command[RechargeRecorded]):
    iccid: str
    amount_fen: int
    audit: Audit
    key: str | None = None

    def decide(self, ledger: "Ledger") -> Decision[RechargeRecorded]:
        card = ledger.card(self.iccid)
        card.record_recharge(self.amount_fen, self.audit)
        return [card], RechargeRecorded(self.iccid, card.total_recharge_fen)
