"""Statements as Excel (issue 13): one statement (`GET /v1/statements/{id}.xlsx`, `fenrun
statements xlsx`) and a cycle's statements (`GET /v1/exports/statements.xlsx?cycle=`, `fenrun
export statements --cycle`). Read back with calamine: closing = opening + lines to the fen, the
About sheet names the log position, and agents get only their own subtree's statement."""

import io
import json
from datetime import datetime

import httpx
import pytest
from python_calamine import CalamineWorkbook
from typer.testing import CliRunner

from api.cli import app as cli
from tests.e2e.conftest import GraphQLClient, user_token
from tests.e2e.test_statements import DEC, adjust, setup, statements

BUCKETS = ("frozen", "unfreezing", "available", "withdrawing", "debt", "deposit")


def fen(value: float) -> int:
    return round(value * 100)


def about(book: CalamineWorkbook) -> dict:
    return {r[0]: r[1] for r in book.get_sheet_by_name("About").to_python()}


def approved_november(gql: GraphQLClient) -> tuple[dict, dict]:
    setup(gql)
    adjust(gql, "adj-1", "30.00", "INCREASE")
    gql.fenrun.clock.move_to_at_least(datetime.fromisoformat(DEC))
    gql.ok("generateStatements", {"cycle": "2026-11"})
    [a] = statements(gql, "2026-11", "A")
    [b] = statements(gql, "2026-11", "B")
    gql.ok("approveStatement", {"id": a["id"]}, "statement { status }")
    return a, b


def check_statement(book: CalamineWorkbook, statement: dict) -> None:
    header = book.get_sheet_by_name("Statement").to_python()
    fields = {r[0]: r[1] for r in header[1:10]}
    assert (fields["statement"], fields["agent"], fields["cycle"], fields["status"]) == (
        statement["id"], "A", "2026-11", "APPROVED"
    )  # fmt: skip
    assert header[10] == ["bucket", "opening", "movement", "closing"]
    balances = {r[0]: (fen(r[1]), fen(r[3])) for r in header[11:]}
    assert list(balances) == list(BUCKETS)
    lines = book.get_sheet_by_name("Lines").to_python()
    assert lines[0][:5] == ["category", "movement", "late", "count", "amount"]
    assert sorted((r[0], r[1], r[2], fen(r[4])) for r in lines[1:]) == [
        ("Adjustments", "commission_adjusted", False, 3000),
        ("Deposit", "deposit_top_up", False, 10000),
    ]
    for i, bucket in enumerate(BUCKETS):
        opening, closing = balances[bucket]
        assert opening + sum(fen(r[5 + i]) for r in lines[1:]) == closing, bucket
    assert balances["deposit"] == (0, 10000)
    assert balances["available"] == (0, 3000)


