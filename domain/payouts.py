"""Withdrawals from a wallet: available money set aside, reviewed by finance (maker-checker above
the threshold), then paid by the channel (net of fee and tax) or returned. A mixin of the Wallet
(domain/wallet.py), whose events it records.

Money: a request moves the gross from available to withdrawing; approval moves nothing but fixes
the fee, the tax and the net the channel pays; paid: the fee, the tax and the net leave the
wallet (three movements adding up to the gross); rejected or failed: the gross comes back to
available, and a failed payout's tax stops counting as withheld in its period.
"""

from datetime import datetime
from typing import Any

from domain.approvals import Approval, ApprovalPolicy
from domain.common import Audit
from domain.errors import (
    InsufficientFunds,
    InvalidInput,
    InvalidState,
    WithdrawalNotFound,
)
from domain.money import format_money, require_fen
from domain.tax import TaxMethod, withholding
from domain.values import CODE
from domain.withdrawal_limits import WithdrawalLimits
from domain.withdrawal_state import WithdrawalState


class Payouts(WithdrawalState):
    """The wallet's withdrawals: ids name one withdrawal each, ever. What they change besides
    balances is domain/withdrawal_state.py's."""

    agent_code: str
    balances: dict[str, int]
    WithdrawalRequested: Any
    WithdrawalApprovalRecorded: Any
    WithdrawalApproved: Any
    WithdrawalRejected: Any
    WithdrawalFeeCharged: Any
    WithdrawalTaxWithheld: Any
    WithdrawalPaid: Any
    WithdrawalFailed: Any
    CommissionMovedToDeposit: Any

    def _record(self, event_class: type[Any], **fields: Any) -> None:
        raise NotImplementedError

    def _require_room(self, bucket: str, delta: int, field: str = "amount") -> None:
        raise NotImplementedError

    # -- request --------------------------------------------------------------------------------
    def counted(self, business_day: str) -> tuple[int, int, int]:
        """The amount and count of the day's withdrawals and the amount of its month's that
        count against the limits (requested, not rejected, not failed)."""
        day_total = day_count = month_total = 0
        for day, amount, _ in self.withdrawal_requests.values():
            if day is None:
                continue
            if day == business_day:
                day_total += amount
                day_count += 1
            if day[:7] == business_day[:7]:
                month_total += amount
        return day_total, day_count, month_total

    def request_withdrawal(
        self,
        withdrawal_id: str,
        amount_fen: int,
        audit: Audit,
        limits: WithdrawalLimits | None = None,
        business_day: str | None = None,
    ) -> bool:
        """Never lets available go below zero; debt must be repaid before anything is paid out.
        Returns whether it is a large withdrawal (the alert)."""
        CODE.check(withdrawal_id, "withdrawalId")
        require_fen(amount_fen, "amount", allow_zero=False)
        limits = limits or WithdrawalLimits()
        if withdrawal_id in self.withdrawals or withdrawal_id in self.settled_withdrawals:
            raise InvalidState("withdrawalId", f"withdrawal {withdrawal_id} was already requested")
        if business_day is not None:
            limits.check(amount_fen, *self.counted(business_day))
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
        large = limits.large(amount_fen)
        self._record(
            self.WithdrawalRequested,
            withdrawal_id=withdrawal_id,
            amount_fen=amount_fen,
            business_day=business_day,
            large=large,
            **audit.fields(),
        )
        return large

    def requested_at(self, withdrawal_id: str) -> datetime | None:
        """When a pending withdrawal was requested (its fee is the one in force then)."""
        found = self.withdrawal_requests.get(withdrawal_id)
        return None if found is None else datetime.fromisoformat(found[2])

    # -- review ---------------------------------------------------------------------------------
    def withdrawal_approval(self, withdrawal_id: str) -> Approval:
        approvers = self._under_review(withdrawal_id)
        return Approval(
            f"withdrawal {withdrawal_id}",
            self.agent_code,
            self.withdrawals[withdrawal_id],
            tuple(approvers),
        )

    def approve_withdrawal(
        self,
        withdrawal_id: str,
        audit: Audit,
        policy: ApprovalPolicy,
        limits: WithdrawalLimits,
        tax_method: TaxMethod | None,
        tax_month: str,
    ) -> bool:
        """Approves a withdrawal under review. False: it now waits for a second approver.
        limits: those in force when it was requested (its fee); tax_method: None for a company;
        tax_month: the business month of the approval ('YYYY-MM')."""
        approval = self.withdrawal_approval(withdrawal_id).approved_by(audit, policy)
        if not approval.complete(policy):
            self._record(
                self.WithdrawalApprovalRecorded,
                withdrawal_id=withdrawal_id,
                amount_fen=approval.amount_fen,
                approver=audit.actor,
                **audit.fields(),
            )
            return False
        amount = approval.amount_fen
        fee = limits.fee(amount)
        period, tax = None, 0
        if tax_method is not None:
            period = tax_month if tax_method == TaxMethod.PER_MONTH else tax_month[:4]
            tax = self.tax_due(tax_method, period, tax_month, amount)
        if fee + tax >= amount:
            raise InvalidState(
                "ids",
                f"the fee {format_money(fee)} and tax {format_money(tax)} leave nothing of "
                f"withdrawal {withdrawal_id} ({format_money(amount)})",
            )
        self._record(
            self.WithdrawalApproved,
            withdrawal_id=withdrawal_id,
            amount_fen=amount,
            fee_fen=fee,
            tax_fen=tax,
            net_fen=amount - fee - tax,
            tax_method=None if tax_method is None else tax_method.value,
            tax_period=period,
            tax_month=tax_month,
            **audit.fields(),
        )
        return True

    def tax_due(self, method: TaxMethod, period: str, month: str, amount_fen: int) -> int:
        counted = self.tax_periods.get(period, {"income": 0, "withheld": 0, "months": {}})
        months = {m for m, income in counted["months"].items() if income > 0} | {month}
        return withholding(
            method, counted["income"], counted["withheld"], amount_fen, months=len(months)
        )

    def reject_withdrawal(self, withdrawal_id: str, audit: Audit) -> None:
        """Any one decider ends a review, whoever approved it first."""
        if not audit.reason:
            raise InvalidInput("reason", "a rejection needs a reason")
        self._under_review(withdrawal_id)
        amount = self.withdrawals[withdrawal_id]
        self._record(
            self.WithdrawalRejected,
            withdrawal_id=withdrawal_id,
            amount_fen=amount,
            debt_repaid_fen=min(amount, self.balances["debt"]),
            **audit.fields(),
        )

    def _under_review(self, withdrawal_id: str) -> list[str]:
        if withdrawal_id in self.withdrawal_reviews:
            return self.withdrawal_reviews[withdrawal_id]
        if withdrawal_id in self.withdrawals or withdrawal_id in self.settled_withdrawals:
            raise InvalidState("ids", f"withdrawal {withdrawal_id} is not awaiting review")
        raise WithdrawalNotFound(withdrawal_id)

    # -- the payout's outcome -------------------------------------------------------------------
    def settle_withdrawal(self, withdrawal_id: str, paid: bool, audit: Audit) -> None:
        """The channel's outcome of an approved withdrawal. A failed payout returns what was
        available before, so it is never refused for the balance limit: the channel's fact is
        recorded as it is."""
        if withdrawal_id in self.withdrawal_reviews:
            raise InvalidState(
                "withdrawalId", f"withdrawal {withdrawal_id} is awaiting review, not paid out"
            )
        if withdrawal_id not in self.withdrawals:
            raise InvalidState("withdrawalId", f"withdrawal {withdrawal_id} is not in flight")
        if not paid and not audit.reason:
            raise InvalidInput("reason", "a failed payout needs a reason")
        amount = self.withdrawals[withdrawal_id]
        approved = self.approved_withdrawals[withdrawal_id]
        if paid:
            if approved["fee_fen"]:
                self._record(
                    self.WithdrawalFeeCharged,
                    withdrawal_id=withdrawal_id,
                    amount_fen=approved["fee_fen"],
                    **audit.fields(),
                )
            if approved["tax_fen"]:
                self._record(
                    self.WithdrawalTaxWithheld,
                    withdrawal_id=withdrawal_id,
                    amount_fen=approved["tax_fen"],
                    tax_period=approved["tax_period"],
                    **audit.fields(),
                )
            self._record(
                self.WithdrawalPaid,
                withdrawal_id=withdrawal_id,
                amount_fen=approved["net_fen"],
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

    # -- flow 2 funding -------------------------------------------------------------------------
    def move_to_deposit(self, transfer_id: str, amount_fen: int, audit: Audit) -> None:
        """Available commission into the prepaid deposit (返还到代理余额)."""
        CODE.check(transfer_id, "transferId")
        require_fen(amount_fen, "amount", allow_zero=False)
        if transfer_id in self.deposit_transfers:
            raise InvalidState("transferId", f"transfer {transfer_id} was already made")
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
        self._require_room("deposit", amount_fen)
        self._record(
            self.CommissionMovedToDeposit,
            transfer_id=transfer_id,
            amount_fen=amount_fen,
            **audit.fields(),
        )
