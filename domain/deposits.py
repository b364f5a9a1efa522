"""The prepaid deposit of flow 2: topped up, debited by an order's cost, refunded. A mixin of the
Wallet (domain/wallet.py), whose events it records; the deposit is one of its balance buckets.
"""

from typing import Any

from domain.common import Audit
from domain.errors import InsufficientDeposit
from domain.money import format_money, require_fen


class Deposits:
    balances: dict[str, int]
    # The wallet's events and its recorder (domain/wallet.py).
    DepositToppedUp: Any
    DepositDebited: Any
    DepositRefunded: Any

    def _record(self, event_class: type[Any], **fields: Any) -> None:
        raise NotImplementedError

    def _require_room(self, bucket: str, delta: int, field: str = "amount") -> None:
        raise NotImplementedError

    def top_up(self, amount_fen: int, audit: Audit) -> None:
        require_fen(amount_fen, "amount", allow_zero=False)
        self._require_room("deposit", amount_fen)
        self._record(self.DepositToppedUp, amount_fen=amount_fen, **audit.fields())

    def debit_deposit(self, order_id: str, amount_fen: int, audit: Audit) -> None:
        require_fen(amount_fen, "amount", allow_zero=False)
        if amount_fen > self.balances["deposit"]:
            raise InsufficientDeposit(
                "flow",
                f"deposit {format_money(self.balances['deposit'])} does not cover the cost "
                f"{format_money(amount_fen)}",
            )
        self._record(
            self.DepositDebited, order_id=order_id, amount_fen=amount_fen, **audit.fields()
        )

    def refund_deposit(self, order_id: str, amount_fen: int, audit: Audit) -> None:
        require_fen(amount_fen, "amount", allow_zero=False)
        self._require_room("deposit", amount_fen)
        self._record(
            self.DepositRefunded, order_id=order_id, amount_fen=amount_fen, **audit.fields()
        )
