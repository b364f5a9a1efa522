"""A policy that fails on an event stops just before it, visibly, and skips no money fact
(issue 9, decision 0019): writes go on, the views go on, the failure is recorded where
readiness and metrics see it; tried again after a backoff, it pays every fact once when fixed.
"""

import time
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from application.policy import CommissionPolicy
from domain.common import Audit, aggregate_id
from domain.order import Order
from domain.wallet import Wallet
from projections.health import Operations

A = Audit("admin", datetime(2026, 1, 5, tzinfo=UTC))
PLAN = [{"code": "fixed", "kind": "FIXED", "amount": "1.00"}]


def seller(ledger: Any) -> None:
    """Agent A sells package P under a plan paying 1.00 per sale."""
    ledger.register_agent("A", "Agent A", None, True, A)
    ledger.define_package("P", "Traffic 50", "TRAFFIC", 5000, 1, A)
    ledger.set_cost_price("A", "P", 6000, A)
    ledger.set_retail_price("A", "P", 9000, A)
    ledger.define_commission_plan("p", A.effective_at, PLAN, A)


def sell(ledger: Any, order_id: str) -> int:
    ledger.place_order(order_id, "P", "A", None, "cust", "CUSTOMER_PAYS", A)
    return ledger.commit(complete(order_id)).position - 1  # the completion; then its key


def complete(order_id: str) -> Any:
    from application.use_cases.orders import CompleteOrder

    return CompleteOrder(order_id, A)


def lines_by_order(ledger: Any) -> dict[str, int]:
    found: dict[str, int] = {}
    for event in ledger.events_of(aggregate_id("wallet", "A"), None):
        if isinstance(event, Wallet.CommissionAccrued):
            found[event.order_id] = found.get(event.order_id, 0) + 1
    return found


def failure(dsn: str) -> tuple[Any, ...] | None:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "SELECT failed_position, failures, last_error FROM policy_failures"
            " WHERE name = 'commission-policy'"
        ).fetchone()


def test_a_failing_policy_stops_before_the_event_and_skips_nothing(
    fenrun: Any, dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = fenrun.ledger
    seller(ledger)
    sell(ledger, "O1")
    fenrun.catch_up()
    paid = lines_by_order(ledger)["O1"]

    poisoned = {"O2"}
    handle = CommissionPolicy._handle

    def buggy(self: CommissionPolicy, event: Any, batch: Any) -> None:
        if isinstance(event, Order.Completed) and event.order_id in poisoned:
            raise KeyError(f"poisoned sale {event.order_id}")
        handle(self, event, batch)

    monkeypatch.setattr(CommissionPolicy, "_handle", buggy)
    fenrun.policy.retry_seconds = (0.5, 0.5)  # tried again after half a second
    bad = sell(ledger, "O2")
    sell(ledger, "O3")
    top_up = ledger.commit(topped_up(700)).position

    fenrun.catch_up()  # no exception: the policy's failure is its own
    assert fenrun.policy.position() == bad - 1
    failed_at, failures, error = failure(dsn)
    assert failed_at == bad
    assert "poisoned sale O2" in error
    assert lines_by_order(ledger) == {"O1": paid}  # nothing after the bad event: O3 waits too
    assert fenrun.read.wallet("A", top_up)["deposit"] == 700  # the views went on
    operations = Operations(fenrun.pool, 3, [fenrun.policy.name, fenrun.level_policy.name])
    assert list(operations.readiness().failing_policies) == ["commission-policy"]
    assert list(operations.backlog().failing_policies) == ["commission-policy"]

    time.sleep(0.6)
    fenrun.catch_up()  # tried again: fails again on the same event
    assert failure(dsn)[:2] == (bad, failures + 1)

    poisoned.clear()  # fixed
    time.sleep(0.6)
    fenrun.catch_up()
    assert lines_by_order(ledger) == {"O1": paid, "O2": paid, "O3": paid}
    assert failure(dsn) is None
    assert operations.readiness().failing_policies == {}


def test_a_new_process_tries_a_stopped_policy_again_at_once(
    fenrun: Any, dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = fenrun.ledger
    seller(ledger)
    handle = CommissionPolicy._handle
    with monkeypatch.context() as patch:
        patch.setattr(CommissionPolicy, "_handle", _fails_on_sales)
        bad = sell(ledger, "O1")
        fenrun.catch_up()
        assert failure(dsn)[0] == bad
        assert CommissionPolicy._handle is not handle
    fenrun.catch_up()  # fixed, but this process waits for the retry time (5 s at first)
    assert fenrun.policy.position() == bad - 1
    fenrun.policy = CommissionPolicy(ledger)  # a process started afresh
    fenrun.catch_up()
    assert fenrun.policy.position() > bad
    assert failure(dsn) is None
    assert "O1" in lines_by_order(ledger)


def _fails_on_sales(self: Any, event: Any, batch: Any) -> None:
    if isinstance(event, Order.Completed):
        raise RuntimeError("poisoned")


def topped_up(amount: int) -> Any:
    from application.use_cases.wallets import TopUpDeposit

    return TopUpDeposit("A", amount, A)
