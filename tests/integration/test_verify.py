"""`fenrun verify` agrees with healthy read models and catches a tampered one."""

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from typer.testing import CliRunner

from api.cli import app as cli
from application.log import LedgerLog
from domain.common import Audit
from projections.verify import verify

T0 = datetime(2026, 4, 1, 9, tzinfo=UTC)


def populate(fenrun) -> None:
    ledger = fenrun.ledger
    a = Audit("ops", T0)
    for code, parent in [("A", None), ("B", "A"), ("C", "B"), ("D", None)]:
        ledger.register_agent(code, code, parent, True, a)
    ledger.define_package("P", "P", "TRAFFIC", 5000, 1, a)
    for code, cost in [("A", 6000), ("B", 7000), ("C", 8000), ("D", 9000)]:
        ledger.set_cost_price(code, "P", cost, a)
        ledger.set_retail_price(code, "P", cost + 2000, a)
    ledger.define_commission_plan(
        "p",
        T0,
        [
            {"code": "pct", "kind": "PERCENTAGE", "rate": "5%"},
            {"code": "once", "kind": "ONE_TIME", "amount": "8", "rechargeThreshold": "50"},
            {"code": "lt", "kind": "LONG_TERM", "rate": "40%"},
        ],
        a,
    )
    ledger.top_up_deposit("C", 50000, a)
    for i, (agent, flow) in enumerate(
        [
            ("C", "CUSTOMER_PAYS"),
            ("B", "CUSTOMER_PAYS"),
            ("C", "AGENT_PREPAID"),
            ("D", "CUSTOMER_PAYS"),
        ]
    ):
        when = T0 + timedelta(days=i * 12)
        # A package with a one-time rule is bought from the wallet the first time on a card;
        # the other cards are handed out without an order.
        prepaid = flow == "AGENT_PREPAID"
        if not prepaid:
            ledger.assign_card(f"card-{i}", agent, "P", Audit("ops", when))
        ledger.place_order(
            f"o{i}", "P", agent, f"card-{i}" if prepaid else None, "cust", flow, Audit("ops", when)
        )
        ledger.complete_order(f"o{i}", Audit("ops", when))
        ledger.activate_card(f"card-{i}", Audit("ops", when))
        ledger.record_recharge(f"card-{i}", 6000, Audit("ops", when))
    # A number card of C: the carrier's totals are income, C's card income, A's and B's team's.
    ledger.define_package("NC", "Number", "NUMBER", 0, 1, a)
    ledger.assign_card("nc-1", "C", "NC", a)
    ledger.activate_card("nc-1", a)
    for n, total in enumerate((3000, 4550), 1):
        when = Audit("carrier", T0 + timedelta(days=20 * n))
        ledger.record_carrier_settlement(f"row-{n}", "nc-1", f"2026-0{3 + n}", total, "NORMAL",
                                         (True, True, True), None, when)  # fmt: skip
    fenrun.catch_up()
    ledger.bind_upline("D", "C", Audit("ops", T0 + timedelta(days=40)))
    ledger.release_due_commissions(Audit("job", T0 + timedelta(days=30)))
    fenrun.catch_up()
    pending = fenrun.read.unfreeze_requests(fenrun.read.caught_up(), "PENDING", None, 50, None)
    ids = [r["id"] for r in pending.rows]
    ledger.approve_unfreeze_requests(ids[:3], Audit("fin", T0 + timedelta(days=31)))
    ledger.reject_unfreeze_requests(
        ids[3:4], False, Audit("fin", T0 + timedelta(days=31), "check docs")
    )
    ledger.refund_order("o0", 5000, Audit("ops", T0 + timedelta(days=32), "half back"))
    ledger.refund_order("o2", 8000, Audit("ops", T0 + timedelta(days=33), "all back"))
    fenrun.catch_up()
    # Withdrawals: one paid (fee, tax and net), one rejected, one failed, one under review.
    when = T0 + timedelta(days=34)
    for code in ("A", "B", "C", "D"):
        available = ledger.wallet(code).balances["available"]
        if available < 4:
            continue
        parts = [available // 4] * 3 + [available - 3 * (available // 4)]
        for n, part in enumerate(parts):
            ledger.request_withdrawal(code, f"W-{code}-{n}", part, Audit(code, when))
        ledger.approve_withdrawals(
            ((code, f"W-{code}-0"), (code, f"W-{code}-2")), Audit("fin", when)
        )
        ledger.settle_withdrawal(code, f"W-{code}-0", True, Audit("channel", when))
        ledger.reject_withdrawals(((code, f"W-{code}-1"),), Audit("fin", when, "docs"))
        ledger.settle_withdrawal(code, f"W-{code}-2", False, Audit("channel", when, "closed"))
    fenrun.catch_up()


def test_read_models_equal_replay_everywhere(fenrun) -> None:
    populate(fenrun)
    head = fenrun.read.caught_up()
    found = verify(
        fenrun.read,
        LedgerLog(fenrun.ledger),
        fenrun.settings.zone,
        samples=head,
        seed=1,
    )  # every position
    assert found == []


def test_verify_reports_a_tampered_read_model(fenrun, dsn: str) -> None:
    populate(fenrun)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "UPDATE wallet_balance_history SET available = available + 1 WHERE agent_code = 'C'"
        )
    found = verify(fenrun.read, LedgerLog(fenrun.ledger), fenrun.settings.zone, samples=5, seed=2)
    assert found
    assert all("wallet C" in line for line in found)


