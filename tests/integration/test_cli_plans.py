"""`fenrun plans simulate` and `fenrun plans correct` against a real database."""

import json
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from api.cli import app as cli
from domain.common import Audit

JAN = datetime(2026, 1, 1, tzinfo=UTC)
RULES_10 = [{"code": "ml", "kind": "MULTI_LEVEL", "levels": ["10%"]}]
RULES_12 = [{"code": "ml", "kind": "MULTI_LEVEL", "levels": ["12%"]}]


def history(fenrun) -> None:
    ledger, a = fenrun.ledger, Audit("admin", JAN)
    ledger.define_package("P", "Plan", "TRAFFIC", 1000, 1, a)
    for code, parent in (("A", None), ("B", "A")):
        ledger.register_agent(code, code, parent, True, a)
        ledger.set_cost_price(code, "P", 10000, a)
        ledger.set_retail_price(code, "P", 10000, a)
    ledger.define_commission_plan("ml", JAN, RULES_10, a)
    sold = Audit("shop", datetime(2026, 3, 2, tzinfo=UTC))
    ledger.place_order("O-1", "P", "B", None, "cust", "CUSTOMER_PAYS", sold)
    ledger.complete_order("O-1", sold)
    fenrun.catch_up()


def test_simulate_then_correct(fenrun, dsn, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    history(fenrun)
    monkeypatch.setenv("FENRUN_DATABASE_URL", dsn)
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(RULES_12))
    period = ["--from", "2026-03-01T00:00:00+08:00", "--to", "2026-04-01T00:00:00+08:00"]

    result = CliRunner().invoke(cli, ["plans", "simulate", "ml", "--rules", str(rules), *period])
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert (found["recorded"], found["simulated"], found["sales"]) == ("10.00", "12.00", 1)
    assert [(c["agent"], c["difference"]) for c in found["commissions"]] == [("A", "2.00")]
    assert fenrun.ledger.wallet("A").balances["frozen"] == 1000  # nothing written

    args = ["plans", "correct", "ml", "--rules", str(rules), *period, "--reason", "memo 17"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"planCode": "ml", "version": 2}
    fenrun.catch_up()
    assert fenrun.ledger.wallet("A").balances["frozen"] == 1200

    rules.write_text("[{")
    result = CliRunner().invoke(cli, ["plans", "simulate", "ml", "--rules", str(rules), *period])
    assert result.exit_code == 2
    assert "not JSON" in result.output
    rules.write_text(json.dumps([{"code": "x", "kind": "FIXED", "amount": "-1"}]))
    result = CliRunner().invoke(cli, ["plans", "correct", "ml", "--rules", str(rules), *period])
    assert result.exit_code == 2  # --reason missing
    result = CliRunner().invoke(cli, [*args[:4], str(rules), *args[5:]])
    assert result.exit_code == 2
    assert "INVALID_MONEY" in result.output or "PLAN_REFUSED" in result.output


def test_an_unknown_plan_is_refused(fenrun, dsn, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    history(fenrun)
    monkeypatch.setenv("FENRUN_DATABASE_URL", dsn)
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(RULES_12))
    period = ["--from", "2026-03-01T00:00:00+08:00", "--to", "2026-04-01T00:00:00+08:00"]
    head = fenrun.read.log_head()

    for command in (["simulate"], ["correct", "--reason", "memo 17"]):
        result = CliRunner().invoke(cli, ["plans", *command, "m1", "--rules", str(rules), *period])
        assert result.exit_code == 2, result.output
        assert "PLAN_NOT_FOUND code: no commission plan with code 'm1'" in result.output
        assert result.stdout == ""
    assert fenrun.read.log_head() == head  # nothing recorded
    assert fenrun.ledger.plan("m1") is None
