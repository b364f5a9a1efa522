"""Cards (ICCIDs): assigned to an agent, activated, recharged, reported on by the carrier."""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from application.commands import Command, Decision
from application.results import CardConditionsRecorded, CardRecorded, RechargeRecorded
from application.use_cases.limits import require_room_for_facts
from domain.card import CONDITIONS, Card, failed_words
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


@dataclass(frozen=True)
class ReportCardConditions(Command[CardConditionsRecorded]):
    """The carrier's conditions of a card at `occurredAt` (seed 004: 停机, 欠费, 销户, 投诉),
    from `source` (an operator today; the card-management feed later). A failed condition voids
    the card's unreleased commissions with the reason (the commission policy, decision 0029)."""

    iccid: Code
    stopped: bool
    arrears: bool
    cancelled: bool
    complaint: bool
    source: Code
    audit: Audit
    key: Key | None = None

    @property
    def flags(self) -> tuple[bool, bool, bool, bool]:
        return (self.stopped, self.arrears, self.cancelled, self.complaint)

    def decide(self, ledger: "Ledger") -> Decision[CardConditionsRecorded]:
        card = ledger.card(self.iccid)
        require_room_for_facts(ledger)
        card.report_conditions(self.flags, self.source, self.audit)
        return [card], CardConditionsRecorded(self.iccid, card.failed_conditions)


def conditions_reason(iccid: str, flags: tuple[bool, ...], source: str, note: str) -> str:
    """The reason a report records: what failed, where it came from, and the caller's note."""
    failed = tuple(name for name, flag in zip(CONDITIONS, flags, strict=False) if flag)
    said = f"card {iccid} {failed_words(failed)}" if failed else f"card {iccid} conditions normal"
    return f"{said} (reported by {source})" + (f": {note}" if note else "")