def test_verify_reports_a_tampered_withdrawal(fenrun, dsn: str) -> None:
    populate(fenrun)
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM withdrawal_history").fetchone()[0] > 4
        conn.execute("UPDATE withdrawal_history SET tax_fen = tax_fen + 1 WHERE tax_fen > 0")
        conn.execute("UPDATE withdrawal_history SET status = 'PAID' WHERE status = 'REJECTED'")
    found = verify(fenrun.read, LedgerLog(fenrun.ledger), fenrun.settings.zone, samples=5, seed=2)
    assert found
    assert all("withdrawals" in line for line in found)


def test_cli_verify(fenrun, dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    populate(fenrun)
    monkeypatch.setenv("FENRUN_DATABASE_URL", dsn)
    result = CliRunner().invoke(cli, ["verify", "--samples", "10", "--seed", "3"])
    assert result.exit_code == 0, result.output
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "UPDATE performance_history SET team_fen = team_fen + 100 WHERE agent_code = 'A'"
        )
    result = CliRunner().invoke(cli, ["verify", "--samples", "10", "--seed", "3"])
    assert result.exit_code == 1
    assert "performance A" in result.output


def statements_and_adjustments(fenrun) -> None:
    ledger, later = fenrun.ledger, T0 + timedelta(days=61)
    ledger.propose_adjustment("B", "adj-1", 300, True, Audit("ops", later, "missed"))
    ledger.decide_adjustment("B", "adj-1", True, Audit("fin", later))
    fenrun.catch_up()
    ledger.generate_statements("2026-04", Audit("fin", later))
    fenrun.catch_up()
    rows = fenrun.read._all("SELECT id FROM statements WHERE agent_code = 'C'")
    ledger.decide_statement(rows[0]["id"], "APPROVE", Audit("fin-2", later))
    ledger.top_up_deposit("C", 100, Audit("fin", T0 + timedelta(days=2)))  # a late item
    fenrun.catch_up()
    ledger.generate_statements("2026-05", Audit("fin", later))
    fenrun.catch_up()


def test_the_movement_ledger_and_statements_equal_replay(fenrun, dsn: str) -> None:
    populate(fenrun)
    statements_and_adjustments(fenrun)
    head = fenrun.read.caught_up()
    log = LedgerLog(fenrun.ledger)
    assert verify(fenrun.read, log, fenrun.settings.zone, samples=head, seed=1) == []
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("UPDATE wallet_movements SET debt = debt + 1 WHERE agent_code = 'B'")
    found = verify(fenrun.read, log, fenrun.settings.zone, samples=5, seed=2)
    assert found
    assert all("movement ledger B" in line for line in found)


def test_verify_reports_settlement_income_missing(fenrun, dsn: str) -> None:
    populate(fenrun)
    assert fenrun.read.platform_totals(fenrun.read.log_head())["income_fen"] == (
        10000 + 9000 + 8000 + 11000 + 3000 + 4550  # C, B, C (prepaid: its cost), D; the rows
    )
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("UPDATE platform_month_history SET income_fen = income_fen - 3000")
        conn.execute("UPDATE performance_history SET card_income_fen = 0 WHERE agent_code = 'C'")
    found = verify(fenrun.read, LedgerLog(fenrun.ledger), fenrun.settings.zone, samples=5, seed=4)
    assert any("platform month" in line for line in found), found
    assert any("performance C" in line for line in found), found
