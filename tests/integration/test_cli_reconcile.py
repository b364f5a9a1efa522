"""`fenrun reconcile carrier-receipt` against a real database (decision 0032): a dry run
records nothing; a run is recorded, and its Excel report written."""

import json
from datetime import UTC, datetime

import pytest
from python_calamine import CalamineWorkbook
from typer.testing import CliRunner

from api.cli import app as cli
from application.reconciliation import recorded_runs
from tests.e2e.test_settlement_import import GOOD
from tests.integration.test_cli_imports import history, xlsx

JAN = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_carrier_receipt_from_the_command_line(
    fenrun, dsn, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    history(fenrun)
    monkeypatch.setenv("FENRUN_DATABASE_URL", dsn)
    monkeypatch.setenv("FENRUN_DATA_DIR", str(tmp_path / "data"))
    file = tmp_path / "march.xlsx"
    file.write_bytes(xlsx(GOOD[:1]))  # 30.00 for 2026-03
    assert CliRunner().invoke(cli, ["import", "settlements", str(file)]).exit_code == 0
    args = ["reconcile", "carrier-receipt", "2026-03", "--amount", "29.00"]
    result = CliRunner().invoke(cli, [*args, "--dry-run"])
    assert result.exit_code == 0, result.output
    dry = json.loads(result.stdout)
    assert (dry["dryRun"], dry["recordedPosition"]) == (True, None)
    [item] = dry["items"]
    assert (item["ours"], item["theirs"], item["ourSources"]) == (
        "30.00", "29.00", ["settlement file march.xlsx"],
    )  # fmt: skip
    assert recorded_runs(fenrun.ledger, fenrun.read.log_head()) == []
    report = tmp_path / "recon.xlsx"
    result = CliRunner().invoke(cli, [*args, "--report", str(report), "--actor", "finance-1"])
    assert result.exit_code == 0, result.output
    done = json.loads(result.stdout)
    [recorded] = recorded_runs(fenrun.ledger, fenrun.read.log_head())
    assert (recorded.run["run_id"], recorded.run["actor"]) == (done["id"], "finance-1")
    rows = CalamineWorkbook.from_path(str(report)).get_sheet_by_name("Differences").to_python()
    assert rows[1][3:7] == ["AMOUNT_DIFFERS", 30.0, 29.0, -1.0]
    close = CliRunner().invoke(cli, [*args, "--tolerance", "1.00", "--dry-run"])
    assert json.loads(close.stdout)["items"] == []
    assert json.loads(close.stdout)["sources"][-1] == "tolerance 1.00"
    bad = CliRunner().invoke(cli, ["reconcile", "three-way", "2026-13"])
    assert bad.exit_code != 0
