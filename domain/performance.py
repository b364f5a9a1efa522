"""An agent's volume in one month (业绩): what tiered rules read, kept by the commission policy.

The policy updates it in the same transaction as the commissions it pays, from the facts it has
already processed, so a tier is always decided by the volume known at the fact's position and a
re-run decides it the same way. Read models are never consulted.
"""

from datetime import datetime, tzinfo
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import aggregate_id
from domain.rules import Metric


def month_of(at: datetime, tz: tzinfo) -> str:
    """The business month ('YYYY-MM') of an instant, in the business time zone."""
    return at.astimezone(tz).strftime("%Y-%m")


class MonthlyVolume(Aggregate):
    class Opened(Aggregate.Created):
        agent_code: str
        month: str

    class SaleCounted(Aggregate.Event):
        order_id: str
        amount_fen: int
        effective_at: datetime

    class RefundCounted(Aggregate.Event):
        order_id: str
        amount_fen: int
        effective_at: datetime

    class CardCounted(Aggregate.Event):
        metric: str
        iccid: str
        effective_at: datetime

    @staticmethod
    def create_id(agent_code: str, month: str, **_: Any) -> UUID:
        return aggregate_id("monthly-volume", f"{agent_code}|{month}")

    @classmethod
    def open(cls, agent_code: str, month: str) -> "MonthlyVolume":
        return cls._create(cls.Opened, agent_code=agent_code, month=month)

    @event(Opened)
    def __init__(self, agent_code: str, month: str) -> None:
        self.agent_code = agent_code
        self.month = month
        self.sales_fen = 0
        self.orders = 0
        self.counts: dict[str, int] = {Metric.PICKUP_COUNT: 0, Metric.ACTIVATION_COUNT: 0}
        # Each counted order's amount net of refunds, for re-rating the month.
        self.net_by_order: dict[str, int] = {}

    def snapshot_weight(self) -> int:
        """What a snapshot's size grows with: the month's orders (snapshot intervals stretch)."""
        return len(self.net_by_order)

    def count_sale(self, order_id: str, amount_fen: int, effective_at: datetime) -> None:
        self._count_sale(order_id=order_id, amount_fen=amount_fen, effective_at=effective_at)

    @event(SaleCounted)
    def _count_sale(self, order_id: str, amount_fen: int, effective_at: datetime) -> None:
        self.sales_fen += amount_fen
        self.orders += 1
        self._add_net(order_id, amount_fen)

    def _add_net(self, order_id: str, amount_fen: int) -> None:
        self.net_by_order[order_id] = self.net_by_order.get(order_id, 0) + amount_fen

    def count_refund(self, order_id: str, amount_fen: int, effective_at: datetime) -> None:
        self._count_refund(order_id=order_id, amount_fen=amount_fen, effective_at=effective_at)

    @event(RefundCounted)
    def _count_refund(self, order_id: str, amount_fen: int, effective_at: datetime) -> None:
        self.sales_fen -= amount_fen
        self._add_net(order_id, -amount_fen)

    def count_card(self, metric: Metric, iccid: str, effective_at: datetime) -> int:
        self._count_card(metric=str(metric), iccid=iccid, effective_at=effective_at)
        return self.counts[metric]

    @event(CardCounted)
    def _count_card(self, metric: str, iccid: str, effective_at: datetime) -> None:
        self.counts[metric] = self.counts.get(metric, 0) + 1
