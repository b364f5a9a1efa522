"""The commission policy: turns order and card events into commission events, exactly once.

It reads the ledger's own notification log in batches. The commission events of a whole batch
and the batch's last position are saved in one transaction (a process recorder with single-row
tracking), so a crash loses nothing and a re-run doubles nothing: the tracking insert conflicts
and the batch is retried from the committed position. Commission ids derive from the fact they
pay for, so even a re-delivered fact cannot accrue twice.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError, StoredEvent, Tracking
from eventsourcing.utils import get_topic

from application.ledger import Ledger
from domain.agent import Agent
from domain.card import Card
from domain.common import SYSTEM_ACTOR, Audit, derived_id
from domain.money import scale_half_up
from domain.order import Order
from domain.performance import MonthlyVolume, month_of
from domain.plan import CommissionPlan
from domain.processed import ProcessedFact
from domain.rules import (
    CardVolumeFacts,
    CommissionKind,
    CommissionLine,
    Metric,
    PlanVersion,
    lines_for_card,
    lines_for_card_volume,
    lines_for_sale,
    lines_for_settlement,
)
from domain.settlement import CarrierSettlement
from domain.wallet import Wallet

log = structlog.get_logger(__name__)
ACTOR = f"{SYSTEM_ACTOR}:commission-policy"
RELEVANT = (
    Order.Completed,
    Order.Refunded,
    Card.Activated,
    Card.RechargeRecorded,
    Card.Assigned,
    CommissionPlan.VersionDefined,
    Agent.LevelChanged,
    CarrierSettlement.Recorded,
)
BUSINESS_TZ = ZoneInfo("Asia/Shanghai")


@dataclass
class _Batch:
    """Aggregates loaded and changed while processing one batch; saved together."""

    ledger: Ledger
    known: dict[str, Wallet]  # wallets kept from earlier batches (caught up before use)
    wallets: dict[str, Wallet] = field(default_factory=dict)
    volumes: dict[tuple[str, str], MonthlyVolume] = field(default_factory=dict)

    def wallet(self, agent_code: str) -> Wallet:
        if agent_code not in self.wallets:
            wallet = self.known.get(agent_code)
            if wallet is None:
                wallet = self.ledger.wallet(agent_code)
            else:  # another writer (finance, a refund) may have moved it since
                for event in self.ledger.events.get(wallet.id, gt=wallet.version):
                    event.mutate(wallet)
            self.wallets[agent_code] = wallet
        return self.wallets[agent_code]

    def volume(self, agent_code: str, month: str) -> MonthlyVolume:
        key = (agent_code, month)
        if key not in self.volumes:
            try:
                found = self.ledger.repository.get(MonthlyVolume.create_id(agent_code, month))
            except AggregateNotFoundError:
                found = MonthlyVolume.open(agent_code, month)
            self.volumes[key] = found
        return self.volumes[key]

    def changed(self) -> list[Any]:
        aggregates: Iterable[Any] = [*self.wallets.values(), *self.volumes.values()]
        return [a for a in aggregates if a.pending_events]


class CommissionPolicy:
    name = "commission-policy"

    def __init__(
        self,
        ledger: Ledger,
        batch_size: int = 500,
        max_retries: int = 20,
        business_tz: tzinfo = BUSINESS_TZ,
    ) -> None:
        self.ledger = ledger
        self.batch_size = batch_size
        self.max_retries = max_retries
        self.tz = business_tz  # months of tiered volumes are business-calendar months
        self._plans: dict[str, list[PlanVersion]] = {}
        self._levels: dict[str, str] = {}  # agent code -> level (grade) code
        self._plans_at: int | None = None  # the log position the registries reflect
        # Wallets stay loaded between batches: a busy wallet is not replayed for every batch.
        self._wallets: dict[str, Wallet] = {}
        self._facts: dict[Any, list[Any]] = {}  # this batch's facts: aggregate id -> events

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
            relevant = self._unprocessed(
                [n for n in notifications if n.topic.endswith(_RELEVANT_SUFFIXES)]
            )
            self._prefetch(relevant, notifications[-1].id)
            batch = _Batch(self.ledger, self._wallets)
            plans_before = {k: list(v) for k, v in self._plans.items()}
            levels_before = dict(self._levels)
            try:
                for notification in relevant:
                    self._handle(self.ledger.mapper.to_domain_event(notification), batch)
                facts = [
                    ProcessedFact.record(n.originator_id, n.originator_version)
                    for n in relevant
                    if not n.topic.endswith(_OWN_LOOKUPS)
                ]
                self.ledger.save_tracked(
                    Tracking(self.name, notifications[-1].id), *batch.changed(), *facts
                )
            except IntegrityError:
                # Another writer changed a wallet, or another worker committed this batch.
                self._plans, self._levels, self._plans_at = plans_before, levels_before, None
                self._wallets.clear()
                log.info("commission_policy.retry", attempt=attempt, start=start)
                continue
            except BaseException:
                self._wallets.clear()  # they may hold changes that were never saved
                self._plans_at = None
                raise
            self._plans_at = notifications[-1].id
            if len(self._wallets) + len(batch.wallets) > _MAX_KEPT_WALLETS:
                self._wallets.clear()
            self._wallets.update(batch.wallets)
            return len(notifications)
        raise RuntimeError(f"{self.name}: gave up after {self.max_retries} conflicting attempts")

    # -- plans and levels as known at a position --------------------------------------------------
    def _load_plans(self, position: int) -> None:
        """The rules in force for a fact are those recorded before it, whatever happens later;
        so are the agents' levels (grades)."""
        if self._plans_at == position:
            return
        self._plans = {}
        topic = get_topic(CommissionPlan.VersionDefined)
        for event in self._events_with_topic(topic, position):
            self._add_plan_version(event)
        self._levels = {}
        for event in self._events_with_topic(get_topic(Agent.LevelChanged), position):
            self._levels[event.agent_code] = event.level_code
        self._plans_at = position

    def _events_with_topic(self, topic: str, up_to: int) -> Iterator[Any]:
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

    def _grades(self, codes: Iterable[str]) -> dict[str, str]:
        return {code: self._levels[code] for code in codes if code in self._levels}

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
            if isinstance(event, Card.Activated):
                self._on_card_counted(event, Metric.ACTIVATION_COUNT, batch)
        elif isinstance(event, Card.Assigned):
            self._on_card_counted(event, Metric.PICKUP_COUNT, batch)
        elif isinstance(event, Agent.LevelChanged):
            self._levels[event.agent_code] = event.level_code
        elif isinstance(event, CarrierSettlement.Recorded):
            self._on_settlement(event, batch)

    def _on_order_completed(self, event: Order.Completed, batch: _Batch) -> None:
        order = self._as_of(event)
        audit = Audit(ACTOR, event.effective_at, f"order {order.order_id} completed")
        facts = order.sale_facts()
        # The seller's monthly volume as this policy has counted it so far: deterministic.
        volume = batch.volume(order.agent_code, month_of(facts.effective_at, self.tz))
        facts = replace(
            facts,
            grades=self._grades(order.beneficiaries),
            month_sales_before_fen=volume.sales_fen,
        )
        for line in lines_for_sale(facts, self.plan_versions()):
            self._accrue(batch, line, audit, "order", order.order_id)
        volume.count_sale(order.order_id, order.paid_fen, event.effective_at)

    def _on_card_fact(self, event: Card.Activated | Card.RechargeRecorded, batch: _Batch) -> None:
        card = self._as_of(event)
        audit = Audit(ACTOR, event.effective_at, f"card {card.iccid} activated and recharged")
        facts = replace(card.facts(), grades=self._grades([card.agent_code]))
        for line in lines_for_card(facts, self.plan_versions()):
            self._accrue(batch, line, audit, "card", card.iccid)

    def _on_card_counted(self, event: Any, metric: Metric, batch: _Batch) -> None:
        """Pickup volume counts every card assigned; activation volume every card activated
        that has a package (real-name + has had a package)."""
        card = self._as_of(event)
        if metric == Metric.ACTIVATION_COUNT and card.package_code is None:
            return
        volume = batch.volume(card.agent_code, month_of(event.effective_at, self.tz))
        count = volume.count_card(metric, card.iccid, event.effective_at)
        facts = CardVolumeFacts(
            iccid=card.iccid,
            package_code=card.package_code,
            agent_code=card.agent_code,
            metric=metric,
            count_after=count,
            effective_at=event.effective_at,
            grades=self._grades([card.agent_code]),
        )
        audit = Audit(ACTOR, event.effective_at, f"card {card.iccid} counted ({metric})")
        for line in lines_for_card_volume(facts, self.plan_versions()):
            self._accrue(batch, line, audit, "card", card.iccid)

    def _on_settlement(self, event: CarrierSettlement.Recorded, batch: _Batch) -> None:
        """Long-term commissions accrue from the carrier's settlement row and go straight to
        "unfreeze requested" (still needing finance's approval). The policy always caps: a row
        whose split would overflow was refused when recorded, unless a plan changed between."""
        row = self._as_of(event)
        audit = Audit(
            ACTOR, event.effective_at, f"carrier settlement {row.row_id} ({row.iccid} {row.period})"
        )
        facts = row.facts(self._grades([row.agent_code]))
        for line in lines_for_settlement(facts, self.plan_versions(), cap=True):
            commission_id = derived_id(
                "commission",
                "settlement",
                row.row_id,
                line.beneficiary,
                line.plan_code,
                line.rule_code,
            )
            wallet = batch.wallet(line.beneficiary)
            if wallet.accrue(commission_id, line, audit) and line.kind == CommissionKind.LONG_TERM:
                wallet.request_unfreeze(commission_id, audit)

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
        # A refund lowers the volume of the month the sale counted in (not the refund's month).
        month = month_of(order.completed_at, self.tz)
        batch.volume(order.agent_code, month).count_refund(
            order.order_id, event.amount_fen, event.effective_at
        )
        for agent_code in order.beneficiaries:
            wallet = batch.wallet(agent_code)
            for commission_id in wallet.lines_for_order(order.order_id):
                original = wallet.commissions[commission_id]["original"]
                share = scale_half_up(
                    original, event.refunded_total_fen, order.paid_fen
                ) - scale_half_up(original, before, order.paid_fen)
                wallet.reduce(commission_id, share, audit)

    def _unprocessed(self, notifications: list[Any]) -> list[Any]:
        """Drops facts already acted on (a re-delivery): their effects are in the store."""
        ids = {
            ProcessedFact.create_id(str(n.originator_id), n.originator_version): n
            for n in notifications
            if not n.topic.endswith(_OWN_LOOKUPS)
        }
        if not ids:
            return notifications
        with self.ledger.recorder.datastore.get_connection() as conn:  # type: ignore[attr-defined]
            rows = conn.execute(
                "SELECT originator_id FROM ledger_events WHERE originator_id = ANY(%s)"
                " AND originator_version = 1",
                (list(ids),),
            ).fetchall()
        done = {id(ids[r["originator_id"]]) for r in rows}
        if done:
            log.warning("commission_policy.redelivered", facts=len(done))
        return [n for n in notifications if id(n) not in done]

    def _prefetch(self, notifications: list[Any], up_to: int) -> None:
        """Reads, in one query, the histories of the orders and cards this batch's facts need."""
        wanted = {n.originator_id for n in notifications if not n.topic.endswith(_OWN_LOOKUPS)}
        self._facts = {}
        if not wanted:
            return
        with self.ledger.recorder.datastore.get_connection() as conn:  # type: ignore[attr-defined]
            rows = conn.execute(
                "SELECT originator_id, originator_version, topic, state FROM ledger_events"
                " WHERE originator_id = ANY(%s) AND notification_id <= %s"
                " ORDER BY originator_id, originator_version",
                (list(wanted), up_to),
            ).fetchall()
        for r in rows:
            self._facts.setdefault(r["originator_id"], []).append(
                StoredEvent(
                    r["originator_id"], r["originator_version"], r["topic"], bytes(r["state"])
                )
            )

    def _as_of(self, event: Any) -> Any:
        """The aggregate exactly as it was when the event happened, not as it is now."""
        history = self._facts.get(event.originator_id)
        if history is None:
            return self.ledger.repository.get(event.originator_id, version=event.originator_version)
        aggregate = None
        for stored in history:
            if stored.originator_version > event.originator_version:
                break
            aggregate = self.ledger.mapper.to_domain_event(stored).mutate(aggregate)
        return aggregate


# Registries the policy keeps itself: no aggregate history to prefetch for these.
_OWN_LOOKUPS = tuple(
    get_topic(cls).split(":", 1)[1] for cls in (CommissionPlan.VersionDefined, Agent.LevelChanged)
)
_MAX_KEPT_WALLETS = 20_000
_RELEVANT_SUFFIXES = tuple(get_topic(cls).split(":", 1)[1] for cls in RELEVANT)
