"""A realistic seeded history for the rebuild and report benchmarks (issue 4), built fast.

Shape (scaled by the target event count; at 1,000,000 events): 10,000 agents in a tree of
depth up to 8 (100 platform-level agents, each later agent under a random earlier one), a price
menu (cost price for every agent and package, retail price for every agent), 100,000 cards
assigned over the first 11 months, 70% of them activated 0-30 days later, and orders in both
flows completed over 12 months. 3% of the orders are refunded (70% in full, else half) 1-30
days later. A weekly release turns due commissions into unfreeze requests; finance approves
99% of them 1-3 days later and rejects (voids) the rest; once a month some agents withdraw
what is available.

How (fast): the aggregates are made and changed by the domain's own methods (Agent.register,
set_cost_price, Card.assign/activate, Order.place/complete/refund, Wallet.accrue/
request_unfreeze/approve/reduce/..., MonthlyVolume.count_*) and saved with one
`Ledger.save(*aggregates)` per ~`chunk` events (automatic snapshots off). The commission,
MonthlyVolume and ProcessedFact events are what CommissionPolicy would write: the same pure engine (`lines_for_sale`) with the same
inputs (the seller's monthly volume kept in MonthlyVolume aggregates, no grades), the same
commission ids, and the same refund arithmetic (the wallet's book: `Wallet.refund`). What is skipped: the
policy's own loop (loading aggregates, tracking), idempotency keys, the use cases' existence
checks.

Recorded times: the store stamps `recorded_at` with the insert time, so a history generated in a
minute would look recorded in one minute. After generation each saved chunk gets the end of the
last business day it covers as its recorded time (one UPDATE per chunk, 1 ms apart within a
chunk, so recorded_at still grows with notification_id), then the table is vacuumed. Facts of a
day saved a few days later are thus "recorded late", as in real operations.
"""

from __future__ import annotations

import collections
import random
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from bench.common import progress, rnd
from domain.approvals import ApprovalPolicy
from domain.withdrawal_limits import WithdrawalLimits

ACTOR = "system:commission-policy"  # what CommissionPolicy records (domain.common.SYSTEM_ACTOR)
PACKAGES = (  # code, name, kind, purchase price (fen), weight in sales
    ("T30", "Traffic 30", "TRAFFIC", 3000, 5),
    ("T50", "Traffic 50", "TRAFFIC", 5000, 3),
    ("N99", "Number 99", "NUMBER", 9900, 2),
)
RULES = [
    # 3 levels: the seller's upline gets 3%, its upline 2%, the next 1% of the paid amount
    {"code": "ml", "kind": "MULTI_LEVEL", "levels": ["3%", "2%", "1%"], "base": "PAID_AMOUNT"},
    # the seller's monthly sales, graduated (Stripe's meaning)
    {
        "code": "tier",
        "kind": "TIERED",
        "metric": "SALES_AMOUNT",
        "mode": "graduated",
        "tiers": [
            {"upTo": "500.00", "rate": "1%"},
            {"upTo": "2000.00", "rate": "2%"},
            {"rate": "3%"},
        ],
    },
]
MAX_DEPTH = 8
DAYS = 365


@dataclass(frozen=True)
class Shape:
    events: int
    agents: int
    roots: int
    cards: int
    days: int = DAYS
    max_depth: int = MAX_DEPTH


