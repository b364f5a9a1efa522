"""Payouts from a wallet: available money set aside for the payment channel, then paid or
returned. A mixin of the Wallet (domain/wallet.py), whose events it records."""

from typing import Any

from domain.common import Audit
from domain.errors import InsufficientFunds, InvalidInput, InvalidState
from domain.money import format_money, require_fen
from domain.values import CODE


class Payouts:
    """The wallet's withdrawals: ids name one payout each, ever."""

    balances: dict[str, int]
    withdrawals: dict[str, int]  # payouts in flight: id -> amount
    settled_withdrawals: set[str]
    WithdrawalRequested: Any
    WithdrawalPaid: Any
    WithdrawalFailed: Any

    def _record(self, event_class: type[Any], **fields: Any) -> None:
        raise NotImplementedError

    def request_withdrawal(self, withdrawal_id: str, amount_fen: int, audit: Audit) -> None:
        """Never lets available go below zero; debt must be repaid before anything is paid out."""
        CODE.check(withdrawal_id, "withdrawalId")
        require_fen(amount_fen, "amount", allow_zero=False)
        if withdrawal_id in self.withdrawals or withdrawal_id in self.settled_withdrawals:
            raise InvalidState("withdrawalId", f"withdrawal {withdrawal_id} was already requested")
        if self.balances["debt"] > 0:
            raise InsufficientFunds(
                "amount", f"the debt {format_money(self.balances['debt'])} must be repaid first"
            )
        if amount_fen > self.balances["available"]:
            raise InsufficientFunds(
                "amount",
                f"{format_money(amount_fen)} exceeds the available "
                f"{format_money(self.balances['available'])}",
            )
        self._record(
            self.WithdrawalRequested,
            withdrawal_id=withdrawal_id,
            amount_fen=amount_fen,
            **audit.fields(),
        )

    def settle_withdrawal(self, withdrawal_id: str, paid: bool, audit: Audit) -> None:
        """The channel's outcome. A failed payout returns what was available before, so it is
        never refused for the balance limit: the channel's fact is recorded as it is."""
        if withdrawal_id not in self.withdrawals:
            raise InvalidState("withdrawalId", f"withdrawal {withdrawal_id} is not in flight")
        if not paid and not audit.reason:
            raise InvalidInput("reason", "a failed payout needs a reason")
        amount = self.withdrawals[withdrawal_id]
        if paid:
            self._record(
                self.WithdrawalPaid,
                withdrawal_id=withdrawal_id,
                amount_fen=amount,
                **audit.fields(),
            )
            return
        self._record(
            self.WithdrawalFailed,
            withdrawal_id=withdrawal_id,
            amount_fen=amount,
            debt_repaid_fen=min(amount, self.balances["debt"]),
            **audit.fields(),
        )
