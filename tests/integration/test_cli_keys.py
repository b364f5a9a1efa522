"""`fenrun keys add ... --for`: a callbacks or reports key names the channel or carrier it speaks
for, recorded on the key's event; without `--for` it speaks for its name."""

import json

import pytest
from typer.testing import CliRunner

from api.cli import app as cli


def test_a_key_is_added_for_one_carrier(
    fenrun, dsn, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FENRUN_DATABASE_URL", dsn)
    monkeypatch.setenv("FENRUN_DATA_DIR", str(tmp_path / "data"))
    args = ["keys", "add", "cmcc-push", "--scope", "carrier-reports", "--for", "CMCC"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert (shown["name"], shown["for"]) == ("cmcc-push", "CMCC")
    assert fenrun.ledger.api_key(shown["keyId"]).speaks_for == "CMCC"
    named = CliRunner().invoke(cli, ["keys", "add", "sim", "--scope", "payment-callbacks"])
    assert named.exit_code == 0, named.output
    assert fenrun.ledger.api_key(json.loads(named.stdout)["keyId"]).speaks_for == "sim"
