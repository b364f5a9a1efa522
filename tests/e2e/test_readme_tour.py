"""The README's tour, run as written (issue 12: "the README tour runnable end to end as written").

The GraphQL blocks of "Five minutes with seed 004" are taken from README.md in order and sent to a
live server, on a fresh database, at today's real date (the server's clock is the system's), as
the user the README's own commands create (`fenrun users add`, `fenrun token`, run through the
CLI). Only the `<...>` placeholders are filled in, from earlier responses. Every block must answer
without errors or userErrors, and the figures the text states must be what the server answers.
The CLI section's safe commands then run against the same database.
"""

import json
import re
import shlex
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli
from api.graphql.context import MIN_POSITION_HEADER
from tests.e2e.conftest import running

README = Path(__file__).resolve().parents[2] / "README.md"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def section(title: str, until: str) -> str:
    text = README.read_text()
    start = text.index(title)
    return text[start : text.index(until, start)]


def tour() -> str:
    return section("## Five minutes with seed 004", "## The command line")


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


def commands(text: str) -> list[list[str]]:
    """The `fenrun` commands of a shell block, without the path and the comments."""
    found = []
    for line in blocks(text, "sh")[0].splitlines():
        words = shlex.split(line, comments=True)
        if words and words[0].endswith("/fenrun"):
            found.append(words[1:])
    return found


def user_errors(value: Any) -> list[Any]:
    """Every userError anywhere in a response's data."""
    if isinstance(value, dict):
        own = list(value.get("userErrors") or [])
        return own + [e for k, v in value.items() if k != "userErrors" for e in user_errors(v)]
    if isinstance(value, list):
        return [e for v in value for e in user_errors(v)]
    return []


