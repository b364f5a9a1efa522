"""An agent's wallet: deposit top-ups and withdrawals."""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from application.commands import Command, Decision
from application.results import DepositToppedUp, WithdrawalRecorded
from domain.common import Audit
from domain.errors import InvalidState
from domain.values import Code, Fen, Key

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
    """Sets available money aside for a payout; only real-name verified agents withdraw."""

    agent_code: Code
    withdrawal_id: Code
    amount_fen: Fen
    audit: Audit
    key: Key | None = None

    def decide(self, ledger: "Ledger") -> Decision[WithdrawalRecorded]:
        agent = ledger.agent(self.agent_code)
        if not agent.real_name_verified:
            raise InvalidState("agentCode", f"agent '{self.agent_code}' is not real-name verified")
        wallet = ledger.wallet(self.agent_code)
        wallet.request_withdrawal(self.withdrawal_id, self.amount_fen, self.audit)
        return [wallet], WithdrawalRecorded(self.agent_code, self.withdrawal_id)


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
