"""An agent as a payee: its entity type (individual or company: only individuals have 劳务报酬
tax withheld), its real-name verification (changed after registration by an operator, with a
reference to the evidence), its personal data and its payout accounts.

Personal data (ID number, phone, account numbers) reaches the domain already encrypted: the API
encrypts it (AES-GCM, with the id of the key that did) and decrypts it only to show it to finance
and admins (decision 0024). Events carry the ciphertext and a masked form (6222********1234)
that every other reader sees; the domain never sees the plain text.
"""

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import Audit, aggregate_id
from domain.errors import InvalidInput, InvalidState
from domain.values import CODE, NAME

INDIVIDUAL, COMPANY = "INDIVIDUAL", "COMPANY"
ENTITY_TYPES = (INDIVIDUAL, COMPANY)
ACCOUNT_KINDS = ("BANK_CARD", "WECHAT", "ALIPAY")
PERSONAL_FIELDS = ("ID_NUMBER", "PHONE")
MAX_ACCOUNTS = 20


def _as_of(changes: list[tuple[datetime, Any]], at: datetime, default: Any) -> Any:
    value = default
    for effective_at, changed in sorted(changes, key=lambda c: c[0]):
        if effective_at > at:
            break
        value = changed
    return value


class Payee(Aggregate):
    class Created(Aggregate.Created):
        agent_code: str

    class EntityTypeSet(Aggregate.Event):
        entity_type: str
        actor: str
        effective_at: datetime
        reason: str

    class RealNameVerificationChanged(Aggregate.Event):
        verified: bool
        evidence_ref: str
        actor: str
        effective_at: datetime
        reason: str

    class PersonalDataSet(Aggregate.Event):
        field: str  # ID_NUMBER or PHONE
        sealed: str  # v1:<key id>:<base64 nonce + ciphertext> (decision 0024)
        masked: str
        actor: str
        effective_at: datetime
        reason: str

    class PayoutAccountAdded(Aggregate.Event):
        account_id: str
        kind: str
        holder_name: str
        bank_name: str | None
        number_sealed: str
        number_masked: str
        actor: str
        effective_at: datetime
        reason: str

    class PayoutAccountRemoved(Aggregate.Event):
        account_id: str
        actor: str
        effective_at: datetime
        reason: str

    @staticmethod
    def create_id(agent_code: str, **_: Any) -> UUID:
        return aggregate_id("payee", agent_code)

    @classmethod
    def start(cls, agent_code: str) -> "Payee":
        return cls._create(cls.Created, agent_code=agent_code)

    @event(Created)
    def __init__(self, agent_code: str) -> None:
        self.agent_code = agent_code
        self.entity_types: list[tuple[datetime, str]] = []
        self.verifications: list[tuple[datetime, list[Any]]] = []  # [verified, evidence, actor]
        self.personal: dict[str, list[tuple[datetime, list[str]]]] = {}  # field -> [sealed, mask]
        self.accounts: dict[str, dict[str, Any]] = {}

    # -- entity type ------------------------------------------------------------------------------
    def set_entity_type(self, entity_type: str, audit: Audit) -> None:
        if entity_type not in ENTITY_TYPES:
            raise InvalidInput("entityType", f"entityType is one of {', '.join(ENTITY_TYPES)}")
        self._entity_type_set(entity_type, **audit.fields())

    @event(EntityTypeSet)
    def _entity_type_set(
        self, entity_type: str, actor: str, effective_at: datetime, reason: str
    ) -> None:
        self.entity_types.append((effective_at, entity_type))

    def entity_type(self, at: datetime) -> str:
        """INDIVIDUAL unless set otherwise: withholding is the safe default."""
        return str(_as_of(self.entity_types, at, INDIVIDUAL))

    # -- real-name verification -------------------------------------------------------------------
    def change_verification(self, verified: bool, evidence_ref: str, audit: Audit) -> None:
        CODE.check(evidence_ref, "evidenceRef")
        if not audit.reason:
            raise InvalidInput("reason", "a change of real-name verification needs a reason")
        self._verification_changed(verified, evidence_ref, **audit.fields())

    @event(RealNameVerificationChanged)
    def _verification_changed(
        self, verified: bool, evidence_ref: str, actor: str, effective_at: datetime, reason: str
    ) -> None:
        self.verifications.append((effective_at, [verified, evidence_ref, actor]))

    def verification(self, at: datetime, registered: bool) -> tuple[bool, str | None]:
        """Verified or not at `at`, and the evidence of the change that made it so (None: as
        registered)."""
        found = _as_of(self.verifications, at, None)
        return (registered, None) if found is None else (bool(found[0]), str(found[1]))

    # -- personal data and payout accounts (sealed by the API) ------------------------------------
    def set_personal(self, field: str, sealed: str, masked: str, audit: Audit) -> None:
        if field not in PERSONAL_FIELDS:
            raise InvalidInput("field", f"field is one of {', '.join(PERSONAL_FIELDS)}")
        self._personal_set(field, sealed, masked, **audit.fields())

    @event(PersonalDataSet)
    def _personal_set(
        self, field: str, sealed: str, masked: str, actor: str, effective_at: datetime, reason: str
    ) -> None:
        self.personal.setdefault(field, []).append((effective_at, [sealed, masked]))

    def personal_at(self, field: str, at: datetime) -> tuple[str, str] | None:
        found = _as_of(self.personal.get(field, []), at, None)
        return None if found is None else (found[0], found[1])

    def add_account(
        self,
        account_id: str,
        kind: str,
        holder_name: str,
        bank_name: str | None,
        number_sealed: str,
        number_masked: str,
        audit: Audit,
    ) -> None:
        CODE.check(account_id, "accountId")
        NAME.check(holder_name, "holderName")
        if bank_name is not None:
            NAME.check(bank_name, "bankName")
        if kind not in ACCOUNT_KINDS:
            raise InvalidInput("kind", f"kind is one of {', '.join(ACCOUNT_KINDS)}")
        if kind == "BANK_CARD" and not bank_name:
            raise InvalidInput("bankName", "a bank card needs its bank's name")
        if account_id in self.accounts:
            raise InvalidState("accountId", f"payout account {account_id} already exists")
        if len([a for a in self.accounts.values() if a["removed_at"] is None]) >= MAX_ACCOUNTS:
            raise InvalidState("accountId", f"at most {MAX_ACCOUNTS} payout accounts")
        self._account_added(
            account_id, kind, holder_name, bank_name, number_sealed, number_masked,
            **audit.fields(),
        )  # fmt: skip

    @event(PayoutAccountAdded)
    def _account_added(
        self,
        account_id: str,
        kind: str,
        holder_name: str,
        bank_name: str | None,
        number_sealed: str,
        number_masked: str,
        actor: str,
        effective_at: datetime,
        reason: str,
    ) -> None:
        self.accounts[account_id] = {
            "kind": kind,
            "holder_name": holder_name,
            "bank_name": bank_name,
            "number_sealed": number_sealed,
            "number_masked": number_masked,
            "added_at": effective_at,
            "removed_at": None,
        }

    def remove_account(self, account_id: str, audit: Audit) -> None:
        account = self.accounts.get(account_id)
        if account is None or account["removed_at"] is not None:
            raise InvalidState("accountId", f"no payout account {account_id}")
        self._account_removed(account_id, **audit.fields())

    @event(PayoutAccountRemoved)
    def _account_removed(
        self, account_id: str, actor: str, effective_at: datetime, reason: str
    ) -> None:
        self.accounts[account_id]["removed_at"] = effective_at

    def accounts_at(self, at: datetime) -> list[tuple[str, dict[str, Any]]]:
        return [
            (account_id, a)
            for account_id, a in sorted(self.accounts.items())
            if a["added_at"] <= at and (a["removed_at"] is None or a["removed_at"] > at)
        ]

    def payout_account(self, at: datetime) -> tuple[str, str] | None:
        """The account a payout goes to: the most recently added one still held at `at` (its id
        and kind; the later event wins a tie of effective times), or None when there is none."""
        held = [
            (account["added_at"], order, account_id, str(account["kind"]))
            for order, (account_id, account) in enumerate(self.accounts.items())
            if account["added_at"] <= at
            and (account["removed_at"] is None or account["removed_at"] > at)
        ]
        return max(held)[2:] if held else None
