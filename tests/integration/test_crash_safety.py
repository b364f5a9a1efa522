"""Crash safety: the commission policy and the projections, SIGKILLed at random moments and
restarted, lose nothing and double nothing (SPEC §6: exactly-once effects).

A seeded database (300 completed orders, some refunded, the policy not yet run) is cloned per
test. Workers run as subprocesses (tests/integration/crash_worker.py) with small batches; the
test kills them after a random amount of reported progress (plus a random delay, so the kill
usually lands inside a transaction), restarts them, and finally lets one finish. Then:

- policy: every completed order has exactly the commission lines its price chain and the plan
  give (computed here, independently), each accrued once; each refund voided its share once;
  every wallet (replayed from its events, and loaded through snapshots) holds exactly that;
- projections: the killed-and-restarted projection equals an uninterrupted run on a clone of the
  same database, table by table; balances and platform totals equal a replay of the events;
- two projection workers at once produce exactly what one produces.

Set CRASH_SEED to replay a particular sequence of kill moments.
"""

from __future__ import annotations

import os
import queue
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from math import floor
from pathlib import Path
from typing import Any

import psycopg
import pytest

from api.bootstrap import bootstrap
from application.settings import Settings
from domain.common import Audit, aggregate_id, derived_id
from domain.wallet import Wallet
from tests.conftest import create_database, drop_database

ROOT = Path(__file__).resolve().parents[2]
SEED = int(os.environ.get("CRASH_SEED", random.randrange(2**32)))
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ORDERS = 300
KILLS = 5
PLAN = [
    {"code": "pct", "kind": "PERCENTAGE", "rate": "5%"},
    {"code": "fixed", "kind": "FIXED", "amount": "1.00"},
]
ROOTS = {"R0": (6000, 9000), "R1": (6500, 9900), "R2": (5000, 8000)}  # cost, retail
SUBS = {"S0": ("R0", 7000, 10000), "S1": ("R1", 7100, 10500), "S2": ("R2", 5000, 9999)}


def half_up(value: Fraction) -> int:
    return floor(value + Fraction(1, 2))


@dataclass
class SeedOrder:
    order_id: str
    seller: str
    flow: str
    chain: list[tuple[str, int]]
    retail: int | None
    refunds: list[int] = field(default_factory=list)

    @property
    def paid(self) -> int:
        return self.retail if self.flow == "CUSTOMER_PAYS" else self.chain[-1][1]  # type: ignore[return-value]

    def lines(self) -> dict[str, tuple[str, int]]:
        """commission id -> (beneficiary, original amount), computed from the price chain and
        PLAN without the product's rule code."""
        sold_at = [cost for _, cost in self.chain[1:]]
        if self.flow == "CUSTOMER_PAYS":
            sold_at.append(self.retail)  # type: ignore[arg-type]
        out = {}
        for (agent, cost), price in zip(self.chain, sold_at, strict=False):
            if price > cost:
                cid = self._cid(agent, "price-menu", "price-difference")
                out[cid] = (agent, price - cost)
        seller_cost = self.chain[-1][1]
        out[self._cid(self.seller, "plan", "pct")] = (
            self.seller,
            half_up(seller_cost * Fraction(5, 100)),
        )
        out[self._cid(self.seller, "plan", "fixed")] = (self.seller, 100)
        return out

    def remaining(self, original: int) -> int:
        return original - half_up(Fraction(original * sum(self.refunds), self.paid))

    def voids(self, original: int) -> int:
        """How many refunds take a non-zero share off a line of this original amount."""
        count, before = 0, 0
        for amount in self.refunds:
            share = half_up(Fraction(original * (before + amount), self.paid)) - half_up(
                Fraction(original * before, self.paid)
            )
            count += share > 0
            before += amount
        return count

    def _cid(self, agent: str, plan: str, rule: str) -> str:
        return derived_id("commission", "order", self.order_id, agent, plan, rule)


