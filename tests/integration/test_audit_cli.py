"""`fenrun audit head`, `fenrun audit verify-chain` and a rebuild refused on edited history."""

import json

import pytest
from typer.testing import CliRunner

from api.cli import app as cli
from tests.integration.test_chain import attacker, edit_an_amount, history


@pytest.fixture
def env(fenrun, dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    history(fenrun)
    monkeypatch.setenv("FENRUN_DATABASE_URL", dsn)


def run(*args: str) -> tuple[int, dict]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else {}


@pytest.mark.usefixtures("env")
def test_verify_chain_names_the_first_edited_position(fenrun, dsn: str) -> None:
    code, head = run("audit", "head")
    assert code == 0
    assert head["position"] == fenrun.read.log_head()
    notarized = f"{head['position']}:{head['hash']}"
    code, report = run("audit", "verify-chain", "--notarized", notarized, "--batch-size", "5")
    assert (code, report["ok"], report["checked"]) == (0, True, head["position"])
    assert report["head"] == head
    assert report["firstMismatch"] is None

    with attacker(dsn) as conn:
        altered = edit_an_amount(conn, dsn)
    code, report = run("audit", "verify-chain")
    assert (code, report["ok"], report["checked"]) == (1, False, altered - 1)
    assert report["firstMismatch"] == {
        "position": altered,
        "problem": "altered",
        "detail": "its content does not match its stored hash",
    }
    result = CliRunner().invoke(cli, ["projections", "rebuild", "directory"])
    assert result.exit_code == 1
    said = " ".join(result.output.split())
    assert f"hash chain at position {altered} (altered)" in said
    assert "refusing to rebuild directory" in said


@pytest.mark.usefixtures("env")
def test_a_malformed_notarized_head_is_refused() -> None:
    result = CliRunner().invoke(cli, ["audit", "verify-chain", "--notarized", "12:nothex"])
    assert result.exit_code == 2
    assert "POSITION:HEXHASH" in result.output
