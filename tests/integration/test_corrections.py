"""Plan corrections against real PostgreSQL: refunds after a correction, finance's rejections,
and a correction delivered to the policy twice."""

from datetime import UTC, datetime, timedelta

import psycopg

from application.policy import CommissionPolicy
from domain.common import Audit

JAN = datetime(2026, 1, 1, tzinfo=UTC)
MAR = datetime(2026, 3, 1, tzinfo=UTC)
APR = datetime(2026, 4, 1, tzinfo=UTC)
SOLD = datetime(2026, 3, 2, tzinfo=UTC)


def rules(rate: str) -> list[dict]:
    return [{"code": "pct", "kind": "PERCENTAGE", "rate": rate, "base": "PAID_AMOUNT"}]


def seller(fenrun, rate: str = "5%") -> None:
    """A sells P at 100.00 (cost 100.00: no price difference)."""
    ledger, a = fenrun.ledger, Audit("admin", JAN)
    ledger.define_package("P", "Plan", "TRAFFIC", 1000, 1, a)
    ledger.register_agent("A", "A", None, True, a)
    ledger.set_cost_price("A", "P", 10000, a)
    ledger.set_retail_price("A", "P", 10000, a)
    ledger.define_commission_plan("p", JAN, rules(rate), a)


def sell(fenrun, order_id: str, at: datetime = SOLD) -> None:
    audit = Audit("shop", at)
    fenrun.ledger.place_order(order_id, "P", "A", None, "cust", "CUSTOMER_PAYS", audit)
    fenrun.ledger.complete_order(order_id, audit)


def refund(fenrun, order_id: str, amount: int) -> None:
    fenrun.ledger.refund_order(order_id, amount, Audit("ops", SOLD + timedelta(days=1), "r"))
    fenrun.catch_up()


def correct(fenrun, rate: str) -> None:
    fenrun.ledger.correct_commission_plan("p", rules(rate), MAR, APR, Audit("ops", APR, "fix"))
    fenrun.catch_up()


def frozen(fenrun) -> int:
    return fenrun.ledger.wallet("A").balances["frozen"]


def test_a_refund_after_a_correction_takes_its_share_of_what_is_left(fenrun) -> None:
    seller(fenrun)
    sell(fenrun, "O-1")
    sell(fenrun, "O-2")
    fenrun.catch_up()
    correct(fenrun, "2.5%")  # each line 5.00 -> 2.50
    assert frozen(fenrun) == 500
    refund(fenrun, "O-1", 5000)  # half of O-1: 1.25 of its 2.50
    assert frozen(fenrun) == 375
    correct(fenrun, "4%")  # O-1: 2.00 due on the half left; O-2: 4.00
    assert frozen(fenrun) == 600
    refund(fenrun, "O-1", 5000)  # the rest: line and adjustment give back everything
    refund(fenrun, "O-2", 10000)
    assert frozen(fenrun) == 0
    assert fenrun.ledger.wallet("A").book.lines == {}


def test_a_line_finance_voided_is_not_paid_again_by_a_correction(fenrun) -> None:
    seller(fenrun)
    sell(fenrun, "O-1")
    fenrun.catch_up()
    correct(fenrun, "8%")  # a 3.00 adjustment on top of 5.00
    now = Audit("finance", APR + timedelta(days=30), "no")
    requests = fenrun.ledger.release_due_commissions(now).request_ids
    fenrun.catch_up()
    # Finance rejects (voids) the adjustment only, and approves the line.
    wallet = fenrun.ledger.wallet("A")
    by_amount = {wallet.book.lines[wallet.book.requests[r]].amount_fen: r for r in requests}
    fenrun.ledger.reject_unfreeze_requests([by_amount[300]], True, now)
    fenrun.ledger.approve_unfreeze_requests([by_amount[500]], now)
    fenrun.catch_up()
    correct(fenrun, "10%")  # 10.00 due: 5.00 was paid, the voided 3.00 is not paid again
    wallet = fenrun.ledger.wallet("A")
    assert (wallet.balances["available"], wallet.balances["frozen"]) == (500, 0)


def test_a_redelivered_correction_is_applied_once_and_still_pays_what_follows(
    fenrun, dsn: str
) -> None:
    seller(fenrun)
    sell(fenrun, "O-1")
    fenrun.catch_up()
    correct(fenrun, "8%")
    sell(fenrun, "O-2", SOLD + timedelta(days=3))  # after the correction, in its period
    fenrun.catch_up()
    assert frozen(fenrun) == 800 + 800
    events = len(fenrun.ledger.events_of(fenrun.ledger.wallet("A").id, None))

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "UPDATE ledger_tracking SET notification_id = 0"
            " WHERE application_name = 'commission-policy'"
        )
    fenrun.policy = CommissionPolicy(fenrun.ledger)  # a new process: nothing in memory
    fenrun.catch_up()
    assert len(fenrun.ledger.events_of(fenrun.ledger.wallet("A").id, None)) == events
    assert frozen(fenrun) == 1600

    # A new sale of the period after the rewind is still paid by the correction.
    sell(fenrun, "O-3", SOLD + timedelta(days=4))
    fenrun.catch_up()
    assert frozen(fenrun) == 2400