class Reader:
    """The README's reader: pastes a block, fills in what it was told to from earlier answers."""

    def __init__(self, url: str, token: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=60)
        self.headers = {"Authorization": f"Bearer {token}"}
        self.fill: dict[str, Any] = {}
        self.written = 0  # the newest position a mutation answered

    def paste(self, block: str) -> dict[str, Any]:
        text = block
        while "<id>" in text:
            text = text.replace("<id>", self.fill["ids"].pop(0), 1)
        for name, value in self.fill.items():
            if name.startswith("<"):
                text = text.replace(name, str(value))
        assert "<" not in text, f"a placeholder the tour never explains:\n{text}"
        return self.send(text)

    def send(self, text: str) -> dict[str, Any]:
        # Pasted at machine speed, not a person's: reads ask for the last write's position, as
        # the README tells programs to (decision 0036).
        at_least = {MIN_POSITION_HEADER: str(self.written)} if self.written else {}
        response = self.http.post(
            "/graphql", json={"query": text}, headers={**self.headers, **at_least}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        if text.lstrip().startswith("mutation"):
            self.written = max(self.written, int(body["extensions"]["position"]))
        assert "errors" not in body, body["errors"]
        assert user_errors(body["data"]) == [], user_errors(body["data"])
        return body


@pytest.fixture
def cli_env(fenrun, dsn: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """The CLI on the server's database and data folder (its signing key), as in a second
    terminal beside `make run`."""
    monkeypatch.setenv("FENRUN_DATABASE_URL", dsn)
    monkeypatch.setenv("FENRUN_DATA_DIR", str(fenrun.settings.data_dir))
    return CliRunner()


def run(runner: CliRunner, args: list[str]) -> str:
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, (args, result.output)
    return result.stdout


def test_the_readme_tour_runs_as_written(
    fenrun, cli_env: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = tour()
    setup = commands(text)
    assert [c[0] for c in setup] == ["users", "token"]
    run(cli_env, setup[0])
    token = run(cli_env, setup[1]).strip()
    assert token.startswith("eyJ")

    with running(create_app(fenrun=fenrun)) as url:
        reader = Reader(url, token)
        tour_blocks = blocks(text, "graphql")
        assert len(tour_blocks) == 14
        answers = [check(reader, block) for block in tour_blocks]
        assert all(answers)

        # Step 1's aside: a retail price above twice the cost is refused, nothing changes.
        refused = reader.http.post(
            "/graphql",
            json={
                "query": 'mutation { setRetailPrice(input: {agentCode: "A", packageCode: "TC-50",'
                ' retailPrice: "130"}) { userErrors { code } } }'
            },
            headers=reader.headers,
        ).json()
        assert refused["data"]["setRetailPrice"]["userErrors"] == [{"code": "PRICE_ABOVE_LIMIT"}]

        monkeypatch.chdir(tmp_path)
        the_command_line(cli_env, reader.fill["<step 3's extensions.asOf>"], tmp_path)


def wallet(reader: Reader) -> dict[str, str]:
    body = reader.send('{ wallet(agentCode: "A") { frozen available debt deposit } }')
    return body["data"]["wallet"]


def check(reader: Reader, block: str) -> bool:
    """Pastes one block and checks what the README says of its answer."""
    body = reader.paste(block)
    data = body["data"]
    if "registerAgent" in block and '"B"' not in block:  # step 1
        assert data["r"]["retailPrice"] == "90.00"
    elif "platformTotals" in block:  # step 3's read
        assert data["wallet"]["frozen"] == "33.00"
        amounts = sorted(e["node"]["amount"] for e in data["commissions"]["edges"])
        assert amounts == ["3.00", "30.00"]
        assert data["platformTotals"]["net"] == "57.00"
        as_of = body["extensions"]["asOf"]
        local = datetime.fromisoformat(as_of).astimezone(SHANGHAI)
        reader.fill.update(
            {
                "<step 3's extensions.asOf>": as_of,
                "<this month>": f"{local:%Y-%m}",
                "<this year>": local.year,
            }
        )
    elif "topUpDeposit" in block:  # step 4
        assert data["o"]["paidAmount"] == "60.00"
        assert wallet(reader) == {
            "frozen": "36.00",
            "available": "0.00",
            "debt": "0.00",
            "deposit": "40.00",
        }
    elif "releaseDueCommissions" in block:  # step 5
        requests = data["releaseDueCommissions"]["requests"]
        assert sorted(r["requestedAmount"] for r in requests) == ["3.00", "3.00", "30.00"]
        assert block.count("<id>") == 0
        reader.fill["ids"] = [r["id"] for r in requests]
    elif "approveUnfreezeRequests" in block:
        statuses = [r["status"] for r in data["approveUnfreezeRequests"]["requests"]]
        assert statuses == ["APPROVED"] * 3
        assert reader.fill["ids"] == []  # every id it answered was pasted
        assert wallet(reader)["available"] == "36.00"
    elif "refundOrder" in block:
        assert data["refundOrder"]["refundedAmount"] == "90.00"
    elif "before: wallet" in block:  # step 6's read
        assert data["now"] == {"available": "3.00", "debt": "0.00"}
        assert data["before"] == {"frozen": "33.00", "available": "0.00"}
        assert data["replay"]["state"]["balances"]["frozen"] == "33.00"
    elif "platformMonth" in block:  # step 7
        month = data["platformMonth"]
        assert (month["income"], month["refunded"]) == ("150.00", "90.00")
        assert month["net"] == "57.00"
        mine = data["teamPerformance"]
        assert (mine["personalAmount"], mine["personalOrders"]) == ("60.00", 1)
    elif "MULTI_LEVEL" in block and "registerAgent" in block:  # step 8: what it corrects
        assert data["o"]["paidAmount"] == "100.00"
        assert sorted(line(reader, "A", "O-3")) == [("10.00", 1), ("10.00", 1)]
    elif "simulatePlan" in block:
        simulation = data["simulatePlan"]["simulation"]
        agents = {a["agentCode"]: a for a in simulation["agents"]}
        assert agents["A"]["difference"] == "2.00"
        assert simulation["difference"] == "2.00"
    elif "applyPlanCorrection" in block:
        payload = data["applyPlanCorrection"]
        assert payload["version"] == 2
        assert payload["preview"]["difference"] == "2.00"
    elif 'orderId: "O-3"' in block:  # step 8's last read
        lines = sorted((e["node"]["amount"], e["node"]["ruleVersion"]) for e in edges(data))
        assert lines == [("10.00", 1), ("10.00", 1), ("2.00", 2)]
    return True


def edges(data: dict[str, Any]) -> list[dict[str, Any]]:
    return data["commissions"]["edges"]


def line(reader: Reader, agent: str, order: str) -> list[tuple[str, int]]:
    body = reader.send(
        f'{{ commissions(agentCode: "{agent}", orderId: "{order}")'
        " { edges { node { amount ruleVersion } } } }"
    )
    return [(e["node"]["amount"], e["node"]["ruleVersion"]) for e in edges(body["data"])]


def the_command_line(runner: CliRunner, as_of: str, folder: Path) -> None:
    """The README's command-line section: the commands a reader may run safely beside the
    server (serve, worker, migrate, db, rebuild and corrections are left out)."""
    listed = commands(section("## The command line", "## Who may do what"))

    def find(*start: str) -> list[str]:
        return next(c for c in listed if c[: len(start)] == list(start))

    user = find("users", "add", "A")
    assert user == ["users", "add", "A", "--role", "agent", "--agent", "A"]
    run(runner, user)
    assert run(runner, find("token", "A")).strip().startswith("eyJ")

    now = json.loads(run(runner, find("replay", "wallet", "A")))
    assert now["state"]["balances"]["available"] == "3.00"
    at = [as_of if word.startswith("<") else word for word in find("replay", "wallet", "A", "--at")]
    then = json.loads(run(runner, at))
    assert then["state"]["balances"]["frozen"] == "33.00"

    run(runner, find("verify"))
    run(runner, find("projections", "status"))
    run(runner, find("audit", "head"))
    run(runner, find("jobs", "release-due"))

    # `plans simulate` with step 8's rules as new.json (it writes nothing): the correction is
    # recorded, so nothing is left to change.
    (folder / "new.json").write_text(
        '[{"code": "ml", "kind": "MULTI_LEVEL", "levels": ["12%", "5%"], "holdDays": 0}]'
    )
    simulated = json.loads(run(runner, find("plans", "simulate")))
    assert (simulated["plan"], simulated["sales"]) == ("ml", 3)
    assert simulated["recorded"] == simulated["simulated"]
    assert simulated["agents"] == []
