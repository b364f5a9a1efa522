"""The commission policy: turns order and card events into commission events, exactly once.

It reads the ledger's own notification log in batches. The commission events of a whole batch
and the batch's last position are saved in one transaction (a process recorder with single-row
tracking), so a crash loses nothing and a re-run doubles nothing: the tracking insert conflicts
and the batch is retried from the committed position. Commission ids derive from the fact they
pay for, so even a re-delivered fact cannot accrue twice.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import structlog
from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.utils import get_topic

from application.ledger import Ledger
from domain.card import Card
from domain.common import SYSTEM_ACTOR, Audit, derived_id
from domain.money import scale_half_up
from domain.order import Order
from domain.plan import CommissionPlan
from domain.rules import CommissionLine, PlanVersion, lines_for_card, lines_for_sale
from domain.wallet import Wallet

log = structlog.get_logger(__name__)
ACTOR = f"{SYSTEM_ACTOR}:commission-policy"
RELEVANT = (
    Order.Completed,
    Order.Refunded,
    Card.Activated,
    Card.RechargeRecorded,
    CommissionPlan.VersionDefined,
)


@dataclass
class _Batch:
    """Aggregates loaded and changed while processing one batch; saved together."""

    ledger: Ledger
    wallets: dict[str, Wallet] = field(default_factory=dict)

    def wallet(self, agent_code: str) -> Wallet:
        if agent_code not in self.wallets:
            self.wallets[agent_code] = self.ledger.wallet(agent_code)
        return self.wallets[agent_code]

    def changed(self) -> list[Wallet]:
        return [w for w in self.wallets.values() if w.pending_events]


class CommissionPolicy:
    name = "commission-policy"

    def __init__(self, ledger: Ledger, batch_size: int = 500, max_retries: int = 20) -> None:
        self.ledger = ledger
        self.batch_size = batch_size
        self.max_retries = max_retries
        self._plans: dict[str, list[PlanVersion]] = {}
        self._plans_at: int | None = None  # the log position the plan registry reflects

    def position(self) -> int:
        return self.ledger.recorder.max_tracking_id(self.name) or 0  # type: ignore[attr-defined]

    def run_until_idle(self) -> int:
        total = 0
        while processed := self.run_once():
            total += processed
        return total

    def run_once(self) -> int:
        """Processes one batch; returns how many notifications it consumed (0 when idle)."""
        for attempt in range(self.max_retries):
            start = self.position()
            notifications = self.ledger.recorder.select_notifications(
                start, self.batch_size, inclusive_of_start=False
            )
            if not notifications:
                return 0
            self._load_plans(start)
            batch = _Batch(self.ledger)
            plans_before = {k: list(v) for k, v in self._plans.items()}
            for notification in notifications:
                if not notification.topic.endswith(_RELEVANT_SUFFIXES):
                    continue
                self._handle(self.ledger.mapper.to_domain_event(notification), batch)
            try:
                self.ledger.save_tracked(
                    Tracking(self.name, notifications[-1].id), *batch.changed()
                )
            except IntegrityError:
                # Another writer changed a wallet, or another worker committed this batch.
                self._plans, self._plans_at = plans_before, None
                log.info("commission_policy.retry", attempt=attempt, start=start)
                continue
            self._plans_at = notifications[-1].id
            return len(notifications)
        raise RuntimeError(f"{self.name}: gave up after {self.max_retries} conflicting attempts")

    # -- plans as known at a position -------------------------------------------------------------
    def _load_plans(self, position: int) -> None:
        """The rules in force for a fact are those recorded before it, whatever happens later."""
        if self._plans_at == position:
            return
        self._plans = {}
        topic = get_topic(CommissionPlan.VersionDefined)
        for event in self._events_with_topic(topic, position):
            self._add_plan_version(event)
        self._plans_at = position

    def _events_with_topic(self, topic: str, up_to: int) -> Iterator[Any]:
        from eventsourcing.persistence import StoredEvent

        with self.ledger.recorder.datastore.get_connection() as conn:  # type: ignore[attr-defined]
            rows = conn.execute(
                "SELECT originator_id, originator_version, topic, state FROM ledger_events"
                " WHERE topic = %s AND notification_id <= %s ORDER BY notification_id",
                (topic, up_to),
            ).fetchall()
        for r in rows:
            yield self.ledger.mapper.to_domain_event(
                StoredEvent(
                    r["originator_id"], r["originator_version"], r["topic"], bytes(r["state"])
                )
            )

    def _add_plan_version(self, event: Any) -> None:
        plan = self.ledger.repository.get(event.originator_id, version=event.originator_version)
        self._plans[plan.code] = plan.plan_versions()

    def plan_versions(self) -> list[PlanVersion]:
        return [v for versions in self._plans.values() for v in versions]

    # -- handlers ---------------------------------------------------------------------------------
    def _handle(self, event: Any, batch: _Batch) -> None:
        if isinstance(event, CommissionPlan.VersionDefined):
            self._add_plan_version(event)
        elif isinstance(event, Order.Completed):
            self._on_order_completed(event, batch)
        elif isinstance(event, Order.Refunded):
            self._on_order_refunded(event, batch)
        elif isinstance(event, Card.Activated | Card.RechargeRecorded):
            self._on_card_fact(event, batch)

    def _on_order_completed(self, event: Order.Completed, batch: _Batch) -> None:
        order = self._as_of(event)
        audit = Audit(ACTOR, event.effective_at, f"order {order.order_id} completed")
        for line in lines_for_sale(order.sale_facts(), self.plan_versions()):
            self._accrue(batch, line, audit, "order", order.order_id)

    def _on_card_fact(self, event: Card.Activated | Card.RechargeRecorded, batch: _Batch) -> None:
        card = self._as_of(event)
        audit = Audit(ACTOR, event.effective_at, f"card {card.iccid} activated and recharged")
        for line in lines_for_card(card.facts(), self.plan_versions()):
            self._accrue(batch, line, audit, "card", card.iccid)

    def _accrue(
        self, batch: _Batch, line: CommissionLine, audit: Audit, kind: str, source: str
    ) -> None:
        commission_id = derived_id(
            "commission", kind, source, line.beneficiary, line.plan_code, line.rule_code
        )
        batch.wallet(line.beneficiary).accrue(commission_id, line, audit)

    def _on_order_refunded(self, event: Order.Refunded, batch: _Batch) -> None:
        """Each line gives back its share of the refund; cumulative rounding makes a full refund
        take back exactly the whole line, however many partial refunds came before."""
        order = self._as_of(event)
        before = event.refunded_total_fen - event.amount_fen
        audit = Audit(ACTOR, event.effective_at, f"order {order.order_id} refunded: {event.reason}")
        for agent_code in order.beneficiaries:
            wallet = batch.wallet(agent_code)
            for commission_id in wallet.lines_for_order(order.order_id):
                original = wallet.commissions[commission_id]["original"]
                share = scale_half_up(
                    original, event.refunded_total_fen, order.paid_fen
                ) - scale_half_up(original, before, order.paid_fen)
                wallet.reduce(commission_id, share, audit)

    def _as_of(self, event: Any) -> Any:
        """The aggregate exactly as it was when the event happened, not as it is now."""
        return self.ledger.repository.get(event.originator_id, version=event.originator_version)


_RELEVANT_SUFFIXES = tuple(get_topic(cls).split(":", 1)[1] for cls in RELEVANT)
