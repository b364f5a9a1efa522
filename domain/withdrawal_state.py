"""What a wallet holds about its withdrawals besides balances: the review state, the approved
terms, the requests that count against the limits, the tax counted per period, the flow-2
transfers done. A mixin of the Wallet (domain/wallet.py): its events apply these changes, each
by one call, and the decisions (domain/payouts.py) read them; nothing here decides.
"""

from typing import Any

# The withdrawal state, each with its empty value (a snapshot taken before withdrawals were
# reviewed lacks it: it comes back empty).
WITHDRAWAL_STATE: dict[str, Any] = {
    "withdrawal_reviews": dict,  # pending review: id -> approvers so far
    "approved_withdrawals": dict,  # approved, payout pending: id -> fee, tax, net, tax period
    "withdrawal_requests": dict,  # id -> [business day, amount, requested at] while it counts
    "tax_periods": dict,  # period -> {income, withheld, months: {month: income}}
    "deposit_transfers": set,  # ids of flow-2 transfers done
}


class WithdrawalState:
    withdrawals: dict[str, int]  # reserved, under review or approved: id -> gross amount
    settled_withdrawals: set[str]
    withdrawal_reviews: dict[str, list[str]]
    approved_withdrawals: dict[str, dict[str, Any]]
    withdrawal_requests: dict[str, list[Any]]
    tax_periods: dict[str, dict[str, Any]]
    deposit_transfers: set[str]

    def restore_withdrawal_state(self) -> None:
        """Gives the wallet every part of the state it lacks, empty."""
        for name, empty in WITHDRAWAL_STATE.items():
            if not hasattr(self, name):
                setattr(self, name, empty())

    # -- state changes the events apply (never called to decide) ----------------------------------
    def hold_withdrawal(self, requested: Any) -> None:
        """A withdrawal requested (Wallet.WithdrawalRequested): under review, counting."""
        self.withdrawals[requested.withdrawal_id] = requested.amount_fen
        self.withdrawal_reviews[requested.withdrawal_id] = []
        self.withdrawal_requests[requested.withdrawal_id] = [
            requested.business_day,
            requested.amount_fen,
            requested.effective_at.isoformat(),
        ]

    def fix_approved_terms(self, approved: Any) -> None:
        """A withdrawal approved (Wallet.WithdrawalApproved): its fee, tax and net are fixed,
        and its income and tax count in their period."""
        del self.withdrawal_reviews[approved.withdrawal_id]
        self.approved_withdrawals[approved.withdrawal_id] = {
            "fee_fen": approved.fee_fen,
            "tax_fen": approved.tax_fen,
            "net_fen": approved.net_fen,
            "tax_period": approved.tax_period,
            "tax_month": approved.tax_month,
        }
        if approved.tax_period is not None:
            self.count_tax(
                approved.tax_period, approved.tax_month, approved.amount_fen, approved.tax_fen
            )

    def reverse_failed(self, failed: Any) -> None:
        """A payout failed (Wallet.WithdrawalFailed): its tax no longer counts as withheld."""
        approved = self.approved_withdrawals.get(failed.withdrawal_id)
        if approved is not None and approved["tax_period"] is not None:
            self.count_tax(
                approved["tax_period"],
                approved["tax_month"],
                -failed.amount_fen,
                -approved["tax_fen"],
            )
        self.end_withdrawal(failed.withdrawal_id, counts=False)

    def count_tax(self, period: str, month: str, income_fen: int, withheld_fen: int) -> None:
        counted = self.tax_periods.setdefault(period, {"income": 0, "withheld": 0, "months": {}})
        counted["income"] += income_fen
        counted["withheld"] += withheld_fen
        counted["months"][month] = counted["months"].get(month, 0) + income_fen

    def end_withdrawal(self, withdrawal_id: str, counts: bool) -> None:
        """A withdrawal rejected, paid or failed; only a paid one still counts against limits."""
        del self.withdrawals[withdrawal_id]
        self.approved_withdrawals.pop(withdrawal_id, None)
        self.settled_withdrawals.add(withdrawal_id)
        if not counts:
            self.withdrawal_requests.pop(withdrawal_id, None)
