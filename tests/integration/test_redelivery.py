"""SPEC §2: the same fact processed again yields the same commission, not a second one, even if
the policy's tracking position is lost or rewound (a restored backup, an operator's mistake)."""

from datetime import UTC, datetime

import psycopg

from application.policy import CommissionPolicy
from domain.common import Audit, aggregate_id


def test_rewound_policy_adds_nothing(fenrun, dsn: str) -> None:
    ledger = fenrun.ledger
    a = Audit("admin", datetime(2026, 1, 5, tzinfo=UTC))
    ledger.register_agent("A", "Agent A", None, True, a)
    ledger.define_package("P", "Traffic 50", "TRAFFIC", 5000, 1, a)
    ledger.set_cost_price("A", "P", 6000, a)
    ledger.set_retail_price("A", "P", 9000, a)
    ledger.define_commission_plan(
        "p",
        a.effective_at,
        [{"code": "once", "kind": "ONE_TIME", "amount": "5", "rechargeThreshold": "10"}],
        a,
    )
    ledger.top_up_deposit("A", 6000, a)
    for order_id, flow in (
        ("O1", "CUSTOMER_PAYS"),
        ("O2", "CUSTOMER_PAYS"),
        ("O3", "AGENT_PREPAID"),
    ):
        iccid = None if flow == "CUSTOMER_PAYS" else "ICC3"
        ledger.place_order(order_id, "P", "A", iccid, "cust", flow, a)
        ledger.complete_order(order_id, a)
    ledger.activate_card("ICC3", a)
    ledger.record_recharge("ICC3", 2000, a)
    ledger.refund_order("O1", 4500, Audit("ops", a.effective_at, "half"))
    ledger.refund_order("O2", 9000, Audit("ops", a.effective_at, "all"))
    fenrun.catch_up()
    wallet_events = len(ledger.events_of(aggregate_id("wallet", "A"), None))
    balances = ledger.wallet("A").balances
    assert balances["frozen"] == 1500 + 500  # O1's half line, the one-time 5.00

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "UPDATE ledger_tracking SET notification_id = 0"
            " WHERE application_name = 'commission-policy'"
        )
    fenrun.policy = CommissionPolicy(ledger)  # a new process: nothing in memory
    fenrun.catch_up()

    assert len(ledger.events_of(aggregate_id("wallet", "A"), None)) == wallet_events
    assert ledger.wallet("A").balances == balances
    assert fenrun.read.wallet("A", fenrun.read.caught_up()) == balances
