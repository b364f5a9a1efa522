"""The Ledger: use cases as methods of one eventsourcing Application (load, decide, save).

Every command takes an Audit (actor, effective time, reason) and an optional idempotency key.
Refusals are LedgerError subclasses raised before anything is saved, so a refused command
changes nothing.
"""

import hashlib
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Protocol, TypeVar
from uuid import UUID
from zoneinfo import ZoneInfo

import orjson
from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, Mapper, Tracking, Transcoder

from application.log import LedgerMapper
from application.transcoder import OrjsonTranscoder
from domain.agent import Agent
from domain.card import Card
from domain.common import Audit, aggregate_id, require_code
from domain.errors import (
    AgentNotFound,
    AlreadyExists,
    CardNotFound,
    CycleInAgentTree,
    InvalidInput,
    InvalidState,
    LedgerError,
    OrderNotFound,
    PackageNotFound,
    PlanRefused,
    PriceRefused,
    UnfreezeRequestNotFound,
)
from domain.idempotency import IdempotencyKey
from domain.levels import LADDER_CODE, LevelLadder
from domain.money import format_money
from domain.order import Flow, Order
from domain.package import Package
from domain.performance import MonthlyVolume
from domain.plan import CommissionPlan, PlanCatalog, refuse_overlap
from domain.rules import PlanVersion, has_one_time_rule, lines_for_settlement
from domain.settlement import CarrierSettlement
from domain.wallet import Wallet

T = TypeVar("T", bound=Aggregate)
MAX_TREE_DEPTH = 1000  # a guard against a corrupted tree; real trees are far shallower
MAX_BATCH = 500
_CONFLICT_RETRIES = 5
BUSINESS_TZ = ZoneInfo("Asia/Shanghai")  # the default business calendar (settings override it)


class Directory(Protocol):
    """What the ledger asks of the read side to find work (implemented by projections)."""

    def agents_with_due_commissions(self, now: datetime) -> list[str]: ...

    def agent_of_unfreeze_request(self, request_id: str) -> str | None: ...


@dataclass(frozen=True)
class Command:
    """The idempotency envelope of a command: its name and canonical payload."""

    name: str
    payload: dict[str, Any]
    key: str | None = None

    def digest(self) -> str:
        body = orjson.dumps(
            {"op": self.name, "payload": self.payload}, option=orjson.OPT_SORT_KEYS, default=str
        )
        return hashlib.sha256(body).hexdigest()


