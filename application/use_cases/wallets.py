"""An agent's wallet: deposit top-ups and withdrawals."""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from application.commands import Command, Decision
from application.results import DepositToppedUp, WithdrawalRecorded
from domain.common import Audit
from domain.errors import InvalidState
from domain.values import Code, Fen, Key
from domain.withdrawal_limits import WithdrawalLimits

if TYPE_CHECKING:
    from application.ledger import Ledger


@dataclass(frozen=True)
class TopUpDeposit(Command[DepositToppedUp]):
    agent_code: Code
    amount_fen: Fen
    audit: Audit
    key: Key | None = None

    def decide(self, ledger: "Ledger") -> Decision[DepositToppedUp]:
        wallet = ledger.wallet(self.agent_code)
        wallet.top_up(self.amount_fen, self.audit)
        return [wallet], DepositToppedUp(self.agent_code, wallet.balances["deposit"])


@dataclass(frozen=True)
class RequestWithdrawal(Command[WithdrawalRecorded]):
    """Sets available money aside for finance's review: only real-name verified agents whose
    account is not frozen withdraw, within the limits in force (domain/withdrawal_limits.py)."""

    agent_code: Code
    withdrawal_id: Code
    amount_fen: Fen
    audit: Audit
    key: Key | None = None

    def decide(self, ledger: "Ledger") -> Decision[WithdrawalRecorded]:
        agent = ledger.agent(self.agent_code)
        if not agent.real_name_verified:
            raise InvalidState("agentCode", f"agent '{self.agent_code}' is not real-name verified")
        ledger.refuse_frozen_account(self.agent_code)
        wallet = ledger.wallet(self.agent_code)
        history = ledger.withdrawal_limits()
        at = self.audit.effective_at
        limits = history.as_of(at) if history else WithdrawalLimits()
        day = at.astimezone(ledger.business_tz).date().isoformat()
        large = wallet.request_withdrawal(
            self.withdrawal_id, self.amount_fen, self.audit, limits, day
        )
        return [wallet], WithdrawalRecorded(self.agent_code, self.withdrawal_id, large)


@dataclass(frozen=True)
class SettleWithdrawal(Command[WithdrawalRecorded]):
    """The payment channel's outcome: paid, or failed and the money made available again."""

    agent_code: Code
    withdrawal_id: Code
    paid: bool
    audit: Audit
    key: Key | None = None

    def decide(self, ledger: "Ledger") -> Decision[WithdrawalRecorded]:
        wallet = ledger.wallet(self.agent_code)
        wallet.settle_withdrawal(self.withdrawal_id, self.paid, self.audit)
        return [wallet], WithdrawalRecorded(self.agent_code, self.withdrawal_id)
