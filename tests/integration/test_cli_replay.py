"""`fenrun replay`: the API's vocabulary, and --at read as what it is (recorded time)."""

import json
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from api.cli import app as cli
from domain.common import Audit

JAN5 = datetime(2026, 1, 5, tzinfo=UTC)


def history(fenrun) -> None:
    """A January top-up, recorded whenever the test runs (later than January 10, 2026)."""
    ledger, january = fenrun.ledger, Audit("admin", JAN5)
    ledger.register_agent("A", "Agent A", None, True, january)
    ledger.top_up_deposit("A", 6000, january)
    fenrun.catch_up()


def words(text: str) -> str:
    return " ".join(text.split())  # the console wraps long lines


@pytest.fixture
def runner(fenrun, dsn, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    history(fenrun)
    monkeypatch.setenv("FENRUN_DATABASE_URL", dsn)
    return CliRunner()


def test_replay_prints_money_in_camel_case(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["replay", "wallet", "A"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert (found["kind"], found["code"], found["version"]) == (
        "wallet",
        "A",
        2,
    )  # opened, topped up
    assert found["state"]["agentCode"] == "A"
    assert found["state"]["balances"]["deposit"] == "60.00"
    assert found["state"]["settledWithdrawals"] == []

    now = datetime.now(UTC).isoformat()
    result = runner.invoke(cli, ["replay", "agent", "A", "--at", now])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["state"]["realNameVerified"] is True


def test_at_is_recorded_time_not_a_business_date(runner: CliRunner) -> None:
    # The top-up took effect on January 5 but was recorded today: on January 10 the ledger
    # knew nothing of it, and the command says why rather than just "no wallet".
    result = runner.invoke(cli, ["replay", "wallet", "A", "--at", "2026-01-10T00:00:00+08:00"])
    assert result.exit_code == 1
    assert result.stdout == ""
    said = words(result.output)
    assert "no wallet 'A' in the events recorded up to 2026-01-10T00:00:00+08:00" in said
    assert "--at is recorded time" in said
    assert "It is not a business date" in said

    helped = words(runner.invoke(cli, ["replay", "--help"]).output)
    assert "--at is recorded time" in helped
    assert "It is not a business date" in helped


def test_at_must_be_a_time_with_an_offset(runner: CliRunner) -> None:
    for at, reason in (("<an asOf>", "is not an ISO 8601 time"), ("2026-12-01T10:00", "offset")):
        result = runner.invoke(cli, ["replay", "wallet", "A", "--at", at])
        assert result.exit_code == 2
        assert reason in words(result.output)