class Ledger(Application):
    name = "Ledger"
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "CREATE_TABLE": "n",
        "PROCESS_RECORDER_TOPIC": "application.log:LedgerRecorder",
    }
    # A wallet accumulates every commission transition of its agent: load it from a snapshot.
    snapshotting_intervals = {Wallet: 500, MonthlyVolume: 500}

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        price_factor: int = 2,
        directory: Directory | None = None,
        business_tz: tzinfo = BUSINESS_TZ,
    ) -> None:
        super().__init__(env)
        self.price_factor = price_factor
        self.directory = directory
        self.business_tz = business_tz  # months of RERATE_MONTH corrections

    # -- wiring ----------------------------------------------------------------------------------
    def construct_transcoder(self) -> Transcoder:
        return OrjsonTranscoder()

    def construct_mapper(self) -> Mapper:
        return LedgerMapper(self.construct_transcoder())

    def construct_recorder(self) -> Any:
        # A process recorder, so the commission policy can save events and its tracking
        # position in one transaction (exactly-once); the mapper reads first events through it.
        recorder = self.factory.process_recorder()  # type: ignore[attr-defined]
        self.mapper.recorder = recorder  # type: ignore[attr-defined]
        return recorder

    def _take_snapshots(self, processing_event: ProcessingEvent) -> None:  # type: ignore[type-arg]
        """Snapshots from the aggregates in hand, when a save crosses an interval boundary.

        The library's version re-reads the aggregate from the store to snapshot it; ours already
        holds it in memory, so reloading a busy wallet inside the policy's loop is avoidable.
        """
        if self.snapshots is None:
            return
        first: dict[Any, int] = {}
        for event in processing_event.events:
            first.setdefault(event.originator_id, event.originator_version)
        for originator_id, aggregate in processing_event.aggregates.items():
            interval = self.snapshotting_intervals.get(type(aggregate))
            if not interval or originator_id not in first:
                continue
            if (first[originator_id] - 1) // interval < aggregate.version // interval:
                self.snapshots.put([type(aggregate).Snapshot.take(aggregate)])

    def save_tracked(self, tracking: Tracking, *aggregates: Aggregate) -> None:
        processing = ProcessingEvent(tracking=tracking)
        processing.collect_events(*aggregates)
        self._record(processing)
        self._take_snapshots(processing)

    # -- loading ---------------------------------------------------------------------------------
    def _get(self, cls: type[T], kind: str, code: str, missing: Callable[[str], LedgerError]) -> T:
        try:
            found = self.repository.get(aggregate_id(kind, code))
        except AggregateNotFoundError:
            raise missing(code) from None
        assert isinstance(found, cls)
        return found

    def agent(self, code: str, field: str = "agentCode") -> Agent:
        return self._get(Agent, "agent", code, lambda c: AgentNotFound(c, field))

    def package(self, code: str) -> Package:
        return self._get(Package, "package", code, PackageNotFound)

    def order(self, order_id: str) -> Order:
        return self._get(Order, "order", order_id, OrderNotFound)

    def card(self, iccid: str) -> Card:
        return self._get(Card, "card", iccid, CardNotFound)

    def wallet(self, agent_code: str) -> Wallet:
        try:
            found = self.repository.get(aggregate_id("wallet", agent_code))
        except AggregateNotFoundError:
            self.agent(agent_code)  # only agents have wallets
            return Wallet.open(agent_code)
        assert isinstance(found, Wallet)
        return found

    def plan(self, code: str) -> CommissionPlan | None:
        try:
            found = self.repository.get(aggregate_id("plan", code))
        except AggregateNotFoundError:
            return None
        assert isinstance(found, CommissionPlan)
        return found

    def exists(self, kind: str, code: str) -> bool:
        return bool(self.recorder.select_events(aggregate_id(kind, code), limit=1))

    def ancestry(self, agent: Agent) -> list[Agent]:
        """The agent and its uplines, from the agent up to the platform's direct agent."""
        chain = [agent]
        while chain[-1].parent_code is not None:
            if len(chain) > MAX_TREE_DEPTH:
                raise CycleInAgentTree("parentCode", "the agent tree is too deep or has a cycle")
            chain.append(self.agent(chain[-1].parent_code, "parentCode"))
        return chain

    # -- idempotent execution ---------------------------------------------------------------------
    def execute(
        self, command: Command, decide: Callable[[], tuple[list[Aggregate], dict[str, Any]]]
    ) -> dict[str, Any]:
        """Runs decide() and saves what it changed, together with the idempotency key if any.

        The same key with the same payload returns the first result; with another payload it is
        refused. A concurrent duplicate loses the race on the key's aggregate id and is answered
        from the winner's record.
        """
        digest = command.digest() if command.key else ""
        for attempt in range(_CONFLICT_RETRIES):
            if command.key:
                previous = self._idempotency(command.key)
                if previous is not None:
                    return previous.replay_result(digest)
            aggregates, result = decide()
            key = [IdempotencyKey.use(command.key, digest, result)] if command.key else []
            try:
                self.save(*aggregates, *key)
            except IntegrityError:
                # Someone changed one of these aggregates since we loaded it (the policy, a
                # concurrent request): decide again on fresh state, checks included.
                if attempt == _CONFLICT_RETRIES - 1:
                    raise
                continue
            return result
        raise AssertionError("unreachable")

    def key_used(self, key: str | None) -> bool:
        """Whether a command was already recorded under this idempotency key."""
        return key is not None and self._idempotency(key) is not None

    def _idempotency(self, key: str) -> IdempotencyKey | None:
        try:
            found = self.repository.get(aggregate_id("idempotency", key))
        except AggregateNotFoundError:
            return None
        assert isinstance(found, IdempotencyKey)
        return found

    # -- agents and the price menu ---------------------------------------------------------------
    def register_agent(
        self,
        code: str,
        name: str,
        parent_code: str | None,
        real_name_verified: bool,
        audit: Audit,
        key: str | None = None,
    ) -> dict[str, Any]:
        def decide() -> tuple[list[Aggregate], dict[str, Any]]:
            if self.exists("agent", code):
                raise AlreadyExists("code", f"agent '{code}' already exists")
            if parent_code is not None:
                if parent_code == code:
                    raise CycleInAgentTree("parentCode", "an agent cannot be its own upline")
                self.agent(parent_code, "parentCode")
            agent = Agent.register(code, name, parent_code, real_name_verified, audit)
            return [agent, Wallet.open(code)], {"agentCode": code}

        payload = {
            "code": code,
            "name": name,
            "parentCode": parent_code,
            "realNameVerified": real_name_verified,
        }
        return self.execute(Command("registerAgent", payload, key), decide)

    def bind_upline(
        self, code: str, parent_code: str, audit: Audit, key: str | None = None
    ) -> dict[str, Any]:
        def decide() -> tuple[list[Aggregate], dict[str, Any]]:
            agent = self.agent(code)
            parent = self.agent(parent_code, "parentCode")
            if code in {a.code for a in self.ancestry(parent)}:
                raise CycleInAgentTree(
                    "parentCode", f"binding '{code}' under '{parent_code}' would make a cycle"
                )
            agent.bind_upline(parent_code, audit)
            return [agent], {"agentCode": code, "parentCode": parent_code}

        return self.execute(
            Command("bindUpline", {"code": code, "parentCode": parent_code}, key), decide
        )

    def define_package(
        self,
        code: str,
        name: str,
        kind: str,
        purchase_price_fen: int,
        period_months: int,
        audit: Audit,
        key: str | None = None,
    ) -> dict[str, Any]:
        def decide() -> tuple[list[Aggregate], dict[str, Any]]:
            if self.exists("package", code):
                raise AlreadyExists("code", f"package '{code}' already exists")
            package = Package.define(code, name, kind, purchase_price_fen, period_months, audit)
            return [package], {"packageCode": code}

        payload = {
            "code": code,
            "name": name,
            "kind": kind,
            "purchasePrice": purchase_price_fen,
            "periodMonths": period_months,
        }
        return self.execute(Command("definePackage", payload, key), decide)

    def set_cost_price(
        self,
        agent_code: str,
        package_code: str,
        cost_price_fen: int,
        audit: Audit,
        key: str | None = None,
    ) -> dict[str, Any]:
        def decide() -> tuple[list[Aggregate], dict[str, Any]]:
            agent = self.agent(agent_code)
            self.package(package_code)
            upline_cost = None
            if agent.parent_code is not None:
                upline_cost = self.agent(agent.parent_code).cost_price(package_code)
            agent.set_cost_price(
                package_code, cost_price_fen, upline_cost, self.price_factor, audit
            )
            return [agent], {
                "agentCode": agent_code,
                "packageCode": package_code,
                "costPriceFen": cost_price_fen,
            }

        payload = {
            "agentCode": agent_code,
            "packageCode": package_code,
            "costPrice": cost_price_fen,
        }
        return self.execute(Command("setCostPrice", payload, key), decide)

    def set_retail_price(
        self,
        agent_code: str,
        package_code: str,
        retail_price_fen: int,
        audit: Audit,
        key: str | None = None,
    ) -> dict[str, Any]:
        def decide() -> tuple[list[Aggregate], dict[str, Any]]:
            agent = self.agent(agent_code)
            self.package(package_code)
            agent.set_retail_price(package_code, retail_price_fen, self.price_factor, audit)
            return [agent], {
                "agentCode": agent_code,
                "packageCode": package_code,
                "retailPriceFen": retail_price_fen,
            }

        payload = {
            "agentCode": agent_code,
            "packageCode": package_code,
            "retailPrice": retail_price_fen,
        }
        return self.execute(Command("setRetailPrice", payload, key), decide)

    def define_commission_plan(
        self,
        code: str,
        effective_from: datetime,
        rules: object,
        audit: Audit,
        key: str | None = None,
    ) -> dict[str, Any]:
        def decide() -> tuple[list[Aggregate], dict[str, Any]]:
            plan = self.plan(code) or CommissionPlan.start(code)
            version = plan.define_version(effective_from, rules, audit, self.plan_versions())
            catalog = self.plan_catalog() or PlanCatalog.start()
            catalog.note(code, version)
            return [plan, catalog], {"planCode": code, "version": version}

        payload = {"code": code, "effectiveFrom": effective_from.isoformat(), "rules": rules}
        return self.execute(Command("defineCommissionPlan", payload, key), decide)

    def correction_candidate(
        self, code: str, rules: object, start: datetime, end: datetime | None
    ) -> PlanVersion:
        """The version a correction of plan `code` over [start, end) would define, checked as
        a correction would be (rules, period, no overlap with other plans)."""
        require_code(code, "code")
        plan = self.plan(code) or CommissionPlan.start(code)
        candidate = plan.correction_candidate(rules, start, end, self.business_tz)
        refuse_overlap(candidate, self.plan_versions())
        return candidate

    def correct_commission_plan(
        self,
        code: str,
        rules: object,
        start: datetime,
        end: datetime | None,
        audit: Audit,
        key: str | None = None,
        expected_version: int | None = None,
    ) -> dict[str, Any]:
        """Records a correcting version of a plan over [start, end). The commission policy
        then adjusts every commission of the period already recorded (see simulation.py).
        expected_version: the version a simulation showed; refused if the plan moved on since."""

        def decide() -> tuple[list[Aggregate], dict[str, Any]]:
            require_code(code, "code")
            plan = self.plan(code) or CommissionPlan.start(code)
            candidate = plan.correction_candidate(rules, start, end, self.business_tz)
            if expected_version is not None and candidate.version != expected_version:
                raise PlanRefused(
                    "expectedVersion",
                    f"plan {code} would now get version {candidate.version}, not "
                    f"{expected_version}: it changed since the simulation; simulate again",
                )
            version = plan.define_correction(candidate, audit, self.plan_versions())
            catalog = self.plan_catalog() or PlanCatalog.start()
            catalog.note(code, version)
            return [plan, catalog], {"planCode": code, "version": version}

        payload = {
            "code": code,
            "from": start.isoformat(),
            "to": end.isoformat() if end else None,
            "rules": rules,
            "reason": audit.reason,
        }
        return self.execute(Command("applyPlanCorrection", payload, key), decide)

    def plan_catalog(self) -> PlanCatalog | None:
        try:
            found = self.repository.get(PlanCatalog.create_id())
        except AggregateNotFoundError:
            return None
        assert isinstance(found, PlanCatalog)
        return found

    def plan_versions(self) -> list[Any]:
        """Every plan's versions, from the event store (never from read models, which may lag)."""
        catalog = self.plan_catalog()
        codes = catalog.codes if catalog else []
        return [v for code in codes if (p := self.plan(code)) for v in p.plan_versions()]

    # -- agent levels (grades) ---------------------------------------------------------------------
    def ladder(self) -> LevelLadder | None:
        try:
            found = self.repository.get(LevelLadder.create_id(LADDER_CODE))
        except AggregateNotFoundError:
            return None
        assert isinstance(found, LevelLadder)
        return found

    def define_agent_levels(
        self, levels: object, audit: Audit, key: str | None = None
    ) -> dict[str, Any]:
        """Defines (or redefines) the level ladder: code, name, rank, upgrade conditions."""

        def decide() -> tuple[list[Aggregate], dict[str, Any]]:
            ladder = self.ladder() or LevelLadder.start(LADDER_CODE)
            defined = ladder.define(levels, audit)
            return [ladder], {"levels": [lv.code for lv in defined]}

        return self.execute(Command("defineAgentLevels", {"levels": levels}, key), decide)

    def set_agent_level(
        self, agent_code: str, level_code: str, audit: Audit, key: str | None = None
    ) -> dict[str, Any]:
        """An admin sets an agent's level; it counts for sales processed from then on."""

        def decide() -> tuple[list[Aggregate], dict[str, Any]]:
            agent = self.agent(agent_code)
            ladder = self.ladder()
            if ladder is None or ladder.level(level_code) is None:
                raise InvalidInput("levelCode", f"no agent level '{level_code}' on the ladder")
            changed = agent.set_level(level_code, audit)
            return ([agent] if changed else []), {"agentCode": agent_code, "levelCode": level_code}

        payload = {"agentCode": agent_code, "levelCode": level_code, "reason": audit.reason}
        return self.execute(Command("setAgentLevel", payload, key), decide)

    # -- number-card settlements -------------------------------------------------------------------
    def record_carrier_settlement(
        self,
        row_id: str,
        iccid: str,
        period: str,
        total_fen: int,
        network_status: str,
        three_no: tuple[bool, bool, bool],
        periods_used: int | None,
        audit: Audit,
        key: str | None = None,
    ) -> dict[str, Any]:
        """One row of a carrier's settlement file: the carrier's total commission for a card and
        period. Idempotent per row id: the same row again returns the first result; the same row
        id with other data is refused. A split that would pay agents more than the carrier paid
        is refused here when the plan says so (`overflow: REFUSE`)."""

        def decide() -> tuple[list[Aggregate], dict[str, Any]]:
            if self.exists("carrier-settlement", row_id):
                raise AlreadyExists("rowId", f"settlement row '{row_id}' is already recorded")
            card = self.card(iccid)
            row = CarrierSettlement.record(
                row_id,
                iccid,
                period,
                total_fen,
                network_status,
                three_no,
                periods_used,
                card.facts(),
                audit,
            )
            agent = self.agent(row.agent_code)
            grades = {agent.code: agent.level_code} if agent.level_code else {}
            lines = lines_for_settlement(row.facts(grades), self.plan_versions(), cap=False)
            agents = sum(line.amount_fen for line in lines)
            return [row], {
                "rowId": row_id,
                "agentShareFen": agents,
                "platformShareFen": total_fen - agents,
            }

        payload = {
            "rowId": row_id,
            "iccid": iccid,
            "period": period,
            "totalCommission": format_money(total_fen) if type(total_fen) is int else total_fen,
            "networkStatus": network_status,
            "threeNo": list(three_no),
            "periodsUsed": periods_used,
            "occurredAt": audit.time_for_key(),
        }
        return self.execute(
            Command("recordCarrierSettlement", payload, key or f"carrier-settlement:{row_id}"),
            decide,
        )

    # -- orders ----------------------------------------------------------------------------------
    def place_order(
        self,
        order_id: str,
        package_code: str,
        agent_code: str,
        iccid: str | None,
        buyer_code: str | None,
        flow: str,
        audit: Audit,
        key: str | None = None,
    ) -> dict[str, Any]:
        def decide() -> tuple[list[Aggregate], dict[str, Any]]:
            if self.exists("order", order_id):
                raise AlreadyExists("orderId", f"order '{order_id}' already exists")
            if flow not in Flow.__members__:
                raise InvalidInput("flow", f"flow must be one of {', '.join(Flow)}")
            package = self.package(package_code)
            seller = self.agent(agent_code)
            lineage = list(reversed(self.ancestry(seller)))
            chain = [(a.code, a.cost_price(package_code)) for a in lineage]
            for (upper, upper_cost), (lower, lower_cost) in itertools.pairwise(chain):
                if not upper_cost <= lower_cost <= self.price_factor * upper_cost:
                    # The upline's cost changed after it priced this agent: refuse the sale
                    # rather than sell at a price the menu would not allow today.
                    raise PriceRefused(
                        "agentCode",
                        f"the cost price of '{lower}' is no longer within 1-{self.price_factor}x"
                        f" its upline '{upper}'s cost; fix the price menu first",
                    )
            retail = seller.retail_price(package_code) if flow == Flow.CUSTOMER_PAYS else None
            changed: list[Aggregate] = []
            first_purchase = iccid is not None and not self.exists("card", iccid)
            if first_purchase:
                changed.append(Card.assign(iccid, agent_code, package.code, package.kind, audit))
                if flow == Flow.CUSTOMER_PAYS and has_one_time_rule(
                    self.plan_versions(), package_code, audit.effective_at
                ):
                    raise InvalidInput(
                        "flow",
                        f"package '{package_code}' carries a one-time "
                        "commission: its first purchase must be paid from the wallet",
                    )
            elif iccid is not None and (owner := self.card(iccid).agent_code) != agent_code:
                raise InvalidInput("iccid", f"card '{iccid}' belongs to agent '{owner}'")
            order = Order.place(
                order_id,
                package_code,
                package.kind,
                agent_code,
                buyer_code,
                iccid,
                flow,
                chain,
                retail,
                audit,
            )
            changed.append(order)
            if flow == Flow.AGENT_PREPAID:
                wallet = self.wallet(agent_code)
                wallet.debit_deposit(order_id, order.paid_fen, audit)
                changed.append(wallet)
            return changed, {"orderId": order_id, "paidFen": order.paid_fen}

        payload = {
            "orderId": order_id,
            "packageCode": package_code,
            "agentCode": agent_code,
            "iccid": iccid,
            "buyerCode": buyer_code,
            "flow": flow,
            "occurredAt": audit.time_for_key(),
        }
        return self.execute(Command("placeOrder", payload, key), decide)

    def complete_order(self, order_id: str, audit: Audit, key: str | None = None) -> dict[str, Any]:
        def decide() -> tuple[list[Aggregate], dict[str, Any]]:
            order = self.order(order_id)
            order.complete(audit)
            return [order], {"orderId": order_id}

        payload = {"orderId": order_id, "occurredAt": audit.time_for_key()}
        return self.execute(Command("completeOrder", payload, key), decide)

    def refund_order(
        self, order_id: str, amount_fen: int, audit: Audit, key: str | None = None
    ) -> dict[str, Any]:
        def decide() -> tuple[list[Aggregate], dict[str, Any]]:
            order = self.order(order_id)
            order.refund(amount_fen, audit)
            changed: list[Aggregate] = [order]
            if order.flow == Flow.AGENT_PREPAID:  # the agent paid from its deposit: pay it back
                wallet = self.wallet(order.agent_code)
                wallet.refund_deposit(order_id, amount_fen, audit)
                changed.append(wallet)
            return changed, {"orderId": order_id, "refundedFen": order.refunded_fen}

        payload = {
            "orderId": order_id,
            "amount": amount_fen,
            "occurredAt": audit.time_for_key(),
            "reason": audit.reason,
        }
        return self.execute(Command("refundOrder", payload, key), decide)

    def top_up_deposit(
        self, agent_code: str, amount_fen: int, audit: Audit, key: str | None = None
    ) -> dict[str, Any]:
        def decide() -> tuple[list[Aggregate], dict[str, Any]]:
            wallet = self.wallet(agent_code)
            wallet.top_up(amount_fen, audit)
            return [wallet], {"agentCode": agent_code, "depositFen": wallet.balances["deposit"]}

        payload = {"agentCode": agent_code, "amount": amount_fen}
        return self.execute(Command("topUpDeposit", payload, key), decide)

    # -- cards -----------------------------------------------------------------------------------
    def assign_card(
        self,
        iccid: str,
        agent_code: str,
        package_code: str | None,
        audit: Audit,
        key: str | None = None,
    ) -> dict[str, Any]:
        def decide() -> tuple[list[Aggregate], dict[str, Any]]:
            if self.exists("card", iccid):
                raise AlreadyExists("iccid", f"card '{iccid}' is already assigned")
            self.agent(agent_code)
            kind = self.package(package_code).kind if package_code else None
            return [Card.assign(iccid, agent_code, package_code, kind, audit)], {"iccid": iccid}

        payload = {"iccid": iccid, "agentCode": agent_code, "packageCode": package_code}
        return self.execute(Command("assignCard", payload, key), decide)

    def activate_card(self, iccid: str, audit: Audit, key: str | None = None) -> dict[str, Any]:
        def decide() -> tuple[list[Aggregate], dict[str, Any]]:
            card = self.card(iccid)
            card.activate(audit)
            return [card], {"iccid": iccid}

        payload = {"iccid": iccid, "occurredAt": audit.time_for_key()}
        return self.execute(Command("activateCard", payload, key), decide)

    def record_recharge(
        self, iccid: str, amount_fen: int, audit: Audit, key: str | None = None
    ) -> dict[str, Any]:
        def decide() -> tuple[list[Aggregate], dict[str, Any]]:
            card = self.card(iccid)
            card.record_recharge(amount_fen, audit)
            return [card], {"iccid": iccid, "totalRechargeFen": card.total_recharge_fen}

        payload = {
            "iccid": iccid,
            "amount": amount_fen,
            "occurredAt": audit.time_for_key(),
        }
        return self.execute(Command("recordRecharge", payload, key), decide)

    # -- the release and approval of commissions -------------------------------------------------
    def release_due_commissions(self, audit: Audit, key: str | None = None) -> dict[str, Any]:
        """Turns frozen commissions whose hold has elapsed at audit.effective_at into requests."""
        assert self.directory is not None, "the ledger needs a directory to find due commissions"

        def decide() -> tuple[list[Aggregate], dict[str, Any]]:
            wallets, requested = [], []
            for agent_code in self.directory.agents_with_due_commissions(audit.effective_at):
                wallet = self.wallet(agent_code)
                for commission_id in wallet.due_for_release(audit.effective_at):
                    requested.append(wallet.request_unfreeze(commission_id, audit))
                wallets.append(wallet)
            return wallets, {"requestIds": requested}

        payload = {"now": audit.time_for_key()}
        return self.execute(Command("releaseDueCommissions", payload, key), decide)

    def decide_unfreeze_requests(
        self,
        request_ids: list[str],
        approve: bool,
        void: bool,
        audit: Audit,
        key: str | None = None,
    ) -> dict[str, Any]:
        """Approves or rejects a batch, all or nothing: one bad id refuses the whole batch."""
        assert self.directory is not None

        def decide() -> tuple[list[Aggregate], dict[str, Any]]:
            if not request_ids or len(request_ids) > MAX_BATCH:
                raise InvalidInput("ids", f"give 1 to {MAX_BATCH} unfreeze request ids")
            if len(set(request_ids)) != len(request_ids):
                raise InvalidInput("ids", "the same unfreeze request id is given twice")
            wallets: dict[str, Wallet] = {}
            for request_id in request_ids:
                agent_code = self.directory.agent_of_unfreeze_request(request_id)
                if agent_code is None:
                    raise UnfreezeRequestNotFound(request_id)
                wallet = wallets.get(agent_code) or wallets.setdefault(
                    agent_code, self.wallet(agent_code)
                )
                if approve:
                    wallet.approve(request_id, audit)
                else:
                    wallet.reject(request_id, void, audit)
            return list(wallets.values()), {"ids": request_ids}

        name = "approveUnfreezeRequests" if approve else "rejectUnfreezeRequests"
        payload = {"ids": request_ids, "void": void, "reason": audit.reason}
        return self.execute(Command(name, payload, key), decide)

    # -- withdrawals -----------------------------------------------------------------------------
    def request_withdrawal(
        self,
        agent_code: str,
        withdrawal_id: str,
        amount_fen: int,
        audit: Audit,
        key: str | None = None,
    ) -> dict[str, Any]:
        def decide() -> tuple[list[Aggregate], dict[str, Any]]:
            agent = self.agent(agent_code)
            if not agent.real_name_verified:
                raise InvalidState("agentCode", f"agent '{agent_code}' is not real-name verified")
            wallet = self.wallet(agent_code)
            wallet.request_withdrawal(withdrawal_id, amount_fen, audit)
            return [wallet], {"agentCode": agent_code, "withdrawalId": withdrawal_id}

        payload = {"agentCode": agent_code, "withdrawalId": withdrawal_id, "amount": amount_fen}
        return self.execute(Command("requestWithdrawal", payload, key), decide)

    def settle_withdrawal(
        self, agent_code: str, withdrawal_id: str, paid: bool, audit: Audit, key: str | None = None
    ) -> dict[str, Any]:
        def decide() -> tuple[list[Aggregate], dict[str, Any]]:
            wallet = self.wallet(agent_code)
            wallet.settle_withdrawal(withdrawal_id, paid, audit)
            return [wallet], {"agentCode": agent_code, "withdrawalId": withdrawal_id}

        payload = {
            "agentCode": agent_code,
            "withdrawalId": withdrawal_id,
            "paid": paid,
            "reason": audit.reason,
        }
        return self.execute(Command("settleWithdrawal", payload, key), decide)

    # -- history ---------------------------------------------------------------------------------
    def events_of(self, originator_id: UUID, up_to_position: int | None) -> list[Any]:
        """The aggregate's events recorded at or before a log position (all if None)."""
        return [
            self.mapper.to_domain_event(n)
            for n in self._notifications_of(originator_id, up_to_position)
        ]

    def _notifications_of(self, originator_id: UUID, up_to: int | None) -> Iterable[Any]:
        found = self.recorder.select_histories([originator_id], stop=up_to)  # type: ignore[attr-defined]
        return found.get(originator_id, [])

    def replay(self, originator_id: UUID, up_to_position: int | None) -> dict[str, Any] | None:
        """Rebuilds an aggregate from its events recorded at or before a position (auditors)."""
        aggregate = None
        for event in self.events_of(originator_id, up_to_position):
            aggregate = event.mutate(aggregate)
        if aggregate is None:
            return None
        state = {k: v for k, v in vars(aggregate).items() if not k.startswith("_")}
        return {
            "version": aggregate.version,
            "state": orjson.loads(orjson.dumps(state, default=_plain)),
        }


def _plain(value: object) -> object:
    if isinstance(value, set | frozenset):
        return sorted(value)
    if isinstance(value, UUID):
        return str(value)
    return str(value)
