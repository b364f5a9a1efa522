"""Orders: placed (either flow), completed, refunded."""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from application.commands import Command, Decision
from application.results import OrderCancelled, OrderCompleted, OrderPlaced, OrderRefunded
from application.use_cases.limits import require_room_for_facts
from domain.card import Card, CardStatus
from domain.common import Audit, aggregate_id
from domain.errors import AlreadyExists, InvalidInput, PackageNotFound
from domain.order import Flow, Order
from domain.package import Package
from domain.pricing import PriceChain
from domain.rules import has_one_time_rule
from domain.values import Code, Fen, Key

if TYPE_CHECKING:
    from eventsourcing.domain import Aggregate

    from application.ledger import Ledger


@dataclass(frozen=True)
class PlaceOrder(Command[OrderPlaced]):
    look_up_key_first = False  # a retry is refused as the order exists, or fails on its key
    order_id: Code
    package_code: Code
    agent_code: Code
    iccid: Code | None
    buyer_code: Code | None
    flow: Code
    audit: Audit
    key: Key | None = None

    def decide(self, ledger: "Ledger") -> Decision[OrderPlaced]:
        # The order's id, the package, the seller and its uplines: checked in one query (or,
        # taken as kept, by the save's own statement: KeptReads.unchecked).
        package_id = aggregate_id("package", self.package_code)
        found = ledger.kept.read(
            [package_id], lineage_of=self.agent_code, new=aggregate_id("order", self.order_id)
        )
        if found.exists("order", self.order_id):
            raise AlreadyExists("orderId", f"order '{self.order_id}' already exists")
        if self.flow not in Flow.__members__:
            raise InvalidInput("flow", f"flow must be one of {', '.join(Flow)}")
        package = found.get(package_id)
        if not isinstance(package, Package):
            raise PackageNotFound(self.package_code)
        ancestry = found.ancestry(self.agent_code)
        seller = ancestry[0]
        for agent in ancestry:  # every agent the sale may pay was in place
            agent.require_in_tree_at(self.audit.effective_at)
        chain = ledger.price_chain(seller, self.package_code, ancestry)
        chain.check()
        retail = seller.retail_price(self.package_code) if self.flow == Flow.CUSTOMER_PAYS else None
        changed = self._first_purchase_card(ledger, package)
        order = self._place(package.kind, chain, retail)
        changed.append(order)
        if self.flow == Flow.AGENT_PREPAID:
            wallet = ledger.wallet(self.agent_code)
            wallet.debit_deposit(self.order_id, order.paid_fen, self.audit)
            changed.append(wallet)
        return changed, OrderPlaced(self.order_id, order.paid_fen)

    def _first_purchase_card(self, ledger: "Ledger", package: Package) -> list["Aggregate"]:
        """The card, assigned to the seller, when this order is its first purchase."""
        if self.iccid is None:
            return []
        if ledger.exists("card", self.iccid):
            card = ledger.card(self.iccid)
            if card.agent_code != self.agent_code:
                raise InvalidInput(
                    "iccid", f"card '{self.iccid}' belongs to agent '{card.agent_code}'"
                )
            card.require_existed_at(self.audit.effective_at)
            return []
        require_room_for_facts(ledger)  # its assignment counts as a card picked up
        card = Card.assign(self.iccid, self.agent_code, package.code, package.kind, self.audit)
        self._refuse_customer_paid_one_time(ledger)
        return [card]

    def _refuse_customer_paid_one_time(self, ledger: "Ledger") -> None:
        """A card's first purchase carrying a one-time commission is paid from the wallet."""
        if self.flow == Flow.CUSTOMER_PAYS and has_one_time_rule(
            ledger.plan_versions(), self.package_code, self.audit.effective_at
        ):
            raise InvalidInput(
                "flow",
                f"package '{self.package_code}' carries a one-time "
                "commission: its first purchase must be paid from the wallet",
            )

    def _place(self, package_kind: str, chain: PriceChain, retail: int | None) -> Order:
        return Order.place(
            self.order_id,
            self.package_code,
            package_kind,
            self.agent_code,
            self.buyer_code,
            self.iccid,
            self.flow,
            chain.as_list(),
            retail,
            self.audit,
        )


@dataclass(frozen=True)
class CompleteOrder(Command[OrderCompleted]):
    look_up_key_first = False  # a retry is refused as completed already, or fails on its key
    order_id: Code
    audit: Audit
    key: Key | None = None

    def decide(self, ledger: "Ledger") -> Decision[OrderCompleted]:
        order = ledger.order(self.order_id, to_change=True)
        require_room_for_facts(ledger)
        order.complete(self.audit)
        changed: list[Aggregate] = [order]
        card = ledger.card(order.iccid) if order.iccid is not None else None
        if card is not None and card.status != CardStatus.CANCELLED:
            # The card's package period, and its activation if due. A sale paid for a card
            # cancelled since stands; the card just gets nothing more.
            months = ledger.package(order.package_code).period_months
            card.add_package_period(order.order_id, order.package_code, 1, months, self.audit)
            card.decide_activation(self.audit)
            changed.append(card)
        return changed, OrderCompleted(self.order_id)


@dataclass(frozen=True)
class CancelOrder(Command[OrderCancelled]):
    """Calls off a placed order that never completed; a prepaid order's cost is returned to
    the agent's deposit in the same write."""

    order_id: Code
    audit: Audit
    key: Key | None = None

    def decide(self, ledger: "Ledger") -> Decision[OrderCancelled]:
        order = ledger.order(self.order_id, to_change=True)
        order.cancel(self.audit)
        changed: list[Aggregate] = [order]
        returned = 0
        if order.flow == Flow.AGENT_PREPAID:
            wallet = ledger.wallet(order.agent_code)
            wallet.refund_deposit(self.order_id, order.paid_fen, self.audit)
            changed.append(wallet)
            returned = order.paid_fen
        return changed, OrderCancelled(self.order_id, returned)


@dataclass(frozen=True)
class RefundOrder(Command[OrderRefunded]):
    order_id: Code
    amount_fen: Fen
    audit: Audit
    key: Key | None = None

    def decide(self, ledger: "Ledger") -> Decision[OrderRefunded]:
        order = ledger.order(self.order_id, to_change=True)
        order.refund(self.amount_fen, self.audit)
        changed: list[Aggregate] = [order]
        if order.flow == Flow.AGENT_PREPAID:  # the agent paid from its deposit: pay it back
            wallet = ledger.wallet(order.agent_code)
            wallet.refund_deposit(self.order_id, self.amount_fen, self.audit)
            changed.append(wallet)
        return changed, OrderRefunded(self.order_id, order.refunded_fen)
