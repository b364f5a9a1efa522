"""Bitemporal reports against real PostgreSQL: activations as reported (seed 004), team
performance over the subtree as it was, monthly increments, platform months, rankings."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import psycopg

from domain.common import Audit
from projections.reports import Reports

SH = ZoneInfo("Asia/Shanghai")


def at(year: int, month: int, day: int = 15) -> datetime:
    return datetime(year, month, day, 12, tzinfo=SH)


def audit(when: datetime, reason: str = "") -> Audit:
    return Audit("ops", when, reason)


def set_recorded(dsn: str, since: int, when: datetime) -> None:
    """Pretend the events after `since` were recorded at `when` (1 ms apart, in log order)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        # The log refuses edits outside a migration run by its owner: say this is one.
        conn.execute("SET fenrun.migration = 'on'")
        conn.execute(
            "UPDATE ledger_events SET recorded_at = %s + (notification_id - %s)"
            " * interval '1 millisecond' WHERE notification_id > %s",
            (when, since, since),
        )


def test_activation_report_is_fixed_once_reported(fenrun, dsn: str, clock) -> None:
    clock.set(at(2026, 12, 31))  # the server's clock at the end of the year the test reports
    ledger = fenrun.ledger
    ledger.register_agent("A", "A", None, True, audit(at(2025, 12)))
    reports = Reports(fenrun.read)
    set_recorded(dsn, 0, at(2025, 12))
    end_of: dict[int, int] = {}
    serial = 0
    for month in range(1, 13):
        head = fenrun.read.log_head()
        # Each month: 10 x month activations as reported; in February 3 of them are January's.
        late = 3 if month == 2 else 0
        for i in range(10 * month):
            serial += 1
            iccid = f"8986{serial:08d}"
            effective = at(2026, month - 1 if i < late else month, 10)
            ledger.assign_card(iccid, "A", None, audit(effective))
            ledger.activate_card(iccid, audit(effective))
        set_recorded(dsn, head, at(2026, month, 20))
        fenrun.catch_up()
        end_of[month] = fenrun.read.caught_up()

    final = reports.activation_report("A", 2026, end_of[12])
    assert [m["count"] for m in final] == [10 * m for m in range(1, 13)]
    assert [m["late"] for m in final] == [0, 3] + [0] * 10
    # January read in December equals January read at January's end.
    jan_at_jan_end = reports.activation_report("A", 2026, end_of[1])
    assert jan_at_jan_end[0]["count"] == final[0]["count"] == 10
    assert sum(m["count"] for m in jan_at_jan_end) == 10
    # By effective month the late ones belong to January: 10 + 3.
    assert reports.performance("A", date(2026, 1, 1), end_of[12])["activations"] == 13


def test_team_performance_uses_the_tree_as_it_was(fenrun, dsn: str) -> None:
    ledger = fenrun.ledger
    t0 = at(2026, 1, 2)
    for code, parent in [("A", None), ("B", "A"), ("C", "B"), ("D", None)]:
        ledger.register_agent(code, code, parent, True, audit(t0))
    ledger.define_package("P", "P", "TRAFFIC", 5000, 1, audit(t0))
    for code, cost in [("A", 6000), ("B", 7000), ("C", 8000), ("D", 9000)]:
        ledger.set_cost_price(code, "P", cost, audit(t0))
        ledger.set_retail_price(code, "P", cost + 2000, audit(t0))

    def sell(order_id: str, agent: str, when: datetime) -> None:
        ledger.place_order(order_id, "P", agent, None, "cust", "CUSTOMER_PAYS", audit(when))
        ledger.complete_order(order_id, audit(when))

    sell("o1", "C", at(2026, 1))  # C 100.00: B and A team
    sell("o2", "B", at(2026, 1))  # B 90.00: A team
    sell("o3", "D", at(2026, 1))  # D 110.00, before D joins C
    ledger.bind_upline("D", "C", audit(at(2026, 1, 20)))
    sell("o4", "D", at(2026, 2))  # D 110.00, now under C, B, A
    sell("o5", "C", at(2026, 2))
    ledger.refund_order("o5", 5000, audit(at(2026, 2, 16), "half back"))
    fenrun.catch_up()
    head = fenrun.read.caught_up()
    r = Reports(fenrun.read)
    jan, feb = date(2026, 1, 1), date(2026, 2, 1)
    assert r.performance("A", jan, head) == {
        "personal_fen": 0,
        "personal_orders": 0,
        "team_fen": 19000,
        "team_orders": 2,
        "activations": 0,
        "card_income_fen": 0,
        "team_card_income_fen": 0,
    }
    assert r.performance("C", jan, head)["team_fen"] == 0  # D's January sale predates the bind
    assert r.performance("D", jan, head)["personal_fen"] == 11000
    assert r.performance("C", feb, head)["team_fen"] == 11000
    assert r.performance("C", feb, head)["personal_fen"] == 5000  # 100 - 50 refunded
    assert r.performance("C", feb, head)["personal_orders"] == 1  # half a refund keeps the sale
    assert r.performance("A", feb, head)["team_fen"] == 11000 + 5000
    ranking = r.ranking(feb, head, 10)
    assert [(x["agent_code"], x["team_fen"]) for x in ranking] == [
        ("A", 16000),
        ("B", 16000),
        ("C", 11000),
        ("D", 0),
    ]
    totals = r.platform_month(jan, head)
    assert totals["income_fen"] == 10000 + 9000 + 11000
    # Price differences: o1 A 10 + B 10 + C 20; o2 A 10 + B 20; o3 D 20 (no plan, all frozen).
    assert totals["price_difference_fen"] == totals["frozen_fen"] == 9000


def test_platform_month_by_status(fenrun) -> None:
    ledger = fenrun.ledger
    t0 = at(2026, 3, 1)
    ledger.register_agent("A", "A", None, True, audit(t0))
    ledger.define_package("P", "P", "TRAFFIC", 5000, 1, audit(t0))
    ledger.set_cost_price("A", "P", 6000, audit(t0))
    ledger.set_retail_price("A", "P", 9000, audit(t0))
    ledger.define_commission_plan(
        "p", t0, [{"code": "pct", "kind": "PERCENTAGE", "rate": "5%"}], audit(t0)
    )
    for i in range(3):
        ledger.place_order(f"o{i}", "P", "A", None, "c", "CUSTOMER_PAYS", audit(at(2026, 3, 5)))
        ledger.complete_order(f"o{i}", audit(at(2026, 3, 5)))
    fenrun.catch_up()
    ledger.release_due_commissions(audit(at(2026, 3, 20)))
    fenrun.catch_up()
    requests = fenrun.read.unfreeze_requests(fenrun.read.caught_up(), "PENDING", None, 10, None)
    ledger.approve_unfreeze_requests(
        [r["id"] for r in requests.rows[:2]], audit(at(2026, 3, 21), "ok")
    )
    ledger.refund_order("o2", 9000, audit(at(2026, 3, 22), "returned"))
    fenrun.catch_up()
    t = Reports(fenrun.read).platform_month(date(2026, 3, 1), fenrun.read.caught_up())
    assert t["income_fen"] == 27000
    assert t["refunded_fen"] == 9000
    # o0's two lines (30.00 + 3.00) approved, o1's still requested, o2's voided by the refund.
    assert (t["approved_fen"], t["unfreezing_fen"], t["frozen_fen"]) == (3300, 3300, 0)
    assert t["voided_fen"] == 3300
    assert t["clawed_back_fen"] == 0
    assert t["price_difference_fen"] == 2 * 3000
