"""A failing view, through the API (issue 9): writes succeed and answer with their position,
other views stay current, reads of the failing view carry its lag and error in extensions and
refuse a position it has not reached (POSITION_NOT_READY), the service starts with it, and
`fenrun projections rebuild` brings it back once its code is fixed."""

from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from api.cli import app as cli
from tests.e2e.conftest import GraphQLClient, client_for, serving
from tests.fixtures.poison import poisoned, poisoned_views

WALLET = "wallet { deposit }"


def top_up(gql: GraphQLClient, amount: str) -> dict[str, Any]:
    body = gql(
        "mutation($input: TopUpDepositInput!) { topUpDeposit(input: $input)"
        " { wallet { deposit } userErrors { code } } }",
        {"input": {"agentCode": "A", "amount": amount}},
    )
    assert body["data"]["topUpDeposit"]["userErrors"] == []
    return body


def wallet(gql: GraphQLClient, position: str | None = None) -> httpx.Response:
    return gql.raw(
        'query($p: String) { wallet(agentCode: "A", position: $p) { deposit } }', {"p": position}
    )


def test_a_failing_view_takes_down_neither_writes_nor_other_views(
    dsn: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    with poisoned(dsn, data_dir=tmp_path) as (fenrun, view), serving(fenrun) as url:
        gql = client_for(url, fenrun)
        gql.ok("registerAgent", {"code": "A", "name": "A"})
        first = top_up(gql, "1.00")
        assert first["data"]["topUpDeposit"]["wallet"] == {"deposit": "1.00"}
        assert "views" not in first["extensions"]

        bad = top_up(gql, "6.66")  # the view fails on it: the write stands
        written = int(bad["extensions"]["position"])
        assert bad["data"]["topUpDeposit"]["wallet"] is None  # its view has not got there
        assert bad["extensions"]["readAt"] is None
        failing = bad["extensions"]["views"]["wallet_balances"]
        assert failing["failedPosition"] == str(written - 1)  # the top-up; then its key
        assert "poisoned top-up" in failing["error"]

        after = top_up(gql, "2.00")
        assert int(after["extensions"]["position"]) > written
        assert after["data"]["topUpDeposit"]["wallet"] is None
        head = after["extensions"]["position"]

        # The other views are current: the agent is read at the head, with no lag to report.
        agent = gql('{ agent(code: "A") { code } }')
        assert agent["extensions"]["position"] == head
        assert "views" not in agent["extensions"]
        assert gql('query($p: String) { agent(code: "A", position: $p) { code } }', {"p": head})[
            "data"
        ]["agent"] == {"code": "A"}

        # The failing view is read where it stopped, and says so (a read that asks for no
        # position: the client's session would ask for its last write's, which the view cannot
        # reach, and be answered POSITION_NOT_READY at once: decision 0036).
        gql.session = False
        stale = wallet(gql).json()
        assert stale["data"]["wallet"] == {"deposit": "1.00"}
        assert stale["extensions"]["position"] == str(written - 2)
        lagging = stale["extensions"]["views"]["wallet_balances"]
        assert lagging["lag"] == int(head) - (written - 2)
        assert "poisoned top-up" in lagging["error"]
        # ... and refuses, with a code, a position it has not reached.
        for refused in (
            wallet(gql, head).json(),
            gql.raw(
                'query($p: String) { agent(code: "A", position: $p) { wallet { deposit } } }',
                {"p": head},
            ).json(),
        ):
            [error] = refused["errors"]
            assert error["extensions"]["code"] == "POSITION_NOT_READY"
            assert list(error["extensions"]["views"]) == ["wallet_balances"]
            assert error["extensions"]["position"] == head

        ready = httpx.get(f"{url}/readyz")
        assert ready.status_code == 503
        assert "poisoned top-up" in ready.json()["failingViews"]["wallet_balances"]
        assert 'fenrun_view_failing{view="wallet_balances"} 1.0' in httpx.get(f"{url}/metrics").text

    # The service starts (and writes) with the view still failing.
    with poisoned(dsn, data_dir=tmp_path) as (fenrun, view), serving(fenrun) as url:
        gql = client_for(url, fenrun)
        assert httpx.get(f"{url}/livez").status_code == 200
        again = top_up(gql, "3.00")
        assert again["data"]["topUpDeposit"]["wallet"] is None

        # A rebuild with the bug still there refuses to switch.
        monkeypatch.setenv("FENRUN_DATABASE_URL", dsn)
        with monkeypatch.context() as patch:
            patch.setattr("api.bootstrap.build_views", poisoned_views)
            refused = CliRunner().invoke(cli, ["projections", "rebuild", "wallet_balances"])
        assert refused.exit_code == 1, refused.output
        assert "refusing to rebuild wallet_balances" in refused.output
        assert f"fails on the event at position {written - 1}" in " ".join(refused.output.split())

        # The fix deployed, the view rebuilt: back, with every top-up in it.
        view.broken = False
        rebuilt = CliRunner().invoke(cli, ["projections", "rebuild", "wallet_balances"])
        assert rebuilt.exit_code == 0, rebuilt.output
        assert "version 2" in rebuilt.output
        current = top_up(gql, "4.00")
        assert current["data"]["topUpDeposit"]["wallet"] == {"deposit": "16.66"}
        assert "views" not in current["extensions"]
        assert wallet(gql, current["extensions"]["position"]).json()["data"]["wallet"] == {
            "deposit": "16.66"
        }
        assert httpx.get(f"{url}/readyz").status_code == 200