def seed(app: Any) -> list[SeedOrder]:
    """300 orders, two thirds by S0 (so its wallet passes the snapshot interval), every 7th
    prepaid, every 10th partly refunded (a third, then maybe more), every 25th fully refunded."""
    ledger = app.ledger
    audit = Audit("admin", T0)
    ledger.define_package("P", "Traffic 50", "TRAFFIC", 5000, 1, audit)
    ledger.define_commission_plan("plan", T0 - timedelta(days=1), PLAN, audit)
    costs: dict[str, int] = {}
    for code, (cost, retail) in ROOTS.items():
        ledger.register_agent(code, code, None, True, audit)
        ledger.set_cost_price(code, "P", cost, audit)
        ledger.set_retail_price(code, "P", retail, audit)
        costs[code] = cost
    for code, (parent, cost, retail) in SUBS.items():
        ledger.register_agent(code, code, parent, True, audit)
        ledger.set_cost_price(code, "P", cost, audit)
        ledger.set_retail_price(code, "P", retail, audit)
        costs[code] = cost
    for code in costs:
        ledger.top_up_deposit(code, 10_000_000, audit)
    others = ["R0", "R1", "R2", "S1", "S2"]
    orders = []
    for n in range(ORDERS):
        seller = "S0" if n % 3 else others[(n // 3) % len(others)]
        flow = "AGENT_PREPAID" if n % 7 == 0 else "CUSTOMER_PAYS"
        parent = SUBS[seller][0] if seller in SUBS else None
        chain = [(parent, costs[parent])] if parent else []
        chain.append((seller, costs[seller]))
        retail = (
            (SUBS[seller][2] if seller in SUBS else ROOTS[seller][1])
            if flow == "CUSTOMER_PAYS"
            else None
        )
        order = SeedOrder(f"O{n:03d}", seller, flow, chain, retail)
        at = Audit("ops", T0 + timedelta(minutes=n), "")
        ledger.place_order(order.order_id, "P", seller, None, "cust", flow, at)
        ledger.complete_order(order.order_id, at)
        if n % 10 == 0:
            order.refunds.append(order.paid // 3)
        if n % 20 == 0:
            order.refunds.append(order.paid // 5)
        if n % 25 == 0:
            order.refunds.append(order.paid - sum(order.refunds))
        for amount in order.refunds:
            ledger.refund_order(order.order_id, amount, Audit("ops", at.effective_at, "returned"))
        orders.append(order)
    return orders


# ---- databases ---------------------------------------------------------------------------------


def clone(server: str, template: str) -> tuple[str, str]:
    name = f"fenrun_crash_{uuid.uuid4().hex[:10]}"
    for attempt in range(50):  # the template's last sessions may still be closing
        try:
            return name, create_database(server, name, template=template)
        except psycopg.errors.ObjectInUse:
            time.sleep(0.1 * (attempt + 1))
    raise RuntimeError(f"template {template} stays in use")


@dataclass
class Seeded:
    server: str
    raw: str  # orders recorded, the policy not run
    processed: str  # the policy run to the end, the projections not run
    orders: list[SeedOrder]


@pytest.fixture(scope="module")
def seeded(server_url: str, template_db: str) -> Iterator[Seeded]:
    raw, raw_dsn = clone(server_url, template_db)
    app = bootstrap(Settings(database_url=raw_dsn), run_migrations=False)
    try:
        orders = seed(app)
    finally:
        app.close()
    processed, processed_dsn = clone(server_url, raw)
    app = bootstrap(Settings(database_url=processed_dsn), run_migrations=False)
    try:
        app.policy.run_until_idle()
    finally:
        app.close()
    try:
        yield Seeded(server_url, raw, processed, orders)
    finally:
        drop_database(server_url, raw)
        drop_database(server_url, processed)


@pytest.fixture
def databases(seeded: Seeded) -> Iterator[Any]:
    """Clones of a seeded database, dropped after the test."""
    made: list[str] = []

    def make(template: str) -> str:
        name, dsn = clone(seeded.server, template)
        made.append(name)
        return dsn

    yield make
    for name in made:
        drop_database(seeded.server, name)


# ---- workers -----------------------------------------------------------------------------------


class Worker:
    """A crash_worker subprocess; a thread collects its output lines."""

    def __init__(self, dsn: str, mode: str, *, wait: bool = False) -> None:
        self.stderr = tempfile.TemporaryFile("w+")  # noqa: SIM115 - lives as long as the worker
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.crash_worker", dsn, mode]
            + (["--wait"] if wait else []),
            cwd=ROOT,
            stdin=subprocess.PIPE if wait else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
        )
        self.output: list[str] = []
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, prefix: str, count: int = 1, timeout: float = 60) -> bool:
        """Waits for `count` output lines starting with `prefix`; False if the worker ended."""
        deadline = time.monotonic() + timeout
        while count > 0:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"no '{prefix}' from the worker in {timeout}s") from None
            if line is None or line.startswith("idle"):
                return False
            count -= line.startswith(prefix)
        return True

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.close()

    def kill(self) -> None:
        self.proc.kill()  # SIGKILL: no cleanup, no rollback by the client
        self.proc.wait()
        self.reader.join(10)

    def finish(self, timeout: float = 240) -> int:
        """Waits for a clean end; returns how many notifications the worker consumed."""
        self.proc.wait(timeout=timeout)
        self.reader.join(10)
        self.stderr.seek(0)
        assert self.proc.returncode == 0, (
            f"worker failed ({self.proc.returncode}):\n{''.join(self.output)[-2000:]}\n"
            f"{self.stderr.read()[-4000:]}"
        )
        idle = [line for line in self.output if line.startswith("idle")]
        assert idle, "".join(self.output)[-2000:]
        return int(idle[-1].split()[1])


def kill_repeatedly(dsn: str, mode: str, rng: random.Random) -> int:
    """Starts and SIGKILLs the worker KILLS times; returns how many kills hit a busy worker."""
    hits = 0
    for _ in range(KILLS):
        worker = Worker(dsn, mode)
        try:
            busy = worker.wait_for("progress", rng.randint(1, 25))
            time.sleep(rng.uniform(0, 0.03))  # into the next batch's transaction, most often
            busy = busy and worker.proc.poll() is None
        finally:
            worker.kill()
        hits += busy
    return hits


# ---- reading the outcome -----------------------------------------------------------------------


def event_counts(dsn: str, kind: str) -> Counter[str]:
    """How many events of Wallet.<kind> each commission id has."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT convert_from(state, 'UTF8')::jsonb ->> 'commission_id' FROM ledger_events"
            " WHERE topic LIKE %s",
            (f"%:Wallet.{kind}",),
        ).fetchall()
    return Counter(r[0] for r in rows)


def replayed_wallet(app: Any, code: str, position: int | None = None) -> Wallet:
    wallet: Any = None
    for event in app.ledger.events_of(aggregate_id("wallet", code), position):
        wallet = event.mutate(wallet)
    return wallet


def view_tables(app: Any) -> list[str]:
    return [t for view in app.projections.views for t in view.tables] + ["aggregate_codes"]


def dump(dsn: str, tables: list[str]) -> dict[str, list[str]]:
    with psycopg.connect(dsn) as conn:
        return {t: sorted(repr(r) for r in conn.execute(f"SELECT * FROM {t}")) for t in tables}


def all_agents() -> list[str]:
    return [*ROOTS, *SUBS]


def check_projection_equals_replay(app: Any) -> None:
    head = app.read.log_head()
    assert app.read.caught_up() == head
    held = balance_events = 0
    for code in all_agents():
        events = app.ledger.events_of(aggregate_id("wallet", code), head)
        wallet = replayed_wallet(app, code, head)
        assert app.read.wallet(code, head) == wallet.balances, code
        b = wallet.balances
        held += b["frozen"] + b["unfreezing"] + b["available"] - b["debt"] + b["withdrawing"]
        balance_events += sum(isinstance(e, Wallet.BalanceEvent) for e in events)
    totals = app.read.platform_totals(head)
    assert totals["credits_fen"] - totals.get("paid_out_fen", 0) == held
    with psycopg.connect(app.dsn) as conn:
        rows = conn.execute("SELECT count(*) FROM wallet_balance_history").fetchone()[0]
        assert rows == balance_events, "a balance event was projected twice or not at all"
        accrued = sum(event_counts(app.dsn, "CommissionAccrued").values())
        assert conn.execute("SELECT count(*) FROM commission_lines").fetchone()[0] == accrued


# ---- the tests ---------------------------------------------------------------------------------


def test_policy_killed_at_random_moments_loses_and_doubles_nothing(
    seeded: Seeded, databases: Any
) -> None:
    rng = random.Random(SEED)
    dsn = databases(seeded.raw)
    hits = kill_repeatedly(dsn, "policy", rng)
    assert hits >= 3, f"only {hits} of {KILLS} kills hit a busy worker (CRASH_SEED={SEED})"
    Worker(dsn, "policy").finish()

    app = bootstrap(Settings(database_url=dsn), run_migrations=False)
    try:
        head = app.read.log_head()
        assert app.policy.position() == head
        assert app.policy.run_once() == 0
        accrued = event_counts(dsn, "CommissionAccrued")
        voided = event_counts(dsn, "CommissionVoided")
        expected: dict[str, tuple[str, int, int, int]] = {}
        for order in seeded.orders:
            for cid, (agent, original) in order.lines().items():
                expected[cid] = (agent, original, order.remaining(original), order.voids(original))
        assert set(accrued) == set(expected), f"lost or extra lines (CRASH_SEED={SEED})"
        assert max(accrued.values()) == 1, f"a line accrued twice (CRASH_SEED={SEED})"
        for cid, (_, _, _, voids) in expected.items():
            assert voided.get(cid, 0) == voids, f"refund voids of {cid} (CRASH_SEED={SEED})"
        frozen = Counter[str]()
        for agent, _, remaining, _ in expected.values():
            frozen[agent] += remaining
        for code in all_agents():
            replayed = replayed_wallet(app, code)
            assert replayed.balances["frozen"] == frozen[code], f"{code} (CRASH_SEED={SEED})"
            # Loaded through the repository, i.e. from a snapshot when there is one.
            assert app.ledger.wallet(code).balances == replayed.balances, code
        prepaid = sum(o.paid for o in seeded.orders if o.flow == "AGENT_PREPAID")
        prepaid_refunds = sum(sum(o.refunds) for o in seeded.orders if o.flow == "AGENT_PREPAID")
        assert sum(replayed_wallet(app, c).balances["deposit"] for c in all_agents()) == (
            len(all_agents()) * 10_000_000 - prepaid + prepaid_refunds
        )
        app.projections.run_until_idle()
        check_projection_equals_replay(app)
    finally:
        app.close()


def test_projections_killed_at_random_moments_equal_an_uninterrupted_run(
    seeded: Seeded, databases: Any
) -> None:
    rng = random.Random(SEED + 1)
    crashed, clean = databases(seeded.processed), databases(seeded.processed)
    hits = kill_repeatedly(crashed, "projections", rng)
    assert hits >= 3, f"only {hits} of {KILLS} kills hit a busy worker (CRASH_SEED={SEED})"
    Worker(crashed, "projections").finish()

    app = bootstrap(Settings(database_url=crashed), run_migrations=False)
    try:
        assert app.projections.run_once() == 0
        check_projection_equals_replay(app)
        tables = view_tables(app)
    finally:
        app.close()
    reference = bootstrap(Settings(database_url=clean), run_migrations=False)
    try:
        reference.projections.run_until_idle()
    finally:
        reference.close()
    assert dump(crashed, tables) == dump(clean, tables), f"CRASH_SEED={SEED}"


def test_two_projection_workers_at_once_equal_one(seeded: Seeded, databases: Any) -> None:
    both, one = databases(seeded.processed), databases(seeded.processed)
    workers = [Worker(both, "projections", wait=True) for _ in range(2)]
    for worker in workers:
        assert worker.wait_for("ready")
    for worker in workers:
        worker.go()
    consumed = [worker.finish() for worker in workers]

    app = bootstrap(Settings(database_url=both), run_migrations=False)
    try:
        head = app.read.log_head()
        # Between them they read the log once: every event was applied by exactly one of them.
        assert sum(consumed) == head, f"consumed {consumed} of {head} events"
        assert min(consumed) > 0, "the second worker never got a batch: no concurrency tested"
        check_projection_equals_replay(app)
        tables = view_tables(app)
    finally:
        app.close()
    reference = bootstrap(Settings(database_url=one), run_migrations=False)
    try:
        reference.projections.run_until_idle()
    finally:
        reference.close()
    assert dump(both, tables) == dump(one, tables)
