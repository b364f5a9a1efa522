"""`fenrun import settlements` and `fenrun export` against a real database (issue 13)."""

import json
from datetime import UTC, datetime

import psycopg
import pytest
from python_calamine import CalamineWorkbook
from typer.testing import CliRunner

from api.cli import app as cli
from domain.common import Audit
from projections.runner import ProjectionRunner
from tests.e2e.test_settlement_import import BAD, GOOD, as_csv, xlsx

JAN = datetime(2026, 1, 1, tzinfo=UTC)


def history(fenrun) -> None:
    ledger, a = fenrun.ledger, Audit("admin", JAN)
    ledger.define_package("NC", "Number", "NUMBER", 0, 1, a)
    ledger.register_agent("A", "A", None, True, a)
    ledger.assign_card("89860001", "A", "NC", a)
    ledger.activate_card("89860001", a)
    rules = [{"code": "lt40", "kind": "LONG_TERM", "rate": "40%"}]
    ledger.define_commission_plan("lt", JAN, rules, a)
    fenrun.catch_up()


def test_import_refused_then_accepted_then_exported(
    fenrun, dsn, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    history(fenrun)
    monkeypatch.setenv("FENRUN_DATABASE_URL", dsn)
    monkeypatch.setenv("FENRUN_DATA_DIR", str(tmp_path / "data"))
    file = tmp_path / "march.xlsx"
    file.write_bytes(xlsx(GOOD + BAD))
    result = CliRunner().invoke(cli, ["import", "settlements", str(file)])
    assert result.exit_code == 1, result.output
    refused = json.loads(result.stdout)
    assert (refused["status"], refused["applied"], refused["refused"]) == ("REFUSED", 0, 2)
    assert [p["row"] for p in refused["problems"]] == [4, 5, 5, 5]

    report = tmp_path / "problems.xlsx"
    args = ["import", "settlements", str(file), "--accept-valid", "--report", str(report)]
    result = CliRunner().invoke(cli, [*args, "--actor", "finance-1"])
    assert result.exit_code == 0, result.output
    done = json.loads(result.stdout)
    assert (done["status"], done["applied"], done["recorded_by"]) == ("PARTIAL", 2, "finance-1")
    problems = CalamineWorkbook.from_path(str(report)).get_sheet_by_name("Problems").to_python()
    assert [r[2] for r in problems[1:]] == ["CARD_NOT_FOUND", "INVALID_INPUT", "INVALID_MONEY",
                                           "INVALID_INPUT"]  # fmt: skip
    totals = fenrun.read.platform_totals(fenrun.read.log_head())
    assert (totals["income_fen"], totals["credits_fen"], totals["net_fen"]) == (5050, 2020, 3030)

    again = tmp_path / "renamed.csv"
    again.write_bytes(as_csv(GOOD))  # another file (content): its rows are known, unchanged
    result = CliRunner().invoke(cli, ["import", "settlements", str(again)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["unchanged"] == 2
    result = CliRunner().invoke(cli, ["import", "settlements", str(again)])
    assert json.loads(result.stdout)["status"] == "ALREADY_IMPORTED"

    out = tmp_path / "month.xlsx"
    result = CliRunner().invoke(cli, ["export", "platform-month", "--out", str(out)])
    assert result.exit_code == 0, result.output
    book = CalamineWorkbook.from_path(str(out))
    about = dict(book.get_sheet_by_name("About").to_python())
    assert int(about["log position"]) == fenrun.read.log_head()
    [header, *months] = book.get_sheet_by_index(0).to_python()
    assert header[:2] == ["month", "income"]
    assert sum(m[1] for m in months) == 50.5

    out = tmp_path / "report.xlsx"
    args = ["export", "import-report", "--hash", done["file_hash"], "--out", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    about = dict(CalamineWorkbook.from_path(str(out)).get_sheet_by_name("About").to_python())
    assert (about["file"], about["applied"], about["refused"]) == ("march.xlsx", 2.0, 2.0)


def test_an_import_stands_when_catching_up_after_it_fails(
    fenrun, dsn, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rule 1 on the CLI: the rows are recorded before the views catch up; a failure then is
    said (stderr) and left to the worker, and the report still printed with exit code 0."""
    history(fenrun)
    monkeypatch.setenv("FENRUN_DATABASE_URL", dsn)
    monkeypatch.setenv("FENRUN_DATA_DIR", str(tmp_path / "data"))

    def lost(*_: object) -> int:
        raise psycopg.OperationalError("server closed the connection unexpectedly (test)")

    monkeypatch.setattr(ProjectionRunner, "run_until_idle", lost)
    file = tmp_path / "march.csv"
    file.write_bytes(as_csv(GOOD))
    result = CliRunner().invoke(cli, ["import", "settlements", str(file)])
    assert result.exit_code == 0, result.output
    assert (json.loads(result.stdout)["status"], json.loads(result.stdout)["applied"]) == (
        "APPLIED", 2,
    )  # fmt: skip
    assert "accruing them did not finish here" in result.stderr
    monkeypatch.undo()
    fenrun.catch_up()
    totals = fenrun.read.platform_totals(fenrun.read.log_head())
    assert (totals["income_fen"], totals["credits_fen"]) == (5050, 2020)