def test_one_statement_as_excel_over_http_and_the_cli(
    gql: GraphQLClient, dsn: str, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, _ = approved_november(gql)
    token = user_token(gql.fenrun, "auditor-1", ("auditor",))
    response = httpx.get(f"{gql.base_url}/v1/statements/{a['id']}.xlsx",
                         headers={"authorization": f"Bearer {token}"})  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    book = CalamineWorkbook.from_filelike(io.BytesIO(response.content))
    check_statement(book, a)
    position = int(response.headers["x-fenrun-position"])
    assert about(book)["log position"] == position
    assert about(book)["statement"] == a["id"]

    monkeypatch.setenv("FENRUN_DATABASE_URL", dsn)
    monkeypatch.setenv("FENRUN_DATA_DIR", str(tmp_path / "data"))
    out = tmp_path / "a.xlsx"
    result = CliRunner().invoke(cli, ["statements", "xlsx", a["id"], "--out", str(out)])
    assert result.exit_code == 0, result.output
    done = json.loads(result.stdout)
    book = CalamineWorkbook.from_path(str(out))
    check_statement(book, a)
    assert about(book)["log position"] == int(done["position"]) >= position


def test_agents_download_only_their_subtree(gql: GraphQLClient) -> None:
    a, b = approved_november(gql)
    agent = gql.as_user("a-user", roles=("agent",), agent="A")
    http = httpx.Client(base_url=gql.base_url)
    assert http.get(f"/v1/statements/{a['id']}.xlsx", headers=agent.auth()).status_code == 200
    assert http.get(f"/v1/statements/{b['id']}.xlsx", headers=agent.auth()).status_code == 403
    assert http.get(f"/v1/statements/{a['id']}.xlsx").status_code == 401
    # The cycle export spans every agent: staff only.
    cycle = http.get("/v1/exports/statements.xlsx?cycle=2026-11", headers=agent.auth())
    assert cycle.status_code == 403
    assert http.get("/v1/statements/nope.xlsx", headers=gql.auth()).status_code == 404


def cycle_rows(book: CalamineWorkbook) -> dict[str, dict]:
    [rows] = [book.get_sheet_by_name(n).to_python() for n in book.sheet_names if n != "About"]
    return {r[1]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}


def test_a_cycles_statements_as_one_export(
    gql: GraphQLClient, dsn: str, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = approved_november(gql)
    before = gql.fenrun.read.log_head()
    gql.ok("topUpDeposit", {"agentCode": "B", "amount": "1.00", "occurredAt": DEC})
    http = httpx.Client(base_url=gql.base_url, headers=gql.auth())
    response = http.get("/v1/exports/statements.xlsx", params={"cycle": "2026-11"})
    assert response.status_code == 200, response.text
    book = CalamineWorkbook.from_filelike(io.BytesIO(response.content))
    rows = cycle_rows(book)
    assert set(rows) == {"A", "B"}
    assert (rows["A"]["statement"], rows["A"]["status"]) == (a["id"], "APPROVED")
    assert (rows["B"]["statement"], rows["B"]["status"]) == (b["id"], "DRAFT")
    assert fen(rows["A"]["closing deposit"]) == 10000
    assert fen(rows["A"]["Deposit"]) == 10000
    assert fen(rows["A"]["closing available"]) == 3000
    assert fen(rows["A"]["Adjustments"]) == 3000
    assert fen(rows["B"]["closing deposit"]) == 700
    for row in rows.values():
        moved = fen(row["Deposit"]) + fen(row["Adjustments"])
        opening = sum(fen(row[f"opening {x}"]) for x in BUCKETS)
        assert opening + moved == sum(fen(row[f"closing {x}"]) for x in BUCKETS)
    head = gql.fenrun.read.log_head()
    assert about(book)["log position"] == head > before
    assert about(book)["cycle"] == "2026-11"
    assert http.get("/v1/exports/statements.xlsx").status_code == 422
    typo = http.get("/v1/exports/statements.xlsx", params={"cycle": "2026-13"})
    assert typo.status_code == 422, typo.text

    # As of a time before the statements were generated: none yet, and the earlier position.
    as_of = "2026-11-15T00:00:00+08:00"
    early = http.get("/v1/exports/statements.xlsx", params={"cycle": "2026-11", "asOf": as_of})
    assert early.status_code == 200, early.text
    book = CalamineWorkbook.from_filelike(io.BytesIO(early.content))
    assert cycle_rows(book) == {}
    assert about(book)["log position"] < before

    monkeypatch.setenv("FENRUN_DATABASE_URL", dsn)
    monkeypatch.setenv("FENRUN_DATA_DIR", str(tmp_path / "data"))
    out = tmp_path / "nov.xlsx"
    args = ["export", "statements", "--cycle", "2026-11", "--out", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.splitlines()[-1])["rows"] == 2
    book = CalamineWorkbook.from_path(str(out))
    assert cycle_rows(book).keys() == {"A", "B"}
    assert about(book)["log position"] == head
    refused = CliRunner().invoke(cli, ["export", "statements", "--out", str(out)])
    assert refused.exit_code == 2
    refused = CliRunner().invoke(cli, ["export", "statements", "--cycle", "Nov", "--out", str(out)])
    assert refused.exit_code == 2
    assert "a cycle looks like" in refused.output
