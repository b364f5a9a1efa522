"""Agents as payees: entity type, real-name verification with evidence, personal data and payout
accounts. Personal data arrives sealed by the API (decision 0024): commands carry ciphertext."""

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from application.commands import Command, Decision
from application.results import PayeeRecorded
from domain.common import Audit
from domain.values import Code, Key, Masked, Name, Sealed

if TYPE_CHECKING:
    from application.ledger import Ledger


@dataclass(frozen=True)
class SetPayeeEntityType(Command[PayeeRecorded]):
    agent_code: Code
    entity_type: Code
    audit: Audit
    key: Key | None = None

    def decide(self, ledger: "Ledger") -> Decision[PayeeRecorded]:
        payee = ledger.payee(self.agent_code)
        payee.set_entity_type(self.entity_type, self.audit)
        return [payee], PayeeRecorded(self.agent_code)


@dataclass(frozen=True)
class ChangeRealNameVerification(Command[PayeeRecorded]):
    """An operator verifies (or withdraws the verification of) an agent after registration,
    naming the evidence (a document reference in the operator's records)."""

    agent_code: Code
    verified: bool
    evidence_ref: Code
    audit: Audit
    key: Key | None = None

    def decide(self, ledger: "Ledger") -> Decision[PayeeRecorded]:
        payee = ledger.payee(self.agent_code)
        payee.change_verification(self.verified, self.evidence_ref, self.audit)
        return [payee], PayeeRecorded(self.agent_code)


@dataclass(frozen=True)
class SetPayeePersonalData(Command[PayeeRecorded]):
    """A payee's ID number or phone, sealed, with its masked form."""

    agent_code: Code
    field: Code
    sealed: Sealed
    masked: Masked
    audit: Audit
    key: Key | None = None

    input_names: ClassVar[dict[str, str]] = {"sealed": "value", "masked": "value"}

    def decide(self, ledger: "Ledger") -> Decision[PayeeRecorded]:
        payee = ledger.payee(self.agent_code)
        payee.set_personal(self.field, self.sealed, self.masked, self.audit)
        return [payee], PayeeRecorded(self.agent_code)


@dataclass(frozen=True)
class AddPayoutAccount(Command[PayeeRecorded]):
    agent_code: Code
    account_id: Code
    kind: Code
    holder_name: Name
    bank_name: Name | None
    number_sealed: Sealed
    number_masked: Masked
    audit: Audit
    key: Key | None = None

    input_names: ClassVar[dict[str, str]] = {"number_sealed": "number", "number_masked": "number"}

    def decide(self, ledger: "Ledger") -> Decision[PayeeRecorded]:
        payee = ledger.payee(self.agent_code)
        payee.add_account(
            self.account_id,
            self.kind,
            self.holder_name,
            self.bank_name,
            self.number_sealed,
            self.number_masked,
            self.audit,
        )
        return [payee], PayeeRecorded(self.agent_code)


@dataclass(frozen=True)
class RemovePayoutAccount(Command[PayeeRecorded]):
    agent_code: Code
    account_id: Code
    audit: Audit
    key: Key | None = None

    def decide(self, ledger: "Ledger") -> Decision[PayeeRecorded]:
        payee = ledger.payee(self.agent_code)
        payee.remove_account(self.account_id, self.audit)
        return [payee], PayeeRecorded(self.agent_code)
