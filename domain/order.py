"""An order for a package, in one of the two flows of SPEC §2.

Its completion and its refunds carry the sale they are about (seller, price chain, paid amount,
package, flow, card, buyer), so every reader finds the sale in the event it reads.
"""

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import Audit, aggregate_id, require_code
from domain.errors import InvalidInput, InvalidState
from domain.log import FilledFromHistory
from domain.money import format_money, require_fen
from domain.rules import SaleFacts
from domain.values import refuse_before

# The sale as placed: what a completion repeats (a refund repeats the first four).
SALE = (
    "order_id",
    "agent_code",
    "chain",
    "paid_fen",
    "package_code",
    "buyer_code",
    "iccid",
    "flow",
    "retail_fen",
)
_REFUNDED_SALE = SALE[:5]


class Flow(StrEnum):
    CUSTOMER_PAYS = "CUSTOMER_PAYS"  # flow 1: the customer pays the retail price to the platform
    AGENT_PREPAID = "AGENT_PREPAID"  # flow 2: the agent's cost is debited from its deposit


class OrderStatus(StrEnum):
    PLACED = "PLACED"
    COMPLETED = "COMPLETED"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
    REFUNDED = "REFUNDED"
    CANCELLED = "CANCELLED"  # placed, never completed, called off


class Order(Aggregate):
    class Placed(Aggregate.Created):
        order_id: str
        package_code: str
        package_kind: str
        agent_code: str
        buyer_code: str | None
        iccid: str | None
        flow: str
        chain: list[list[Any]]
        retail_fen: int | None
        paid_fen: int
        actor: str
        effective_at: datetime
        reason: str

    class Completed(Aggregate.Event, FilledFromHistory):
        """Version 2 repeats the sale; version 1 did not (filled from the placed order)."""

        class_version = 2
        order_id: str
        agent_code: str  # the seller
        chain: list[list[Any]]  # [agent_code, cost_fen] from the platform's direct agent down
        paid_fen: int
        package_code: str
        buyer_code: str | None
        iccid: str | None
        flow: str
        retail_fen: int | None
        actor: str
        effective_at: datetime
        reason: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.update(dict.fromkeys(SALE))

        def missing_facts(self) -> bool:
            return self.order_id is None

        def filled(self, first: Sequence[Any]) -> Any:
            return replace(self, **{name: getattr(first[0], name) for name in SALE})

        def apply(self, order: "Order") -> None:
            order.status = OrderStatus.COMPLETED
            order.completed_at = self.effective_at

        def sale_facts(self, **context: Any) -> SaleFacts:
            """context: what the processor knows besides the sale (grades, month volume)."""
            return _sale_facts(self, self.effective_at, **context)

        @property
        def beneficiaries(self) -> list[str]:
            return [code for code, _ in self.chain]

    class Refunded(Aggregate.Event, FilledFromHistory):
        """Version 2 repeats the sale it refunds and when it completed; version 1 did not
        (filled from the placed and completed order)."""

        FIRST_EVENTS = 2
        class_version = 2
        order_id: str
        agent_code: str
        chain: list[list[Any]]
        paid_fen: int
        package_code: str
        completed_at: datetime
        amount_fen: int
        refunded_total_fen: int
        actor: str
        effective_at: datetime
        reason: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.update(dict.fromkeys((*_REFUNDED_SALE, "completed_at")))

        def missing_facts(self) -> bool:
            return self.order_id is None

        def filled(self, first: Sequence[Any]) -> Any:
            placed, completed = first
            sale = {name: getattr(placed, name) for name in _REFUNDED_SALE}
            return replace(self, **sale, completed_at=completed.effective_at)

        def apply(self, order: "Order") -> None:
            order.refunded_fen = self.refunded_total_fen
            fully = self.refunded_total_fen == order.paid_fen
            order.status = OrderStatus.REFUNDED if fully else OrderStatus.PARTIALLY_REFUNDED

        @property
        def beneficiaries(self) -> list[str]:
            return [code for code, _ in self.chain]

    class Cancelled(Aggregate.Event):
        """A placed order that never completed, called off: nothing was sold. A prepaid
        order's cost goes back to the deposit (Wallet.DepositRefunded, in the same write)."""

        order_id: str
        agent_code: str
        flow: str
        paid_fen: int
        actor: str
        effective_at: datetime
        reason: str

        def apply(self, order: "Order") -> None:
            order.status = OrderStatus.CANCELLED

    @staticmethod
    def create_id(order_id: str, **_: Any) -> UUID:
        return aggregate_id("order", order_id)

    @classmethod
    def place(
        cls,
        order_id: str,
        package_code: str,
        package_kind: str,
        agent_code: str,
        buyer_code: str | None,
        iccid: str | None,
        flow: str,
        chain: list[tuple[str, int]],
        retail_fen: int | None,
        audit: Audit,
    ) -> "Order":
        """chain: (agent_code, cost_fen) from the platform's direct agent down to the seller."""
        require_code(order_id, "orderId")
        for code, field in ((buyer_code, "buyerCode"), (iccid, "iccid")):
            if code is not None:
                require_code(code, field)
        if flow not in Flow.__members__:
            raise InvalidInput("flow", f"flow must be one of {', '.join(Flow)}")
        if not chain or chain[-1][0] != agent_code:
            raise InvalidInput("agentCode", "the price chain must end with the selling agent")
        paid = retail_fen if flow == Flow.CUSTOMER_PAYS else chain[-1][1]
        if paid is None:
            raise InvalidInput("flow", "a customer-paid order needs the agent's retail price")
        return cls._create(
            cls.Placed,
            order_id=order_id,
            package_code=package_code,
            package_kind=package_kind,
            agent_code=agent_code,
            buyer_code=buyer_code,
            iccid=iccid,
            flow=flow,
            chain=[[code, cost] for code, cost in chain],
            retail_fen=retail_fen,
            paid_fen=paid,
            **audit.fields(),
        )

    @event(Placed)
    def __init__(
        self,
        order_id: str,
        package_code: str,
        package_kind: str,
        agent_code: str,
        buyer_code: str | None,
        iccid: str | None,
        flow: str,
        chain: list[list[Any]],
        retail_fen: int | None,
        paid_fen: int,
        actor: str,
        effective_at: datetime,
        reason: str,
    ) -> None:
        self.order_id = order_id
        self.package_code = package_code
        self.package_kind = package_kind
        self.agent_code = agent_code
        self.buyer_code = buyer_code
        self.iccid = iccid
        self.flow = flow
        self.chain = [(code, cost) for code, cost in chain]
        self.retail_fen = retail_fen
        self.paid_fen = paid_fen
        self.placed_at = effective_at
        self.completed_at: datetime | None = None
        self.refunded_fen = 0
        self.status = OrderStatus.PLACED

    def complete(self, audit: Audit) -> None:
        if self.status != OrderStatus.PLACED:
            raise InvalidState("orderId", f"order '{self.order_id}' is {self.status}, not PLACED")
        refuse_before(
            audit.effective_at,
            self.placed_at,
            "occurredAt",
            f"order {self.order_id} was placed",
        )
        sale = {name: getattr(self, name) for name in SALE}
        chain = [[code, cost] for code, cost in self.chain]
        self.trigger_event(self.Completed, **{**sale, "chain": chain}, **audit.fields())

    def cancel(self, audit: Audit) -> None:
        if self.status != OrderStatus.PLACED:
            raise InvalidState(
                "orderId",
                f"order '{self.order_id}' is {self.status}; only a placed order can be cancelled",
            )
        if not audit.reason:
            raise InvalidInput("reason", "a cancellation needs a reason")
        refuse_before(
            audit.effective_at, self.placed_at, "occurredAt", f"order {self.order_id} was placed"
        )
        self.trigger_event(
            self.Cancelled,
            order_id=self.order_id,
            agent_code=self.agent_code,
            flow=self.flow,
            paid_fen=self.paid_fen,
            **audit.fields(),
        )

    def refund(self, amount_fen: int, audit: Audit) -> None:
        require_fen(amount_fen, "amount", allow_zero=False)
        if self.status not in (OrderStatus.COMPLETED, OrderStatus.PARTIALLY_REFUNDED):
            raise InvalidState(
                "orderId",
                f"order '{self.order_id}' is {self.status}; only completed orders can be refunded",
            )
        refundable = self.paid_fen - self.refunded_fen
        if amount_fen > refundable:
            raise InvalidInput(
                "amount",
                f"refund {format_money(amount_fen)} exceeds the refundable "
                f"{format_money(refundable)}",
            )
        if not audit.reason:
            raise InvalidInput("reason", "a refund needs a reason")
        if self.completed_at is not None:
            refuse_before(
                audit.effective_at,
                self.completed_at,
                "occurredAt",
                f"order {self.order_id} completed",
            )
        sale = {name: getattr(self, name) for name in _REFUNDED_SALE}
        self.trigger_event(
            self.Refunded,
            **{**sale, "chain": [[code, cost] for code, cost in self.chain]},
            completed_at=self.completed_at,
            amount_fen=amount_fen,
            refunded_total_fen=self.refunded_fen + amount_fen,
            **audit.fields(),
        )

    def sale_facts(self, **context: Any) -> SaleFacts:
        assert self.completed_at is not None
        return _sale_facts(self, self.completed_at, **context)

    @property
    def beneficiaries(self) -> list[str]:
        return [code for code, _ in self.chain]


def _sale_facts(sale: Any, completed_at: datetime, **context: Any) -> SaleFacts:
    """What a completed sale tells the rules, from the order or from its completion event."""
    return SaleFacts(
        order_id=sale.order_id,
        package_code=sale.package_code,
        seller_code=sale.agent_code,
        buyer_code=sale.buyer_code,
        flow=sale.flow,
        chain=tuple((code, cost) for code, cost in sale.chain),
        retail_fen=sale.retail_fen,
        paid_fen=sale.paid_fen,
        effective_at=completed_at,
        **context,
    )
