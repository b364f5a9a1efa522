"""SPEC §2 "never pay twice", over random trees, plans and orders on real PostgreSQL.

Each Hypothesis example gets databases of its own (cloned from the session's migrated template,
dropped afterwards). It registers a random agent tree with a price menu and grades (a ladder with
or without upgrade conditions), a random plan (the sale rule kinds of domain/rules/, from the
strategies of tests/properties/test_rules_properties) and random orders in both flows,
self-purchases and partial or full refunds among them, with later plan versions (some in force
from the past on) and grade changes recorded between orders; the policies catch up now and then.
With the policies idle, it records every wallet (balances, events, accrued and open commission
lines) and then forces the same facts through again:

(a) a brand-new CommissionPolicy (nothing in memory, another batch size) with its tracking rewound
    to 0, as after a restored backup or an operator's mistake;
(b) catch_up again;
(c) another new policy rewound to a random position in the middle of the log.

Nothing may change: the same balances to the fen, the same commission ids and amounts, no new
wallet event, no new event at all. Finally a second ledger database replays the same commands in
the same order with the commission policy cut into other batches (7 facts; one catch-up at the
end unless the ladder upgrades agents automatically, see below), and must accrue the same
commission lines (ids, amounts) and reach the same balances: the policy decides by log position,
not by how the log happened to be cut into batches.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from api.bootstrap import Fenrun, bootstrap
from application.policy import CommissionPolicy
from application.settings import Settings
from domain.agent import Agent
from domain.common import Audit, aggregate_id
from domain.errors import LedgerError
from domain.rules import parse_rules
from domain.wallet import Wallet
from tests.conftest import create_database, drop_database
from tests.properties.test_rules_properties import GRADES, sale_rules

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
PACKAGE = "P1"  # a package code the plan strategies scope rules to (P1, P2, P9)
LADDER = [{"code": code, "name": code, "rank": rank} for rank, code in enumerate(GRADES, 1)]
# Conditions make the level policy upgrade agents automatically as their sales grow.
CONDITIONS = [{}, {"ownSales": "1.00"}, {"teamSales": "2.00", "directAgents": 1}]
KINDS = ("FIXED", "PERCENTAGE", "MULTI_LEVEL", "TIERED", "LEVEL_DIFFERENCE", "PEER_LEVEL")


@dataclass
class Scenario:
    """Ledger commands in order (method name, args); `catch_up` marks where the policy runs."""

    agents: list[str]
    automatic_levels: bool
    commands: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)

    def add(self, method: str, *args: Any) -> None:
        self.commands.append((method, args))


def accepted(document: list[dict[str, Any]]) -> bool:
    try:
        parse_rules(document)
    except LedgerError:
        return False
    return True


@st.composite
def plan_documents(draw: Any) -> list[dict[str, Any]]:
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=4, unique=True))
    document = [{"code": f"r{i}", **draw(sale_rules(kind))} for i, kind in enumerate(kinds)]
    if draw(st.booleans()):
        document.append({"code": "pd", "kind": "PRICE_DIFFERENCE", "holdDays": 3})
    return document


@st.composite
def scenarios(draw: Any) -> Scenario:
    now = START
    audit = Audit("admin", now)
    count = draw(st.integers(2, 6))
    agents = [f"A{i}" for i in range(count)]
    s = Scenario(agents, automatic_levels=draw(st.booleans()))
    s.add("define_package", PACKAGE, "Traffic", "TRAFFIC", 5000, 1, audit)
    if s.automatic_levels:
        ladder = [{**level, "conditions": c} for level, c in zip(LADDER, CONDITIONS, strict=True)]
    else:
        ladder = LADDER
    s.add("define_agent_levels", ladder, audit)
    document = draw(plan_documents().filter(accepted))
    latest = START - timedelta(days=1)
    s.add("define_commission_plan", "plan", latest, document, audit)
    cost: dict[str, int] = {}
    for i, code in enumerate(agents):
        parent = draw(st.sampled_from([None, *agents[:i]]))
        s.add("register_agent", code, code, parent, True, audit)
        low = cost[parent] if parent else draw(st.integers(100, 20_000))
        cost[code] = draw(st.integers(low, 2 * low))
        s.add("set_cost_price", code, PACKAGE, cost[code], audit)
        retail = draw(st.integers(cost[code], 2 * cost[code]))
        s.add("set_retail_price", code, PACKAGE, retail, audit)
        if grade := draw(st.sampled_from([None, *GRADES])):
            s.add("set_agent_level", code, grade, audit)
    s.add("catch_up")
    for n in range(draw(st.integers(1, 8))):
        now += timedelta(days=draw(st.integers(0, 40)), minutes=1)
        at = Audit("ops", now)
        if draw(st.integers(0, 4)) == 0:
            # A new plan version, maybe in force from the past on: it counts only for the facts
            # logged after it, never for the sales already logged (history is not re-rated).
            effective = draw(st.sampled_from([latest, now]))
            document = draw(plan_documents().filter(accepted))
            s.add("define_commission_plan", "plan", effective, document, at)
            latest = effective
        if draw(st.integers(0, 2)) == 0:  # a grade changes: it counts from here on
            agent, grade = draw(st.sampled_from(agents)), draw(st.sampled_from(GRADES))
            s.add("set_agent_level", agent, grade, at)
        order_id, seller = f"O{n}", draw(st.sampled_from(agents))
        flow = draw(st.sampled_from(["CUSTOMER_PAYS", "AGENT_PREPAID"]))
        buyer = draw(st.sampled_from(["customer", *agents]))  # an agent: a self-purchase
        if flow == "AGENT_PREPAID":
            s.add("top_up_deposit", seller, cost[seller], at)
        s.add("place_order", order_id, PACKAGE, seller, None, buyer, flow, at)
        s.add("complete_order", order_id, at)
        refunds = draw(st.sampled_from([0, 0, 1, 2]))
        for _ in range(refunds):
            now += timedelta(days=draw(st.integers(0, 10)), minutes=1)
            s.add("refund", order_id, draw(st.integers(1, 100)), Audit("ops", now, "refund"))
        if draw(st.booleans()):
            s.add("catch_up")
    return s


def run(app: Fenrun, scenario: Scenario, *, catch_up: bool) -> None:
    for method, args in scenario.commands:
        if method == "catch_up":
            if catch_up:
                app.catch_up()
        elif method == "refund":  # a share (in %) of what is left to refund; 100: all of it
            order_id, percent, audit = args
            order = app.ledger.order(order_id)
            left = order.paid_fen - order.refunded_fen
            if left > 0:
                app.ledger.refund_order(order_id, max(1, left * percent // 100), audit)
        else:
            getattr(app.ledger, method)(*args)
    app.catch_up()


def snapshot(app: Fenrun, agents: list[str]) -> dict[str, Any]:
    ledger = app.ledger
    at = app.read.caught_up()
    wallets = {}
    for code in agents:
        events = ledger.events_of(aggregate_id("wallet", code), None)
        wallet = ledger.wallet(code)
        wallets[code] = {
            "events": len(events),
            "balances": dict(wallet.balances),
            "view": app.read.wallet(code, at),
            "accrued": sorted(
                (e.commission_id, e.amount_fen, e.kind, e.order_id, e.plan_code, e.rule_code)
                for e in events
                if isinstance(e, Wallet.CommissionAccrued)
            ),
            "open": {cid: line.amount_fen for cid, line in wallet.book.lines.items()},
        }
    return {"head": ledger.recorder.max_notification_id(), "wallets": wallets}


def automatic_upgrades(app: Fenrun, agents: list[str]) -> int:
    return sum(
        1
        for code in agents
        for e in app.ledger.events_of(aggregate_id("agent", code), None)
        if isinstance(e, Agent.LevelChanged) and e.actor.endswith("level-policy")
    )


def rewind(app: Fenrun, position: int, batch_size: int) -> None:
    with psycopg.connect(app.dsn, autocommit=True) as conn:
        conn.execute(
            "UPDATE ledger_tracking SET notification_id = %s"
            " WHERE application_name = 'commission-policy'",
            (position,),
        )
    # A new process: nothing in memory.
    app.policy = CommissionPolicy(app.ledger, batch_size=batch_size, business_tz=app.settings.zone)


@contextmanager
def fresh_ledger(server: str, template: str) -> Iterator[Fenrun]:
    name = f"fenrun_rp_{uuid.uuid4().hex[:12]}"
    dsn = create_database(server, name, template=template)
    try:
        app = bootstrap(Settings(database_url=dsn), run_migrations=False)
        try:
            yield app
        finally:
            app.close()
    finally:
        drop_database(server, name)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(scenario=scenarios(), batch=st.sampled_from([1, 3, 500]), middle=st.floats(0, 1))
def test_reprocessing_the_same_facts_changes_nothing(
    server_url: str, template_db: str, scenario: Scenario, batch: int, middle: float
) -> None:
    note(f"commands: {scenario.commands}")
    with fresh_ledger(server_url, template_db) as app:
        run(app, scenario, catch_up=True)
        before = snapshot(app, scenario.agents)
        accrued = [line for w in before["wallets"].values() for line in w["accrued"]]
        note(f"accrued: {accrued}")
        event(f"lines accrued: {'0' if not accrued else '1-5' if len(accrued) <= 5 else '6+'}")
        event(f"refunds: {sum(1 for method, _ in scenario.commands if method == 'refund')}")
        event(f"automatic upgrades: {'yes' if automatic_upgrades(app, scenario.agents) else 'no'}")

        rewind(app, 0, batch)  # (a) a new policy, tracking at 0
        app.catch_up()
        assert snapshot(app, scenario.agents) == before

        app.catch_up()  # (b) once more
        assert snapshot(app, scenario.agents) == before

        rewind(app, int(before["head"] * middle), batch)  # (c) back to the middle of the log
        app.catch_up()
        assert snapshot(app, scenario.agents) == before

    # Another ledger, the same commands in the same order, cut into other batches: one catch-up
    # at the end; unless levels upgrade automatically, since an upgrade counts from where the
    # level policy logs it, that is from the catch-up that decides it.
    with fresh_ledger(server_url, template_db) as again:
        again.policy.batch_size = 7
        run(again, scenario, catch_up=scenario.automatic_levels)
        replayed = snapshot(again, scenario.agents)
    for code, wallet in before["wallets"].items():
        assert replayed["wallets"][code]["accrued"] == wallet["accrued"], code
        assert replayed["wallets"][code]["balances"] == wallet["balances"], code
