"""Decision 0037: what the commission policy keeps between batches is brought forward from the
log, and dropped when its batches were not the last ones saved; what a sale reads is checked by
version. Each test asserts the money, not only the mechanism."""

from datetime import UTC, datetime

import pytest

from application.ledger import SNAPSHOT_ITEMS_PER_EVENT, _stretched
from application.policy import CommissionPolicy
from domain.common import Audit, aggregate_id
from domain.errors import AgentNotFound, AlreadyExists, PackageNotFound
from domain.wallet import Wallet

A = Audit("admin", datetime(2026, 1, 5, tzinfo=UTC))


def _chain(ledger) -> None:
    """platform -> A -> B; B sells P at 90.00, A's cost 60.00, B's 70.00; no plan: the price
    differences pay A 10.00 and B 20.00 per order."""
    ledger.register_agent("A", "Agent A", None, True, A)
    ledger.register_agent("B", "Agent B", "A", True, A)
    ledger.define_package("P", "Traffic 50", "TRAFFIC", 5000, 1, A)
    ledger.set_cost_price("A", "P", 6000, A)
    ledger.set_cost_price("B", "P", 7000, A)
    ledger.set_retail_price("B", "P", 9000, A)


def _sell(ledger, order_id: str) -> None:
    ledger.place_order(order_id, "P", "B", None, "cust", "CUSTOMER_PAYS", A)
    ledger.complete_order(order_id, A)


def test_kept_wallets_follow_other_writers(fenrun) -> None:
    ledger, policy = fenrun.ledger, fenrun.policy
    _chain(ledger)
    _sell(ledger, "O1")
    policy.run_until_idle()
    wallet_id = aggregate_id("wallet", "B")
    kept = policy._hot.kept[wallet_id]
    ledger.top_up_deposit("B", 5000, A)  # another writer moves B's wallet
    _sell(ledger, "O2")
    ledger.refund_order("O1", 9000, Audit("ops", A.effective_at, "all"))
    policy.run_until_idle()
    # The same copy, brought forward from the log (not reloaded), is the stored wallet.
    assert policy._hot.kept[wallet_id] is kept
    stored = ledger.wallet("B")
    assert kept.version == stored.version
    assert kept.balances == stored.balances == {**stored.balances, "frozen": 2000, "deposit": 5000}
    assert ledger.wallet("A").balances["frozen"] == 1000


def test_a_policy_that_missed_batches_keeps_nothing_stale(fenrun) -> None:
    """Two workers: what the second kept is dropped when the first saved batches in between.
    A failed card condition writes nothing but the voids of the card's lines, so a copy of B's
    wallet without the card's line would void nothing, silently."""
    ledger = fenrun.ledger
    _chain(ledger)
    ledger.define_commission_plan(
        "p",
        A.effective_at,
        [{"code": "once", "kind": "ONE_TIME", "amount": "5", "rechargeThreshold": "10"}],
        A,
    )
    ledger.top_up_deposit("B", 10_000, A)
    first, second = CommissionPolicy(ledger), CommissionPolicy(ledger)
    _sell(ledger, "O0")  # B earns 20.00
    second.run_until_idle()  # keeps B's wallet
    ledger.place_order("O1", "P", "B", "ICC1", "cust", "AGENT_PREPAID", A)
    ledger.complete_order("O1", A)
    ledger.activate_card("ICC1", A)
    ledger.record_recharge("ICC1", 2000, A)
    first.run_until_idle()  # B's one-time line: in the store, not in `second`'s copy
    assert ledger.wallet("B").balances["frozen"] == 2000 + 500
    ledger.report_card_conditions("ICC1", True, False, False, False, "carrier", A)
    second.run_until_idle()
    assert ledger.wallet("B").balances["frozen"] == 2000  # the card's line voided
    assert second._hot.kept[aggregate_id("wallet", "B")].balances == ledger.wallet("B").balances


def test_a_sale_reads_what_changed_since_it_was_kept(fenrun) -> None:
    ledger = fenrun.ledger
    _chain(ledger)
    _sell(ledger, "O1")
    ledger.set_cost_price("B", "P", 8000, A)  # B now earns 10.00, A 20.00
    _sell(ledger, "O2")
    assert ledger.order("O2").chain == [("A", 6000), ("B", 8000)]
    fenrun.policy.run_until_idle()
    assert ledger.wallet("A").balances["frozen"] == 1000 + 2000
    assert ledger.wallet("B").balances["frozen"] == 2000 + 1000
    # Refusals as before, in the same order.
    with pytest.raises(AlreadyExists):
        ledger.place_order("O1", "NOPE", "NOPE", None, "cust", "CUSTOMER_PAYS", A)
    with pytest.raises(PackageNotFound):
        ledger.place_order("O3", "NOPE", "NOPE", None, "cust", "CUSTOMER_PAYS", A)
    with pytest.raises(AgentNotFound):
        ledger.place_order("O3", "P", "NOPE", None, "cust", "CUSTOMER_PAYS", A)
    ledger.register_agent("C", "Agent C", "B", True, A)  # an upline no kept copy predicted
    ledger.set_cost_price("C", "P", 8500, A)
    ledger.set_retail_price("C", "P", 9000, A)
    ledger.place_order("O3", "P", "C", None, "cust", "CUSTOMER_PAYS", A)
    assert [code for code, _ in ledger.order("O3").chain] == ["A", "B", "C"]


def test_snapshot_intervals_stretch_with_the_open_lines() -> None:
    wallet = Wallet.open("A")
    assert _stretched(500, wallet) == 500
    wallet.book.lines = dict.fromkeys(range(1000 * SNAPSHOT_ITEMS_PER_EVENT + 1))
    assert _stretched(500, wallet) == 2000  # 500 -> 1000 -> 2000, boundaries nested
    assert _stretched(500, object()) == 500  # nothing to weigh
