"""Commission facts on the ledger's log: the rules applied to orders, cards and settlements.

A FactProcessor folds the log in order: plan versions and agents' levels as known at each
fact's position, monthly volumes as counted so far, and the commission lines each fact pays,
accrued into the wallets its batch hands out. The commission policy runs it against the real
wallets; a plan simulation runs it against shadow wallets that only keep amounts.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo
from typing import Any, Protocol

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.utils import get_topic

from application.ledger import BUSINESS_TZ, Ledger
from application.log import LedgerLog
from domain.agent import Agent
from domain.book import CommissionStatus
from domain.card import Card, failed_words
from domain.common import SYSTEM_ACTOR, Audit, derived_id
from domain.money import format_money
from domain.order import Order
from domain.performance import MonthlyVolume, month_of
from domain.plan import CommissionPlan
from domain.rules import (
    MAX_LEVELS,
    CardFacts,
    CardVolumeFacts,
    CommissionLine,
    Metric,
    PlansInForce,
    PlanVersion,
    active_metrics,
    becomes_active,
    lines_for_card,
    lines_for_card_volume,
    lines_for_settlement,
    rerated_line,
    rerating_rules,
    rule_class,
    sale_lines_in_force,
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
    Card.ConditionsReported,
    CommissionPlan.VersionDefined,
    CommissionPlan.CorrectionDefined,
    Agent.LevelChanged,
    CarrierSettlement.Recorded,
)


class Batch(Protocol):
    """Where a batch's commission changes go: real wallets and volumes, or a simulation's
    shadows of them."""

    def wallet(self, agent_code: str) -> Any: ...

    def existing_wallet(self, agent_code: str) -> Any | None: ...

    def volume(self, agent_code: str, month: str) -> Any: ...


@dataclass
class WalletBatch:
    """Aggregates loaded and changed while processing one batch; saved together.

    `known` holds the wallets and monthly volumes kept from earlier batches, by aggregate id,
    already brought up to the batch's last position by the policy (HotAggregates.advance): a
    hot aggregate is used as it is, without a query. Anything written after that position by
    another writer makes the batch's save conflict, and the batch is decided again afresh."""

    ledger: Ledger
    known: dict[Any, Any]  # aggregate id -> Wallet or MonthlyVolume (decision 0037)
    wallets: dict[str, Wallet] = field(default_factory=dict)
    volumes: dict[tuple[str, str], MonthlyVolume] = field(default_factory=dict)

    def wallet(self, agent_code: str) -> Wallet:
        if agent_code not in self.wallets:
            wallet = self.known.get(Wallet.create_id(agent_code))
            self.wallets[agent_code] = wallet or self.ledger.wallet(agent_code)
        return self.wallets[agent_code]

    def existing_wallet(self, agent_code: str) -> Wallet | None:
        """The agent's wallet if it has one (nothing is opened for a mere look)."""
        if agent_code in self.wallets or Wallet.create_id(agent_code) in self.known:
            return self.wallet(agent_code)
        if not self.ledger.exists("wallet", agent_code):
            return None
        return self.wallet(agent_code)

    def volume(self, agent_code: str, month: str) -> MonthlyVolume:
        key = (agent_code, month)
        if key not in self.volumes:
            volume_id = MonthlyVolume.create_id(agent_code, month)
            found = self.known.get(volume_id)
            if found is None:
                try:
                    found = self.ledger.repository.get(volume_id)
                except AggregateNotFoundError:
                    found = MonthlyVolume.open(agent_code, month)
            self.volumes[key] = found
        return self.volumes[key]

    def loaded(self) -> list[Any]:
        """Every aggregate the batch used: kept for the next batches once it is saved."""
        return [*self.wallets.values(), *self.volumes.values()]

    def changed(self) -> list[Any]:
        return [a for a in self.loaded() if a.pending_events]


