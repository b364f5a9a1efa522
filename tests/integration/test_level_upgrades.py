"""SPEC §2 automatic level upgrades against PostgreSQL: the level policy follows the log, upgrades
agents whose figures meet a level's conditions (own sales, team sales, direct agents), never
downgrades, and decides the same after a restart; the commission policy then pays the new grade."""

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError

from application.levels import LevelPolicy
from domain.agent import Agent
from domain.common import Audit, aggregate_id
from domain.wallet import Wallet
from tests.conftest import create_database, drop_database

ACTOR = "system:level-policy"
PRICE = 1_000_000  # every agent buys and sells the package at 10,000.00
G1 = {"code": "G1", "name": "Grade 1", "rank": 1}
G2 = {"code": "G2", "name": "Grade 2", "rank": 2, "conditions": {"ownSales": "20000"}}
G3 = {
    "code": "G3",
    "name": "Grade 3",
    "rank": 3,
    "conditions": {"teamSales": "30000", "directAgents": 2},
}
LADDER = [G1, G2, G3]


def on(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


START = on(1)


def admin(when: datetime = START, reason: str = "") -> Audit:
    return Audit("admin", when, reason)


class Shop:
    """Commands of the scenarios, on one ledger."""

    def __init__(self, fenrun: Any) -> None:
        self.fenrun = fenrun
        self.ledger = fenrun.ledger
        self.ledger.define_package("PK", "Plan", "TRAFFIC", 100, 1, admin())

    def agent(self, code: str, parent: str | None = None, when: datetime = START) -> None:
        self.ledger.register_agent(code, code, parent, True, admin(when))
        self.ledger.set_cost_price(code, "PK", PRICE, admin(when))
        self.ledger.set_retail_price(code, "PK", PRICE, admin(when))

    def ladder(self, levels: list[dict[str, Any]], when: datetime = START) -> None:
        self.ledger.define_agent_levels(levels, admin(when))

    def sell(self, order_id: str, seller: str, when: datetime) -> None:
        self.ledger.place_order(order_id, "PK", seller, None, "cust", "CUSTOMER_PAYS", admin(when))
        self.ledger.complete_order(order_id, admin(when))

    def refund(self, order_id: str, amount_fen: int, when: datetime) -> None:
        self.ledger.refund_order(order_id, amount_fen, admin(when, "returned"))

    def level(self, code: str) -> str | None:
        return self.ledger.agent(code).level_code

    def changes(self, code: str) -> list[tuple[Any, ...]]:
        """The agent's level changes: (level, previous, actor, effective time, reason)."""
        return [
            (e.level_code, e.previous_code, e.actor, e.effective_at, e.reason)
            for e in self.ledger.events_of(aggregate_id("agent", code), None)
            if isinstance(e, Agent.LevelChanged)
        ]

    def lines(self, order_id: str) -> dict[tuple[str, str], tuple[int, str | None]]:
        """The commission lines an order accrued: (agent, kind) -> (amount, rate)."""
        found = {}
        for code in ("U", "S"):
            for e in self.ledger.events_of(aggregate_id("wallet", code), None):
                if isinstance(e, Wallet.CommissionAccrued) and e.order_id == order_id:
                    found[(code, e.kind)] = (e.amount_fen, e.rate)
        return found


@pytest.fixture
def shop(fenrun: Any) -> Shop:
    return Shop(fenrun)


def test_own_sales_crossing_the_threshold_upgrade_once(shop: Shop) -> None:
    shop.ladder(LADDER)
    shop.agent("U")
    shop.agent("S", "U")
    shop.sell("O-1", "S", on(2))
    shop.fenrun.catch_up()
    assert shop.level("S") is None  # 10,000 of 20,000

    shop.sell("O-2", "S", on(3, 15))
    shop.fenrun.catch_up()
    assert shop.changes("S") == [
        ("G2", None, ACTOR, on(3, 15), "automatic upgrade to G2: own sales 20,000.00 ≥ 20,000.00")
    ]
    shop.sell("O-3", "S", on(4))
    shop.fenrun.catch_up()
    assert len(shop.changes("S")) == 1  # already G2: nothing more
    assert shop.changes("U") == []  # team sales 30,000 but a single direct agent
    read = shop.fenrun.read
    assert read.agent("S", read.caught_up())["level"] == "G2"


def test_team_sales_count_the_whole_downline_and_need_the_direct_agents(shop: Shop) -> None:
    shop.ladder(LADDER)
    shop.agent("U")
    shop.agent("A", "U")
    shop.agent("C", "A")
    shop.sell("O-1", "C", on(2))  # U's team: its grandchild's sale counts
    shop.sell("O-2", "A", on(3))
    shop.sell("O-3", "A", on(4))
    shop.fenrun.catch_up()
    assert shop.level("U") is None  # team sales 30,000 but one direct agent of 2
    assert shop.level("A") == "G2"  # own 20,000; its team (C) is 10,000
    assert shop.level("C") is None

    shop.agent("B", when=on(5))
    shop.ledger.bind_upline("B", "U", admin(on(6, 9)))
    shop.fenrun.catch_up()
    assert shop.changes("U") == [
        (
            "G3",
            None,
            ACTOR,
            on(6, 9),  # when the second direct agent was bound
            "automatic upgrade to G3: team sales 30,000.00 ≥ 30,000.00; direct agents 2 ≥ 2",
        )
    ]


def test_a_registration_under_an_agent_counts_as_a_direct_agent(shop: Shop) -> None:
    shop.ladder([G1, {**G3, "conditions": {"directAgents": 2}}])
    shop.agent("U")
    shop.agent("A", "U", on(2))
    shop.agent("B", "U", on(3))
    shop.fenrun.catch_up()
    assert shop.changes("U") == [
        ("G3", None, ACTOR, on(3), "automatic upgrade to G3: direct agents 2 ≥ 2")
    ]


def test_refunds_lower_the_figures_but_never_downgrade(shop: Shop) -> None:
    shop.ladder(LADDER)
    shop.agent("S")
    shop.sell("O-1", "S", on(2))
    shop.sell("O-2", "S", on(3))
    shop.fenrun.catch_up()
    assert shop.level("S") == "G2"
    shop.refund("O-2", PRICE, on(4))
    shop.refund("O-1", PRICE // 2, on(4))
    shop.fenrun.catch_up()
    assert shop.level("S") == "G2"
    assert len(shop.changes("S")) == 1

    # Net of refunds: T's 5,000 refunded means 15,000 after its second sale, not 20,000.
    shop.agent("T")
    shop.sell("O-3", "T", on(5))
    shop.refund("O-3", PRICE // 2, on(5, 12))
    shop.sell("O-4", "T", on(6))
    shop.fenrun.catch_up()
    assert shop.level("T") is None
    shop.sell("O-5", "T", on(7))
    shop.fenrun.catch_up()
    assert shop.changes("T") == [
        ("G2", None, ACTOR, on(7), "automatic upgrade to G2: own sales 25,000.00 ≥ 20,000.00")
    ]


def test_nothing_happens_without_conditions_and_a_redefinition_reevaluates(shop: Shop) -> None:
    shop.ladder([G1, {**G2, "conditions": {}}])
    shop.agent("U")
    shop.agent("S", "U")
    shop.sell("O-1", "S", on(2))
    shop.sell("O-2", "S", on(3))
    shop.fenrun.catch_up()
    assert shop.changes("S") == []
    policy = shop.fenrun.level_policy
    assert policy.position() == shop.fenrun.read.log_head()  # it kept up, counting nothing

    shop.ladder(LADDER, on(10))
    shop.fenrun.catch_up()
    assert shop.changes("S") == [
        ("G2", None, ACTOR, on(10), "automatic upgrade to G2: own sales 20,000.00 ≥ 20,000.00")
    ]
    # Lower thresholds: U's team (20,000) and S's own sales now reach G3 / stay at G2.
    g3 = {**G3, "conditions": {"teamSales": "20000", "directAgents": 1}}
    shop.ladder([G1, G2, g3], on(11))
    shop.fenrun.catch_up()
    assert shop.changes("U") == [
        (
            "G3",
            None,
            ACTOR,
            on(11),
            "automatic upgrade to G3: team sales 20,000.00 ≥ 20,000.00; direct agents 1 ≥ 1",
        )
    ]
    # Stricter thresholds never take a level back.
    shop.ladder([G1, {**G2, "conditions": {"ownSales": "99999"}}, G3], on(12))
    shop.fenrun.catch_up()
    assert (shop.level("S"), shop.level("U")) == ("G2", "G3")
    assert len(shop.changes("S")) == len(shop.changes("U")) == 1


def test_an_admin_level_is_never_lowered_by_the_policy(shop: Shop) -> None:
    shop.ladder(LADDER)
    shop.agent("S")
    shop.ledger.set_agent_level("S", "G3", admin(on(2), "promoted"))
    shop.sell("O-1", "S", on(3))
    shop.sell("O-2", "S", on(4))
    shop.fenrun.catch_up()
    assert [c[0] for c in shop.changes("S")] == ["G3"]


def test_catch_up_twice_adds_nothing(shop: Shop) -> None:
    shop.ladder(LADDER)
    shop.agent("S")
    shop.sell("O-1", "S", on(2))
    shop.sell("O-2", "S", on(3))
    assert shop.fenrun.catch_up() > 0
    head = shop.fenrun.read.log_head()
    assert shop.fenrun.catch_up() == 0
    assert shop.fenrun.read.log_head() == head
    assert len(shop.changes("S")) == 1


def test_a_worker_that_lost_the_race_adds_nothing(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop.ladder(LADDER)
    shop.agent("S")
    shop.sell("O-1", "S", on(2))
    shop.sell("O-2", "S", on(3))
    shop.fenrun.catch_up()
    head = shop.fenrun.read.log_head()
    # A second worker that read an old position re-decides S's upgrade, finds S already there
    # (nothing to save), its save conflicts on the tracking row, and from the committed
    # position there is nothing left to do.
    late = LevelPolicy(shop.ledger)
    committed = late.position
    stale = iter([0])

    def position() -> int:
        old = next(stale, None)
        return committed() if old is None else old

    monkeypatch.setattr(late, "position", position)
    conflicts = []
    save_tracked = shop.ledger.save_tracked

    def spied(*args: Any) -> None:
        try:
            save_tracked(*args)
        except IntegrityError:
            conflicts.append(args[0])
            raise

    monkeypatch.setattr(shop.ledger, "save_tracked", spied)
    assert late.run_once() == 0
    assert [t.notification_id for t in conflicts] == [head]  # its one stale batch
    assert shop.fenrun.read.log_head() == head
    assert len(shop.changes("S")) == 1


# -- a restarted policy decides like a continuous one ---------------------------------------------


def _scenario(shop: Shop) -> list[Callable[[], None]]:
    return [
        lambda: shop.ladder(LADDER),
        lambda: shop.agent("U"),
        lambda: shop.agent("A", "U", on(2)),
        lambda: shop.agent("S", "A", on(2)),
        lambda: shop.sell("O-1", "S", on(3)),
        lambda: shop.sell("O-2", "A", on(4)),
        lambda: shop.refund("O-2", PRICE // 4, on(4, 18)),
        lambda: shop.sell("O-3", "S", on(5)),  # S: own 20,000 -> G2; U's team 27,500
        lambda: shop.agent("B", "U", on(6)),  # U: 2 direct agents, but 27,500 of 30,000
        lambda: shop.sell("O-4", "A", on(7)),  # U's team 37,500 -> G3; A's own 17,500
        lambda: shop.ledger.set_agent_level("B", "G1", admin(on(8))),
        lambda: shop.ladder([G1, {**G2, "conditions": {"ownSales": "10000"}}, G3], on(9)),
    ]


def _all_changes(shop: Shop) -> dict[str, list[tuple[Any, ...]]]:
    return {code: shop.changes(code) for code in ("U", "A", "S", "B")}


@pytest.fixture
def other_fenrun(server_url: str, template_db: str) -> Iterator[Any]:
    """A second ledger of this test's own: the same history, processed another way."""
    from api.bootstrap import bootstrap
    from application.settings import Settings

    name = f"fenrun_t_{uuid.uuid4().hex[:12]}"
    app = bootstrap(
        Settings(database_url=create_database(server_url, name, template_db)),
        run_migrations=False,
    )
    yield app
    app.close()
    drop_database(server_url, name)


def test_a_restarted_policy_decides_like_a_continuous_one(fenrun: Any, other_fenrun: Any) -> None:
    continuous = Shop(fenrun)
    for step in _scenario(continuous):
        step()
        fenrun.catch_up()

    restarted = Shop(other_fenrun)
    steps = _scenario(restarted)
    half = len(steps) // 2
    for step in steps[:half]:
        step()
    other_fenrun.catch_up()
    # A new process, nothing in memory, in smaller batches: it folds the figures from the log.
    other_fenrun.level_policy = LevelPolicy(other_fenrun.ledger, batch_size=2)
    for step in steps[half:]:
        step()
    other_fenrun.catch_up()

    expected = _all_changes(continuous)
    assert _all_changes(restarted) == expected
    assert [(c[0], c[3]) for c in expected["S"]] == [("G2", on(5))]
    assert [(c[0], c[3]) for c in expected["U"]] == [("G3", on(7))]
    assert [(c[0], c[3]) for c in expected["A"]] == [("G2", on(9))]  # the lower threshold
    assert [(c[0], c[2]) for c in expected["B"]] == [("G1", "admin")]  # B sold nothing


# -- the commission policy pays the new grade ---------------------------------------------------


def test_level_difference_after_an_upgrade_uses_the_new_grade(shop: Shop) -> None:
    shop.ladder([G1, {**G2, "conditions": {"teamSales": "20000"}}])
    shop.agent("U")
    shop.agent("S", "U")
    shop.ledger.set_agent_level("S", "G1", admin())
    shop.ledger.define_commission_plan(
        "lv",
        on(1),
        [{"code": "diff", "kind": "LEVEL_DIFFERENCE", "rates": {"G1": "0.5%", "G2": "1.0%"}}],
        admin(),
    )
    shop.sell("O-1", "S", on(2))
    shop.sell("O-2", "S", on(3))  # U's team reaches 20,000: upgraded after this sale
    shop.fenrun.catch_up()
    assert shop.level("U") == "G2"
    assert shop.lines("O-1") == shop.lines("O-2") == {}  # U had no grade yet

    shop.sell("O-3", "S", on(4))
    shop.fenrun.catch_up()
    assert shop.lines("O-3") == {("U", "LEVEL_DIFFERENCE"): (5000, "0.005")}  # (1.0 - 0.5)%
