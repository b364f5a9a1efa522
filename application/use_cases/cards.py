"""Cards (ICCIDs): assigned to an agent, activated, recharged."""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from application.commands import Command, Decision
from application.results import CardRecorded, RechargeRecorded
from application.use_cases.limits import require_room_for_facts
from domain.card import Card
from domain.common import Audit
from domain.errors import AlreadyExists
from domain.values import Code, Fen, Key

if TYPE_CHECKING:
    from application.ledger import Ledger


@dataclass(frozen=True)
class AssignCard(Command[CardRecorded]):
    iccid: Code
    agent_code: Code
    package_code: Code | None
    audit: Audit
    key: Key | None = None

    def decide(self, ledger: "Ledger") -> Decision[CardRecorded]:
        if ledger.exists("card", self.iccid):
            raise AlreadyExists("iccid", f"card '{self.iccid}' is already assigned")
        ledger.agent(self.agent_code).require_registered_at(self.audit.effective_at)
        kind = ledger.package(self.package_code).kind if self.package_code else None
        require_room_for_facts(ledger)
        card = Card.assign(self.iccid, self.agent_code, self.package_code, kind, self.audit)
        return [card], CardRecorded(self.iccid)


@dataclass(frozen=True)
class ActivateCard(Command[CardRecorded]):
    iccid: Code
    audit: Audit
    key: Key | None = None

    def decide(self, ledger: "Ledger") -> Decision[CardRecorded]:
        card = ledger.card(self.iccid)
        require_room_for_facts(ledger)
        card.activate(self.audit)
        return [card], CardRecorded(self.iccid)


@dataclass(frozen=True)
class RecordRecharge(Command[RechargeRecorded]):
    iccid: Code
    amount_fen: Fen
    audit: Audit
    key: Key | None = None

    def decide(self, ledger: "Ledger") -> Decision[RechargeRecorded]:
        card = ledger.card(self.iccid)
        require_room_for_facts(ledger)
        card.record_recharge(self.amount_fen, self.audit)
        return [card], RechargeRecorded(self.iccid, card.total_recharge_fen)