class FactProcessor:
    """The commission rules applied to the log's facts, one at a time, in log order."""

    def __init__(self, ledger: Ledger, business_tz: tzinfo = BUSINESS_TZ) -> None:
        self.ledger = ledger
        self.log = LedgerLog(ledger)
        self.tz = business_tz  # months of tiered volumes are business-calendar months
        self._plans: dict[str, list[PlanVersion]] = {}
        self._versions: list[PlanVersion] | None = None  # plan_versions(), until _plans changes
        self._in_force: PlansInForce | None = None  # of plan_versions(), until _plans changes
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
        self._plans, self._versions, self._in_force = {}, None, None
        plans = (CommissionPlan.VersionDefined, CommissionPlan.CorrectionDefined)
        for event in self.log.events(plans, position):
            self._add_plan_version(event)
        self._levels = {}
        for event in self.log.events([Agent.LevelChanged], position):
            self._levels[event.agent_code] = event.level_code
        self._plans_at = position

    def _add_plan_version(self, event: Any) -> None:
        plan = self.ledger.repository.get(event.originator_id, version=event.originator_version)
        self._plans[plan.code] = plan.plan_versions()
        self._versions = self._in_force = None

    def plan_versions(self) -> list[PlanVersion]:
        """Every version known so far; asked for by every fact, built once per change."""
        if self._versions is None:
            self._versions = self._known_versions()
        return self._versions

    def in_force(self, at: datetime) -> list[PlanVersion]:
        """The versions in force at `at` (versions_in_force_flat of plan_versions()), each
        stretch between two versions' edges worked out once per change of the plans."""
        return self._timeline().at(at)

    def _timeline(self) -> PlansInForce:
        if self._in_force is None:
            self._in_force = PlansInForce(self.plan_versions())
        return self._in_force

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
        elif isinstance(event, Card.ConditionsReported):
            self._on_card_conditions(event, batch)
        elif isinstance(event, Agent.LevelChanged):
            self._levels[event.agent_code] = event.level_code
        elif isinstance(event, CarrierSettlement.Recorded):
            self._on_settlement(event, batch)

    def _on_order_completed(self, sale: Order.Completed, batch: Batch) -> None:
        audit = Audit.derived(ACTOR, sale.effective_at, f"order {sale.order_id} completed")
        # The seller's monthly volume as this policy has counted it so far: deterministic.
        volume = batch.volume(sale.agent_code, month_of(sale.effective_at, self.tz))
        facts = sale.sale_facts(
            grades=self._grades(sale.beneficiaries), month_sales_before_fen=volume.sales_fen
        )
        for line in sale_lines_in_force(facts, self.in_force(facts.effective_at)):
            self._accrue(batch, line, audit, "order", sale.order_id)
        volume_before = volume.sales_fen
        volume.count_sale(sale.order_id, sale.paid_fen, sale.effective_at)
        self._rerate(batch, volume, volume_before, sale.effective_at, audit)

    def _on_card_fact(self, event: Card.Activated | Card.RechargeRecorded, batch: Batch) -> None:
        card = self._as_of(event)
        audit = Audit.derived(
            ACTOR, event.effective_at, f"card {card.iccid} activated and recharged"
        )
        facts = replace(card.facts(), grades=self._grades([card.agent_code]))
        facts = self._count_active(event, facts, batch)
        for line in lines_for_card(facts, self.in_force(facts.effective_at)):
            self._accrue(batch, line, audit, "card", card.iccid)

    def _count_active(
        self, event: Card.Activated | Card.RechargeRecorded, facts: CardFacts, batch: Batch
    ) -> CardFacts:
        """Seed 004's tier activation (real-name + recharge threshold + in network normally):
        the card counts once, in the month of the fact that makes it active, for each value
        tier metric in force; the facts then carry the month's counts (the card included)."""
        metrics = self._timeline().answer(active_metrics, event.effective_at)
        if not metrics:
            return facts
        volume = batch.volume(facts.agent_code, month_of(event.effective_at, self.tz))
        recharged = event.amount_fen if isinstance(event, Card.RechargeRecorded) else None
        activated_now = isinstance(event, Card.Activated)
        for metric in metrics:
            if becomes_active(facts, metric, activated_now=activated_now, recharged_fen=recharged):
                volume.count_card(metric, facts.iccid, event.effective_at)
        return replace(facts, month_counts={m: volume.counts.get(m, 0) for m in metrics})

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
        audit = Audit.derived(ACTOR, event.effective_at, f"card {card.iccid} counted ({metric})")
        for line in lines_for_card_volume(facts, self.in_force(facts.effective_at)):
            self._accrue(batch, line, audit, "card", card.iccid)

    def _on_settlement(self, event: CarrierSettlement.Recorded, batch: Batch) -> None:
        """Long-term commissions accrue from the carrier's settlement row and go straight to
        "unfreeze requested" (still needing finance's approval). The policy always caps: a row
        whose split would overflow was refused when recorded, unless a plan changed between."""
        # A row is one event: the aggregate as it was is that event's, with no history to read.
        row = event.mutate(None)
        audit = Audit.derived(
            ACTOR, event.effective_at, f"carrier settlement {row.row_id} ({row.iccid} {row.period})"
        )
        facts = row.facts(self._grades([row.agent_code, *row.uplines]))
        if metrics := self._timeline().answer(active_metrics, row.effective_at):
            volume = batch.volume(row.agent_code, row.period)  # the settled month's count
            facts = replace(facts, month_counts={m: volume.counts.get(m, 0) for m in metrics})
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

    def _on_card_conditions(self, event: Card.ConditionsReported, batch: Batch) -> None:
        """Seed 004, 条件不满足 → 佣金失效: a failed condition voids every line the card paid that
        is not released yet (frozen or awaiting approval), for its agent and the uplines that
        shared its settlements. A released line is clawed back only when its rule says
        `clawBackAfterRelease` (decision 0029)."""
        failed = event.failed
        if not failed:
            return
        card = self._as_of(event)
        said = f"card {card.iccid} {failed_words(failed)}, reported by {event.source}"
        audit = Audit.derived(
            ACTOR,
            event.effective_at,
            f"conditions failed: {said}" + (f" ({event.reason})" if event.reason else ""),
        )
        agent = self.ledger.agent(card.agent_code)
        # Uplines are bound once and never moved: those of today include every earlier one.
        for beneficiary in self.ledger.ancestry(agent)[: MAX_LEVELS + 1]:
            wallet = batch.existing_wallet(beneficiary.code)
            if wallet is None:
                continue
            for commission_id in wallet.book.lines_for_card(card.iccid):
                line = wallet.book.lines[commission_id]
                if line.status == CommissionStatus.APPROVED and not self._claws_back(line.rule):
                    continue
                wallet.reduce(commission_id, line.amount_fen, audit)

    def _claws_back(self, paid_by: tuple[str, int, str] | None) -> bool:
        """Whether the rule that paid a line takes it back after release when the card's
        conditions fail."""
        if paid_by is None:
            return False
        plan_code, version, rule_code = paid_by
        for plan in self.plan_versions():
            if plan.code == plan_code and plan.version == version:
                rule = next((r for r in plan.rules if r.code == rule_code), None)
                return bool(rule is not None and rule.claw_back_after_release)
        return False

    def _accrue(
        self, batch: Batch, line: CommissionLine, audit: Audit, kind: str, source: str
    ) -> None:
        commission_id = derived_id(
            "commission", kind, source, line.beneficiary, line.plan_code, line.rule_code
        )
        batch.wallet(line.beneficiary).accrue(commission_id, line, audit)

    def _on_order_refunded(self, event: Order.Refunded, batch: Batch) -> None:
        """Each line of the sale gives back the refund's share of what is left of it (the
        wallet's book decides the shares)."""
        before = event.refunded_total_fen - event.amount_fen
        audit = Audit.derived(
            ACTOR, event.effective_at, f"order {event.order_id} refunded: {event.reason}"
        )
        # A refund lowers the volume of the month the sale counted in (not the refund's month).
        volume = batch.volume(event.agent_code, month_of(event.completed_at, self.tz))
        volume_before = volume.sales_fen
        volume.count_refund(event.order_id, event.amount_fen, event.effective_at)
        for agent_code in event.beneficiaries:
            batch.wallet(agent_code).refund(
                event.order_id, event.amount_fen, event.paid_fen - before, audit
            )
        self._rerate(batch, volume, volume_before, event.completed_at, audit)

    def _rerate(
        self, batch: Batch, volume: Any, before_fen: int, sold_at: Any, audit: Audit
    ) -> None:
        """RERATE_MONTH tiers: when the month's volume changes tier, every sale of the month is
        priced again at the new tier."""
        for plan, rule in self._timeline().answer(rerating_rules, sold_at):
            if tier_changed(rule, before_fen, volume.sales_fen):
                self._rerate_month(batch, volume, plan, rule, audit)

    def _rerate_month(
        self, batch: Batch, volume: Any, plan: PlanVersion, rule: Any, audit: Audit
    ) -> None:
        """Each sale's line against what the new tier pays for what is left of the sale: the
        difference is taken back (void or claw back) or paid by an adjustment line."""
        wallet = batch.wallet(volume.agent_code)
        reason = Audit.derived(
            audit.actor,
            audit.effective_at,
            f"month {volume.month} re-rated ({audit.reason}): volume "
            f"{format_money(volume.sales_fen)}",
        )
        for order_id, net_fen in volume.net_by_order.items():
            sale = self.ledger.order(order_id).sale_facts()
            sale = replace(sale, paid_fen=net_fen, grades=self._grades([volume.agent_code]))
            line = rerated_line(sale, plan, rule, volume.sales_fen) if net_fen > 0 else None
            line_id = derived_id(
                "commission", "order", order_id, volume.agent_code, plan.code, rule.code
            )
            correction = wallet.book.rerating(line_id, line.amount_fen if line else 0)
            adjustment_id = derived_id("commission", "rerate", line_id, volume.version)
            wallet.correct(correction, line, adjustment_id, reason)

    def _prefetch(self, notifications: list[Any], up_to: int) -> None:
        """Reads, in one query, the histories of the cards and settlement rows this batch's
        facts need (an order's facts carry their sale)."""
        wanted = {n.originator_id for n in notifications if n.topic.endswith(AS_OF_LOOKUPS)}
        self._built = {}
        self._facts = self.log.histories(wanted, up_to) if wanted else {}

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


def _suffixes(*classes: type) -> tuple[str, ...]:
    return tuple(get_topic(cls).split(":", 1)[1] for cls in classes)


# Registries kept in memory: no fact recorded for these.
OWN_LOOKUPS = _suffixes(CommissionPlan.VersionDefined, Agent.LevelChanged)
# Facts handled with their aggregate as it was (the others carry what the rules need).
AS_OF_LOOKUPS = _suffixes(
    Card.Activated,
    Card.RechargeRecorded,
    Card.Assigned,
    Card.ConditionsReported,
)
RELEVANT_SUFFIXES = _suffixes(*RELEVANT)
# Facts whose effects recognise themselves: a settlement row pays lines whose ids derive from its
# row id, and a wallet accrues an id once (CommissionBook.accepts), so a re-delivered row pays
# nothing twice without a ProcessedFact of its own (one event less per row, decision 0034).
SELF_IDEMPOTENT = _suffixes(CarrierSettlement.Recorded)
