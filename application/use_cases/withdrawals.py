"""Withdrawals: finance's review (approve with maker-checker above the threshold, reject), the
runtime limits admins set, and flow-2 funding (available commission into the deposit)."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from application.commands import Command, Decision
from application.results import (
    AccountFreezeRecorded,
    DepositTransferred,
    WithdrawalLimitsSet,
    WithdrawalsDecided,
)
from domain.common import Audit
from domain.errors import InvalidInput
from domain.tax import TaxMethod
from domain.values import Code, Count, Fen, Key, Rate
from domain.wallet import Wallet
from domain.withdrawal_limits import WithdrawalLimits, WithdrawalLimitsHistory

if TYPE_CHECKING:
    from application.ledger import Ledger

MAX_BATCH = 500


def _batch(ledger: "Ledger", refs: tuple[tuple[str, str], ...]) -> Iterator[tuple[Wallet, str]]:
    """Each withdrawal with its agent's wallet, all or nothing: one bad id refuses the batch."""
    if not refs or len(refs) > MAX_BATCH:
        raise InvalidInput("withdrawals", f"give 1 to {MAX_BATCH} withdrawals")
    if len(set(refs)) != len(refs):
        raise InvalidInput("withdrawals", "the same withdrawal is given twice")
    wallets: dict[str, Wallet] = {}
    for agent_code, withdrawal_id in refs:
        if agent_code not in wallets:
            wallets[agent_code] = ledger.wallet(agent_code)
        yield wallets[agent_code], withdrawal_id


def tax_method_of(ledger: "Ledger", agent_code: str, limits: WithdrawalLimits) -> TaxMethod | None:
    """Individuals have 劳务报酬 tax withheld (by the method in force); companies invoice."""
    agent = ledger.agent(agent_code)
    if getattr(agent, "entity_type", "INDIVIDUAL") == "COMPANY":
        return None
    return TaxMethod(limits.tax_method)


@dataclass(frozen=True)
class ApproveWithdrawals(Command[WithdrawalsDecided]):
    """Maker-checker per withdrawal (domain/approvals.py), all or nothing: one refused approval
    (self-approval, the same approver twice) refuses the batch. The fee is the one in force when
    the withdrawal was requested; the tax counts in the business month of the approval."""

    withdrawals: tuple[tuple[Code, Code], ...]
    audit: Audit
    key: Key | None = None

    def decide(self, ledger: "Ledger") -> Decision[WithdrawalsDecided]:
        history = ledger.withdrawal_limits()
        now = self.audit.effective_at
        month = now.astimezone(ledger.business_tz).strftime("%Y-%m")
        changed: dict[str, Wallet] = {}
        waiting = []
        for wallet, withdrawal_id in _batch(ledger, tuple(map(tuple, self.withdrawals))):
            limits = history.as_of(wallet.requested_at(withdrawal_id)) if history else None
            limits = limits or WithdrawalLimits()
            method = tax_method_of(
                ledger, wallet.agent_code, history.as_of(now) if history else limits
            )
            if not wallet.approve_withdrawal(
                withdrawal_id, self.audit, ledger.approvals, limits, method, month
            ):
                waiting.append((wallet.agent_code, withdrawal_id))
            changed[str(wallet.id)] = wallet
        refs = tuple((a, w) for a, w in self.withdrawals)
        return list(changed.values()), WithdrawalsDecided(refs, tuple(waiting))


@dataclass(frozen=True)
class RejectWithdrawals(Command[WithdrawalsDecided]):
    """Returns the money to available; a reason is required."""

    withdrawals: tuple[tuple[Code, Code], ...]
    audit: Audit
    key: Key | None = None

    def decide(self, ledger: "Ledger") -> Decision[WithdrawalsDecided]:
        changed: dict[str, Wallet] = {}
        for wallet, withdrawal_id in _batch(ledger, tuple(map(tuple, self.withdrawals))):
            wallet.reject_withdrawal(withdrawal_id, self.audit)
            changed[str(wallet.id)] = wallet
        refs = tuple((a, w) for a, w in self.withdrawals)
        return list(changed.values()), WithdrawalsDecided(refs)


@dataclass(frozen=True)
class SetWithdrawalLimits(Command[WithdrawalLimitsSet]):
    """The full set of withdrawal parameters from the effective time on (admins)."""

    minimum_fen: Fen
    daily_max_fen: Fen | None
    monthly_max_fen: Fen | None
    daily_count: Count | None
    fee_rate: Rate
    fee_min_fen: Fen
    fee_max_fen: Fen | None
    large_from_fen: Fen | None
    tax_method: Code
    audit: Audit
    key: Key | None = None

    input_names: ClassVar[dict[str, str]] = {
        "minimum_fen": "minimum",
        "daily_max_fen": "dailyMax",
        "monthly_max_fen": "monthlyMax",
        "fee_min_fen": "feeMin",
        "fee_max_fen": "feeMax",
        "large_from_fen": "largeFrom",
    }

    def decide(self, ledger: "Ledger") -> Decision[WithdrawalLimitsSet]:
        limits = WithdrawalLimits(
            minimum_fen=self.minimum_fen,
            daily_max_fen=self.daily_max_fen,
            monthly_max_fen=self.monthly_max_fen,
            daily_count=self.daily_count,
            fee_rate=self.fee_rate,
            fee_min_fen=self.fee_min_fen,
            fee_max_fen=self.fee_max_fen,
            large_from_fen=self.large_from_fen,
            tax_method=self.tax_method,
        )
        history = ledger.withdrawal_limits() or WithdrawalLimitsHistory.start()
        history.set(limits, self.audit)
        return [history], WithdrawalLimitsSet(self.audit.effective_at.isoformat())


@dataclass(frozen=True)
class MoveCommissionToDeposit(Command[DepositTransferred]):
    """Flow-2 funding: available commission into the agent's prepaid deposit."""

    agent_code: Code
    transfer_id: Code
    amount_fen: Fen
    audit: Audit
    key: Key | None = None

    def decide(self, ledger: "Ledger") -> Decision[DepositTransferred]:
        wallet = ledger.wallet(self.agent_code)
        wallet.move_to_deposit(self.transfer_id, self.amount_fen, self.audit)
        return [wallet], DepositTransferred(
            self.agent_code, self.transfer_id, wallet.balances["deposit"]
        )


@dataclass(frozen=True)
class RequestAccountFreeze(Command[AccountFreezeRecorded]):
    """An operator asks for an agent's account to be frozen (FREEZE) or unfrozen (UNFREEZE)."""

    agent_code: Code
    action: Code
    audit: Audit
    key: Key | None = None

    def decide(self, ledger: "Ledger") -> Decision[AccountFreezeRecorded]:
        account = ledger.account_freeze(self.agent_code)
        account.request(self.action, self.audit)
        return [account], AccountFreezeRecorded(self.agent_code, account.frozen, account.pending)


@dataclass(frozen=True)
class DecideAccountFreeze(Command[AccountFreezeRecorded]):
    """An admin approves or rejects the pending request (not the operator who made it)."""

    agent_code: Code
    approved: bool
    audit: Audit
    key: Key | None = None

    def decide(self, ledger: "Ledger") -> Decision[AccountFreezeRecorded]:
        account = ledger.account_freeze(self.agent_code)
        account.decide(self.approved, self.audit)
        return [account], AccountFreezeRecorded(self.agent_code, account.frozen, account.pending)
