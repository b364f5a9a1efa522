"""The platform's cumulative totals (income, refunds, agent credits, payouts), as of any log
position: the view behind platformTotals and the platform's net."""

from dataclasses import dataclass, field
from typing import Any

from psycopg import Cursor

from domain.order import Order
from domain.settlement import CarrierSettlement
from domain.wallet import Wallet
from projections.rows import copy_rows
from projections.views import Position, View


@dataclass
class _Totals:
    income: int = 0
    refunded: int = 0
    credits: int = 0
    paid_out: int = 0
    rows: list[tuple[Any, ...]] = field(default_factory=list)


# What leaves agents' wallets when a withdrawal is paid: the net to the agent, the fee, the tax.
_LEFT_THE_WALLETS = (
    Wallet.WithdrawalPaid,
    Wallet.WithdrawalFeeCharged,
    Wallet.WithdrawalTaxWithheld,
)


class PlatformTotals(View):
    """Cumulative income, refunds, agent credits and payouts (paid out: what left agents'
    wallets through paid withdrawals, their fees and tax included).

    Platform net = income - refunds - credits; what agents hold = credits - paid out. Income is
    what customers paid for completed orders and what carriers pay for number cards (a settlement
    row's total): the agents' shares of it are credits like any other commission.
    """

    name = "platform_totals"
    tables = ("platform_totals_history",)
    event_types = (
        Order.Completed,
        Order.Refunded,
        CarrierSettlement.Recorded,
        Wallet.CommissionAccrued,
        Wallet.WithdrawalPaid,
        Wallet.WithdrawalFeeCharged,
        Wallet.WithdrawalTaxWithheld,
        Wallet.CommissionVoided,
        Wallet.CommissionClawedBack,
    )

    totals: _Totals | None = None

    def forget(self, empty: bool) -> None:
        self.totals = _Totals() if empty else None

    def begin(self, cur: Cursor[Any]) -> None:
        if self.totals is not None:
            return  # still the totals the last committed batch wrote
        cur.execute(
            "SELECT income_fen, refunded_fen, credits_fen, paid_out_fen"
            " FROM platform_totals_history ORDER BY position DESC LIMIT 1"
        )
        row = cur.fetchone()
        self.totals = _Totals(*row) if row else _Totals()

    def apply(self, event: Any, at: Position) -> None:
        t = self.totals
        assert t is not None
        if isinstance(event, Order.Completed):
            t.income += event.paid_fen
        elif isinstance(event, CarrierSettlement.Recorded):
            t.income += event.total_fen
        elif isinstance(event, Order.Refunded):
            t.refunded += event.amount_fen
        elif isinstance(event, Wallet.CommissionAccrued):
            t.credits += event.amount_fen
        elif isinstance(event, _LEFT_THE_WALLETS):
            t.paid_out += event.amount_fen
        else:
            t.credits -= event.amount_fen
        t.rows.append((at.position, at.recorded_at, t.income, t.refunded, t.credits, t.paid_out))

    def flush(self, cur: Cursor[Any]) -> None:
        assert self.totals is not None
        copy_rows(
            cur,
            "platform_totals_history",
            (
                "position",
                "recorded_at",
                "income_fen",
                "refunded_fen",
                "credits_fen",
                "paid_out_fen",
            ),
            self.totals.rows,
        )
        self.totals.rows = []