def shape_for(events: int) -> Shape:
    """10,000 agents and 100,000 cards per 1,000,000 events; the rest is orders."""
    agents = max(10, round(events / 100))
    return Shape(events, agents, max(2, agents // 100), max(20, round(events / 10)))


def history_start(now: datetime | None = None) -> datetime:
    """Midnight (business time) 365 days before today, so the history ends about now."""
    tz = ZoneInfo("Asia/Shanghai")
    today = (now or datetime.now(UTC)).astimezone(tz).date()
    start = datetime(today.year, today.month, today.day, tzinfo=tz) - timedelta(days=DAYS)
    return start.astimezone(UTC)


@dataclass
class Built:
    """What the generator leaves in hand for the benchmarks' own checks."""

    shape: Shape
    events: int
    by_topic: dict[str, int]
    counts: dict[str, int]
    seconds: dict[str, float]
    agents: list[str]
    months: list[Any]  # business months (date, first day) the sales fell in
    start: datetime
    end: datetime
    wallets: dict[str, Any] = field(repr=False, default_factory=dict)

    def report(self) -> dict[str, Any]:
        gen = self.seconds["generate_and_save"]
        return {
            "events": self.events,
            "shape": vars(self.shape),
            "counts": self.counts,
            "events_by_topic": dict(sorted(self.by_topic.items(), key=lambda kv: -kv[1])),
            "effective_from": self.start.isoformat(timespec="seconds"),
            "effective_to": self.end.isoformat(timespec="seconds"),
            "seconds": {k: rnd(v) for k, v in self.seconds.items()},
            "generate_and_save_events_per_s": rnd(self.events / gen),
        }


class Generator:
    def __init__(self, app: Any, shape: Shape, seed: int, chunk: int = 20_000) -> None:
        from domain.rules import parse_rules  # noqa: F401  (import cost outside the timings)

        self.app = app
        self.ledger = app.ledger
        self.shape = shape
        self.rng = random.Random(seed)
        self.chunk = chunk
        self.tz = app.settings.zone
        self.start = history_start()
        self.dirty: dict[Any, Any] = {}
        self.seen: dict[Any, int] = {}  # aggregate id -> version when last touched
        self.pending = 0
        self.saved = 0
        self.chunks: list[tuple[int, int, datetime]] = []  # (first id, last id, recorded at)
        self.by_topic: collections.Counter[str] = collections.Counter()
        self.counts: collections.Counter[str] = collections.Counter()
        self.wallets: dict[str, Any] = {}
        self.volumes: dict[tuple[str, str], Any] = {}
        self.cost: dict[tuple[str, str], int] = {}
        self.retail: dict[tuple[str, str], int] = {}
        self.lineage: dict[str, list[str]] = {}
        self.verified: dict[str, bool] = {}
        self.cards_of: dict[str, list[str]] = collections.defaultdict(list)
        self.months: set[Any] = set()
        try:  # since a99aae8 the policy records every fact it acts on
            from domain.processed import ProcessedFact

            self.processed_fact: Any = ProcessedFact
        except ImportError:
            self.processed_fact = None

    # -- plumbing ---------------------------------------------------------------------------------
    def touch(self, *aggregates: Any) -> None:
        """Marks aggregates to save, after changing them; keeps the count of pending events."""
        for a in aggregates:
            seen = self.seen.get(a.id)
            if seen is None:
                self.dirty[a.id] = a
                self.pending += len(a.pending_events)
            else:
                self.pending += a.version - seen
            self.seen[a.id] = a.version

    def audit(self, at: datetime, reason: str = "", actor: str = "bench:ops") -> Any:
        from domain.common import Audit

        return Audit(actor, at, reason)

    def save(self, recorded_at: datetime) -> None:
        aggregates = [a for a in self.dirty.values() if a.pending_events]
        self.dirty, self.seen = {}, {}
        if not aggregates:
            return
        for a in aggregates:
            for e in a.pending_events:
                self.by_topic[type(e).__qualname__] += 1
        recordings = self.ledger.save(*aggregates)
        ids = [r.notification.id for r in recordings]
        self.chunks.append((min(ids), max(ids), recorded_at))
        self.saved += len(ids)
        self.pending = 0

    def processed(self, aggregate: Any) -> None:
        """The ProcessedFact the policy records for the fact it just acted on (its last event)."""
        if self.processed_fact is not None:
            self.touch(self.processed_fact.record(aggregate.id, aggregate.version))

    def count_pending(self) -> int:
        return self.pending

    def volume(self, agent_code: str, at: datetime) -> Any:
        from domain.performance import MonthlyVolume, month_of

        key = (agent_code, month_of(at, self.tz))
        if key not in self.volumes:
            self.volumes[key] = MonthlyVolume.open(*key)
        return self.volumes[key]  # the caller touches it after changing it

    # -- setup ------------------------------------------------------------------------------------
    def setup(self) -> None:
        from domain.agent import Agent
        from domain.package import Package
        from domain.plan import CommissionPlan
        from domain.wallet import Wallet

        rng, shape = self.rng, self.shape
        t0 = self.start - timedelta(days=60)
        for code, name, kind, price, _ in PACKAGES:
            self.touch(Package.define(code, name, kind, price, 1, self.audit(t0, "catalogue")))
        plan = CommissionPlan.start("std")
        plan.define_version(t0, RULES, self.audit(t0, "plan"))
        self.touch(plan)
        self.plan_versions = plan.plan_versions()
        self.kinds = {code: kind for code, _, kind, _, _ in PACKAGES}
        depth: dict[str, int] = {}
        eligible: list[str] = []
        codes = []
        for i in range(shape.agents):
            code = f"AG{i:05d}"
            at = self.start - timedelta(days=30) + timedelta(seconds=20 * i)
            audit = self.audit(at, "onboarding")
            parent = None if i < shape.roots else rng.choice(eligible)
            depth[code] = 1 if parent is None else depth[parent] + 1
            if depth[code] < shape.max_depth:
                eligible.append(code)
            self.lineage[code] = [*self.lineage[parent], code] if parent else [code]
            self.verified[code] = rng.random() < 0.9
            agent = Agent.register(code, f"Agent {i}", parent, self.verified[code], audit)
            wallet = Wallet.open(code)
            self.wallets[code] = wallet
            for pkg, _, _, price, _ in PACKAGES:
                up = self.cost[(parent, pkg)] if parent else None
                cost = (price + price // 5) if up is None else up + rng.randrange(0, price // 20)
                agent.set_cost_price(pkg, cost, up, 2, audit)
                self.cost[(code, pkg)] = cost
                retail = cost + rng.randrange(price // 10, price // 3)
                agent.set_retail_price(pkg, retail, 2, audit)
                self.retail[(code, pkg)] = retail
            self.touch(agent, wallet)
            codes.append(code)
            if (i + 1) % 2000 == 0:
                self.save(at)
        self.save(self.start - timedelta(days=1))
        self.agents = codes
        self.depth = depth
        self.counts["agents"] = len(codes)
        self.counts["max_depth"] = max(depth.values())
        self.counts["roots"] = shape.roots

    # -- the year -----------------------------------------------------------------------------------
    def run(self) -> None:
        from domain.card import Card
        from domain.rules import Metric

        rng, shape = self.rng, self.shape
        setup_events = self.saved
        card_days = max(1, shape.days - 35)
        card_seq = 0
        activations: dict[int, list[Any]] = collections.defaultdict(list)
        refunds: dict[int, list[tuple[Any, int]]] = collections.defaultdict(list)
        approvals: dict[int, list[tuple[str, str]]] = collections.defaultdict(list)
        due: collections.deque[tuple[datetime, str, str]] = collections.deque()
        orders_done = 0
        card_events = 0
        per_order = 30.0  # first guess of events per order (lines x lifecycle), then measured
        weights = [w for *_, w in PACKAGES]
        pkgs = [p[0] for p in PACKAGES]
        for d in range(shape.days):
            day = self.start + timedelta(days=d)
            # 1. cards distributed today (pickup), counted by the policy (PICKUP_COUNT)
            todo = shape.cards * min(d + 1, card_days) // card_days - card_seq
            for _ in range(todo):
                iccid = f"8986{card_seq:012d}"
                card_seq += 1
                agent = rng.choice(self.agents)
                pkg = rng.choices(pkgs, weights)[0] if rng.random() < 0.9 else None
                at = day + timedelta(seconds=rng.randrange(86_400))
                card = Card.assign(iccid, agent, pkg, self.kinds.get(pkg or ""), self.audit(at))
                volume = self.volume(agent, at)
                volume.count_card(Metric.PICKUP_COUNT, iccid, at)
                self.touch(card, volume)
                self.processed(card)
                self.cards_of[agent].append(iccid)
                card_events += 3
                if rng.random() < 0.7:
                    activations[d + rng.randrange(0, 31)].append(card)
            # 2. activations (real-name) reported today
            for card in activations.pop(d, []):
                at = max(day + timedelta(seconds=rng.randrange(86_400)), card.last_fact_at)
                card.activate(self.audit(at, "real-name verified", "carrier"))
                self.touch(card)
                self.processed(card)
                card_events += 2
                if card.package_code is not None:
                    volume = self.volume(card.agent_code, at)
                    volume.count_card(Metric.ACTIVATION_COUNT, card.iccid, at)
                    self.touch(volume)
                    card_events += 1
            # 3. orders completed today
            total = self.saved + self.count_pending()
            if orders_done > 50:
                per_order = max(5.0, (total - setup_events - card_events) / orders_done)
            left_days = shape.days - d
            card_left = (shape.cards - card_seq) * 4.4 + sum(
                len(v) for v in activations.values()
            ) * 3
            budget = shape.events - total - card_left
            n = max(1, round(budget / left_days / per_order)) if budget > 0 else 0
            for _ in range(n):
                self.order(day, orders_done, rng.choices(pkgs, weights)[0], refunds, due)
                orders_done += 1
            # 4. refunds asked today
            for order, amount in refunds.pop(d, []):
                self.refund(order, amount, day)
            # 5. the weekly release of due commissions, and finance's decisions
            if d % 7 == 6:
                now = day + timedelta(hours=10)
                while due and due[0][0] <= now:
                    _, agent, cid = due.popleft()
                    wallet = self.wallets[agent]
                    line = wallet.book.lines.get(cid)
                    if line is None or line.status != "FROZEN":
                        continue
                    rid = wallet.request_unfreeze(cid, self.audit(now, "", ACTOR))
                    self.touch(wallet)
                    approvals[d + rng.randrange(1, 4)].append((agent, rid))
            for agent, rid in approvals.pop(d, []):
                wallet = self.wallets[agent]
                if rid not in wallet.book.requests:
                    continue  # voided by a refund meanwhile
                at = day + timedelta(hours=15)
                if rng.random() < 0.01:
                    wallet.reject(rid, True, self.audit(at, "agent not verified", "finance"))
                    self.counts["rejected"] += 1
                else:
                    wallet.approve(rid, self.audit(at, "", "finance"))
                self.touch(wallet)
            # 6. monthly payouts
            if (day + timedelta(hours=8)).astimezone(self.tz).day == 1:
                self.payouts(day)
            if self.count_pending() >= self.chunk or d == shape.days - 1:
                self.save(day + timedelta(hours=23, minutes=59))
                if d % 30 < 7 or d == shape.days - 1:
                    progress(f"  history: day {d + 1}/{shape.days}, {self.saved} events saved")
        self.counts["cards"] = card_seq
        self.counts["orders"] = orders_done
        self.end = self.start + timedelta(days=shape.days)

    def order(self, day: datetime, i: int, pkg: str, refunds: Any, due: Any) -> None:
        from domain.book import hold_until
        from domain.common import derived_id
        from domain.order import Flow, Order
        from domain.performance import month_of
        from domain.rules import lines_for_sale
        from projections.temporal import month_of as business_month

        rng = self.rng
        seller = rng.choice(self.agents)
        flow = Flow.CUSTOMER_PAYS if rng.random() < 0.7 else Flow.AGENT_PREPAID
        chain = [(code, self.cost[(code, pkg)]) for code in self.lineage[seller]]
        retail = self.retail[(seller, pkg)] if flow == Flow.CUSTOMER_PAYS else None
        cards = self.cards_of.get(seller)
        iccid = rng.choice(cards) if cards and rng.random() < 0.3 else None
        placed = day + timedelta(seconds=rng.randrange(80_000))
        oid = f"O{i:08d}"
        audit = self.audit(placed, "", "api")
        order = Order.place(
            oid, pkg, self.kinds[pkg], seller, f"cust-{i}", iccid, flow, chain, retail, audit
        )
        if flow == Flow.AGENT_PREPAID:
            wallet = self.wallets[seller]
            if wallet.balances["deposit"] < order.paid_fen:
                wallet.top_up(200_000, self.audit(placed - timedelta(seconds=1), "top-up"))
            wallet.debit_deposit(oid, order.paid_fen, audit)
            self.touch(wallet)
        done = placed + timedelta(seconds=rng.randrange(60, 3600))
        order.complete(self.audit(done, "", "api"))
        self.touch(order)
        self.months.add(business_month(done, self.tz))
        # what CommissionPolicy._on_order_completed does
        volume = self.volume(seller, done)
        facts = replace(order.sale_facts(), month_sales_before_fen=volume.sales_fen)
        self.processed(order)
        policy_audit = self.audit(done, f"order {oid} completed", ACTOR)
        for line in lines_for_sale(facts, self.plan_versions):
            cid = derived_id(
                "commission", "order", oid, line.beneficiary, line.plan_code, line.rule_code
            )
            wallet = self.wallets[line.beneficiary]
            if wallet.accrue(cid, line, policy_audit):
                due.append((hold_until(done, line.hold_days), line.beneficiary, cid))
                self.touch(wallet)
        volume.count_sale(oid, order.paid_fen, done)
        self.touch(volume)
        assert month_of(done, self.tz) == volume.month
        if rng.random() < 0.03:
            amount = order.paid_fen if rng.random() < 0.7 else order.paid_fen // 2
            d = (done - self.start).days + rng.randrange(1, 31)
            refunds[d].append((order, amount))

    def refund(self, order: Any, amount: int, day: datetime) -> None:
        """Order.refund, and what CommissionPolicy._on_order_refunded does with it."""
        from domain.order import Flow

        at = max(day + timedelta(hours=11), order.completed_at + timedelta(minutes=1))
        audit = self.audit(at, "customer returned the card", "support")
        order.refund(amount, audit)
        self.touch(order)
        self.processed(order)
        self.counts["refunds"] += 1
        if order.flow == Flow.AGENT_PREPAID:
            self.wallets[order.agent_code].refund_deposit(order.order_id, amount, audit)
            self.touch(self.wallets[order.agent_code])
        before = order.refunded_fen - amount
        policy_audit = self.audit(
            at, f"order {order.order_id} refunded: customer returned the card", ACTOR
        )
        volume = self.volume(order.agent_code, order.completed_at)
        volume.count_refund(order.order_id, amount, at)
        self.touch(volume)
        for agent_code in order.beneficiaries:
            wallet = self.wallets[agent_code]
            wallet.refund(order.order_id, amount, order.paid_fen - before, policy_audit)
            self.touch(wallet)

    def payouts(self, day: datetime) -> None:
        rng = self.rng
        at = day + timedelta(hours=9)
        for code, wallet in self.wallets.items():
            available = wallet.balances["available"]
            if available < 20_000 or not self.verified[code] or rng.random() > 0.3:
                continue
            wid = f"W-{code}-{at:%Y%m}"
            wallet.request_withdrawal(wid, available, self.audit(at, "", code))
            # Finance approves (one approver, no fee, no tax withheld) before the channel pays.
            wallet.approve_withdrawal(
                wid, self.audit(at + timedelta(hours=2), "", "finance"), ONE_APPROVER,
                WithdrawalLimits(), None, f"{at:%Y-%m}",
            )  # fmt: skip
            paid = rng.random() > 0.02
            wallet.settle_withdrawal(
                wid, paid, self.audit(at + timedelta(hours=4), "" if paid else "bank refused")
            )
            self.touch(wallet)
            self.counts["withdrawals"] += 1


ONE_APPROVER = ApprovalPolicy(second_approver_from_fen=999_999_999_999)


def stamp_recorded_times(dsn: str, chunks: list[tuple[int, int, datetime]]) -> None:
    """Each chunk recorded at the end of its last business day (1 ms apart), then VACUUM."""
    with psycopg.connect(dsn) as conn:
        # The log refuses edits outside a migration run by its owner: say this is one.
        conn.execute("SET LOCAL fenrun.migration = 'on'")
        for lo, hi, at in chunks:
            conn.execute(
                "UPDATE ledger_events SET recorded_at = %s - (%s - notification_id)"
                " * interval '1 millisecond' WHERE notification_id BETWEEN %s AND %s",
                (at, hi, lo, hi),
            )
        conn.commit()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) ledger_events")


def build(app: Any, dsn: str, events: int, seed: int = 4, chunk: int = 20_000) -> Built:
    """Generates and saves the history; returns what was built (views not projected)."""
    shape = shape_for(events)
    ledger = app.ledger
    own, intervals = "snapshotting_intervals" in vars(ledger), ledger.snapshotting_intervals
    ledger.snapshotting_intervals = {}  # no automatic snapshots (see wallet_query)
    # ... and skip Ledger._take_snapshots altogether: with no intervals it takes none, but it
    # still scans every event of the save once per aggregate in it (O(aggregates x events) per
    # save: ~150 s of 170 s for 20k events in one profile). It returns at once without a store.
    snapshots, ledger.snapshots = ledger.snapshots, None
    gen = Generator(app, shape, seed, chunk)
    try:
        t0 = time.perf_counter()
        gen.setup()
        gen.run()
        t1 = time.perf_counter()
    finally:
        ledger.snapshots = snapshots
        if own:
            ledger.snapshotting_intervals = intervals
        else:
            del ledger.snapshotting_intervals
    stamp_recorded_times(dsn, gen.chunks)
    t2 = time.perf_counter()
    return Built(
        shape=shape,
        events=gen.saved,
        by_topic=dict(gen.by_topic),
        counts=dict(gen.counts) | {"save_chunks": len(gen.chunks)},
        seconds={"generate_and_save": t1 - t0, "stamp_recorded_at_and_vacuum": t2 - t1},
        agents=gen.agents,
        months=sorted(gen.months),
        start=gen.start,
        end=gen.end,
        wallets=gen.wallets,
    )


@dataclass
class Entry:
    dsn: str
    app: Any
    built: Built
    projected: bool = False  # the live views have caught up with the whole history


class Histories:
    """Generated histories by size, one database each, shared by the benchmarks of one run.

    The rebuild benchmark builds the views of the big history; the report benchmark then reads
    them (or projects them itself when run alone). Everything is closed and dropped with `stack`.
    """

    def __init__(self, server_url: str, stack: Any) -> None:
        self.server_url = server_url
        self.stack = stack
        self.entries: dict[int, Entry] = {}

    def get(self, events: int) -> Entry:
        if events not in self.entries:
            from api.bootstrap import bootstrap
            from application.settings import Settings
            from bench.common import database

            dsn = self.stack.enter_context(database(self.server_url, f"hist{events}"))
            app = bootstrap(Settings(database_url=dsn), run_migrations=False)
            self.stack.callback(app.close)
            progress(f"history: generating ~{events} events")
            # ~50 saves at least, so that small histories are "recorded" over the year too
            built = build(app, dsn, events, chunk=min(20_000, max(100, events // 50)))
            progress(f"  built: {built.events} events, {built.counts}, {built.seconds}")
            self.entries[events] = Entry(dsn, app, built)
        return self.entries[events]

    def projected(self, events: int) -> Entry:
        """The history with its live views caught up (projected here if nobody did it)."""
        entry = self.get(events)
        if not entry.projected:
            progress(f"history {events}: projecting the live views")
            entry.app.projections.run_until_idle()
            entry.projected = True
        return entry
