"""Commission facts on the ledger's log: the rules applied to orders, cards and settlements.

A FactProcessor folds the log in order: plan versions and agents' levels as known at each
fact's position, monthly volumes as counted so far, and the commission lines each fact pays,
accrued into the wallets its batch hands out. The commission policy runs it against the real
wallets; a plan simulation runs it against shadow wallets that only keep amounts.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import tzinfo
from typing import Any, Protocol

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from application.ledger import BUSINESS_TZ, Ledger
from domain.agent import Agent
from domain.card import Card
from domain.common import SYSTEM_ACTOR, Audit, derived_id
from domain.money import format_money, scale_half_up
from domain.order import Order
from domain.performance import MonthlyVolume, month_of
from domain.plan import CommissionPlan
from domain.rules import (
    CardVolumeFacts,
    CommissionLine,
    Metric,
    PlanVersion,
    lines_for_card,
    lines_for_card_volume,
    lines_for_sale,
    lines_for_settlement,
    rerated_line,
    rerating_rules,
    rule_class,
    tier_changed,
)
from domain.settlement import CarrierSettlement
from domain.wallet import Wallet

ACTOR = f"{SYSTEM_ACTOR}:commission-policy"
RELEVANT = (
    Order.Completed,
    Order.Refunded,
    Card.Activated,
    Card.RechargeRecorded,
    Card.Assigned,
    CommissionPlan.VersionDefined,
    CommissionPlan.CorrectionDefined,
    Agent.LevelChanged,
    CarrierSettlement.Recorded,
)


class Batch(Protocol):
    """Where a batch's commission changes go: real wallets and volumes, or a simulation's
    shadows of them."""

    def wallet(self, agent_code: str) -> Any: ...

    def volume(self, agent_code: str, month: str) -> Any: ...


@dataclass
class WalletBatch:
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


class FactProcessor:
    """The commission rules applied to the log's facts, one at a time, in log order."""

    def __init__(self, ledger: Ledger, business_tz: tzinfo = BUSINESS_TZ) -> None:
        self.ledger = ledger
        self.tz = business_tz  # months of tiered volumes are business-calendar months
        self._plans: dict[str, list[PlanVersion]] = {}
        self._versions: list[PlanVersion] | None = None  # plan_versions(), until _plans changes
        self._levels: dict[str, str] = {}  # agent code -> level (grade) code
        self._plans_at: int | None = None  # the log position the registries reflect
        self._facts: dict[Any, list[Any]] = {}  # this batch's facts: aggregate id -> events
        self._built: dict[tuple[Any, int], Any] = {}  # (id, version) -> aggregate, this batch

    # -- plans and levels as known at a position --------------------------------------------------
    def _load_plans(self, position: int) -> None:
        """The rules in force for a fact are those recorded before it, whatever happens later;
        so are the agents' levels (grades)."""
        if self._plans_at == position:
            return
        self._plans, self._versions = {}, None
        topics = [
            get_topic(CommissionPlan.VersionDefined),
            get_topic(CommissionPlan.CorrectionDefined),
        ]
        for event in self._events_with_topic(topics, position):
            self._add_plan_version(event)
        self._levels = {}
        for event in self._events_with_topic([get_topic(Agent.LevelChanged)], position):
            self._levels[event.agent_code] = event.level_code
        self._plans_at = position

    def _events_with_topic(self, topics: list[str], up_to: int) -> Iterator[Any]:
        with self.ledger.recorder.datastore.get_connection() as conn:  # type: ignore[attr-defined]
            rows = conn.execute(
                "SELECT originator_id, originator_version, topic, state FROM ledger_events"
                " WHERE topic = ANY(%s) AND notification_id <= %s ORDER BY notification_id",
                (topics, up_to),
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
        self._versions = None

    def plan_versions(self) -> list[PlanVersion]:
        """Every version known so far; asked for by every fact, built once per change."""
        if self._versions is None:
            self._versions = self._known_versions()
        return self._versions

    def _known_versions(self) -> list[PlanVersion]:
        return [v for versions in self._plans.values() for v in versions]

    def _grades(self, codes: Iterable[str]) -> dict[str, str]:
        return {code: self._levels[code] for code in codes if code in self._levels}

    # -- handlers ---------------------------------------------------------------------------------
    def _handle(self, event: Any, batch: Batch) -> None:
        if isinstance(event, CommissionPlan.VersionDefined | CommissionPlan.CorrectionDefined):
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

    def _on_order_completed(self, event: Order.Completed, batch: Batch) -> None:
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
        volume_before = volume.sales_fen
        volume.count_sale(order.order_id, order.paid_fen, event.effective_at)
        self._rerate(batch, volume, volume_before, facts.effective_at, audit)

    def _on_card_fact(self, event: Card.Activated | Card.RechargeRecorded, batch: Batch) -> None:
        card = self._as_of(event)
        audit = Audit(ACTOR, event.effective_at, f"card {card.iccid} activated and recharged")
        facts = replace(card.facts(), grades=self._grades([card.agent_code]))
        for line in lines_for_card(facts, self.plan_versions()):
            self._accrue(batch, line, audit, "card", card.iccid)

    def _on_card_counted(self, event: Any, metric: Metric, batch: Batch) -> None:
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

    def _on_settlement(self, event: CarrierSettlement.Recorded, batch: Batch) -> None:
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
            accrued = wallet.accrue(commission_id, line, audit)
            if accrued and rule_class(line.kind).unfreezes_on_accrual:
                wallet.request_unfreeze(commission_id, audit)

    def _accrue(
        self, batch: Batch, line: CommissionLine, audit: Audit, kind: str, source: str
    ) -> None:
        commission_id = derived_id(
            "commission", kind, source, line.beneficiary, line.plan_code, line.rule_code
        )
        batch.wallet(line.beneficiary).accrue(commission_id, line, audit)

    def _on_order_refunded(self, event: Order.Refunded, batch: Batch) -> None:
        """Each line gives back the refund's share of what is left of it, against what is left
        of the sale: a full refund takes back exactly the rest, and a line a correction or a
        re-rating changed gives back its share of what it is now, not of what it first was."""
        order = self._as_of(event)
        before = event.refunded_total_fen - event.amount_fen
        audit = Audit(ACTOR, event.effective_at, f"order {order.order_id} refunded: {event.reason}")
        # A refund lowers the volume of the month the sale counted in (not the refund's month).
        month = month_of(order.completed_at, self.tz)
        volume = batch.volume(order.agent_code, month)
        volume_before = volume.sales_fen
        volume.count_refund(order.order_id, event.amount_fen, event.effective_at)
        for agent_code in order.beneficiaries:
            wallet = batch.wallet(agent_code)
            for commission_id in wallet.lines_for_order(order.order_id):
                left = wallet.commissions[commission_id]["amount"]
                share = scale_half_up(left, event.amount_fen, order.paid_fen - before)
                wallet.reduce(commission_id, share, audit)
        self._rerate(batch, volume, volume_before, order.completed_at, audit)

    def _rerate(
        self, batch: Batch, volume: Any, before_fen: int, sold_at: Any, audit: Audit
    ) -> None:
        """RERATE_MONTH tiers: when the month's volume changes tier, every sale of the month is
        priced again at the new tier."""
        for plan, rule in rerating_rules(self.plan_versions(), sold_at):
            if tier_changed(rule, before_fen, volume.sales_fen):
                self._rerate_month(batch, volume, plan, rule, audit)

    def _rerate_month(
        self, batch: Batch, volume: Any, plan: PlanVersion, rule: Any, audit: Audit
    ) -> None:
        """Each sale's line against what the new tier pays for what is left of the sale: the
        difference is taken back (void or claw back) or paid by an adjustment line."""
        wallet = batch.wallet(volume.agent_code)
        reason = Audit(
            audit.actor,
            audit.effective_at,
            f"month {volume.month} re-rated ({audit.reason}): volume "
            f"{format_money(volume.sales_fen)}",
        )
        for order_id, net_fen in volume.net_by_order.items():
            sale = self.ledger.order(order_id).sale_facts()
            sale = replace(sale, paid_fen=net_fen, grades=self._grades([volume.agent_code]))
            line = rerated_line(sale, plan, rule, volume.sales_fen) if net_fen > 0 else None
            target = line.amount_fen if line else 0
            line_id = derived_id(
                "commission", "order", order_id, volume.agent_code, plan.code, rule.code
            )
            current = sum(wallet.commissions[c]["amount"] for c in wallet.parts_of(line_id))
            if target < current:
                wallet.take_back(line_id, current - target, reason)
            elif line is not None and target > current and not wallet.was_rejected(line_id):
                facts = {
                    **line.facts,
                    "corrects": line_id,
                    "recorded": format_money(current),
                    "corrected": format_money(target),
                }
                adjustment = replace(line, amount_fen=target - current, facts=facts)
                adjustment_id = derived_id("commission", "rerate", line_id, volume.version)
                wallet.accrue(adjustment_id, adjustment, reason)

    def _prefetch(self, notifications: list[Any], up_to: int) -> None:
        """Reads, in one query, the histories of the orders and cards this batch's facts need."""
        wanted = {n.originator_id for n in notifications if not n.topic.endswith(OWN_LOOKUPS)}
        self._facts = {}
        self._built = {}
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
        """The aggregate exactly as it was when the event happened, not as it is now. Handlers
        only read it, so one copy serves every handler (and shadow) of the batch."""
        key = (event.originator_id, event.originator_version)
        if (built := self._built.get(key)) is not None:
            return built
        history = self._facts.get(event.originator_id)
        if history is None:
            return self.ledger.repository.get(event.originator_id, version=event.originator_version)
        aggregate = None
        for stored in history:
            if stored.originator_version > event.originator_version:
                break
            aggregate = self.ledger.mapper.to_domain_event(stored).mutate(aggregate)
        self._built[key] = aggregate
        return aggregate


# Registries kept in memory: no aggregate history to prefetch for these.
OWN_LOOKUPS = tuple(
    get_topic(cls).split(":", 1)[1] for cls in (CommissionPlan.VersionDefined, Agent.LevelChanged)
)
RELEVANT_SUFFIXES = tuple(get_topic(cls).split(":", 1)[1] for cls in RELEVANT)
