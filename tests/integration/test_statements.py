"""Statements and the movement ledger on real PostgreSQL: statements add up to the fen, the
movement ledger's running balances equal the wallet, an approved statement stays fixed when a
late item arrives (it lands on a supplementary statement or the next cycle), adjustments through
maker-checker."""

from datetime import UTC, datetime

import pytest

from domain.common import Audit
from domain.errors import InvalidState, SameApprover, SelfApproval
from domain.movements import BUCKETS, StatementLine, closing_of
from projections.statement_queries import StatementReads

NOV = datetime(2026, 11, 10, tzinfo=UTC)
DEC = datetime(2026, 12, 10, tzinfo=UTC)
JAN = datetime(2027, 1, 10, tzinfo=UTC)


def agent(fenrun, code: str = "A") -> None:
    fenrun.ledger.register_agent(code, code, None, True, Audit("admin", NOV))


def top_up(fenrun, amount: int, at: datetime, code: str = "A") -> None:
    fenrun.ledger.top_up_deposit(code, amount, Audit("fin", at))


def statements(fenrun, cycle: str | None = None) -> list[dict]:
    fenrun.catch_up()
    reads = StatementReads(fenrun.read)
    at = fenrun.read.caught_up()
    return reads.statements(at, None, cycle, None, 100, None).rows


def generate(fenrun, cycle: str, clock, now: datetime):
    clock.set(now)
    fenrun.catch_up()
    done = fenrun.ledger.generate_statements(cycle, Audit("fin", now))
    fenrun.catch_up()
    return done


def lines_of(row: dict) -> list[StatementLine]:
    return [StatementLine.of(r) for r in row["lines"]]


def test_a_statement_adds_up_and_stays_fixed_after_approval(fenrun, clock) -> None:
    clock.set(NOV)
    agent(fenrun)
    top_up(fenrun, 10_000, NOV)
    top_up(fenrun, 2_500, NOV)
    done = generate(fenrun, "2026-11", clock, DEC)
    assert done.generated == 1
    [nov] = statements(fenrun, "2026-11")
    assert nov["opening"] == dict.fromkeys(BUCKETS, 0)
    assert nov["closing"]["deposit"] == 12_500
    assert closing_of(nov["opening"], lines_of(nov)) == nov["closing"]
    fenrun.ledger.decide_statement(nov["id"], "APPROVE", Audit("fin-2", DEC))
    # A late item: effective in November, recorded after November was approved.
    top_up(fenrun, 700, datetime(2026, 11, 20, tzinfo=UTC))
    top_up(fenrun, 300, DEC)
    fenrun.catch_up()
    [again] = statements(fenrun, "2026-11")
    assert again["closing"] == nov["closing"]
    assert again["lines"] == nov["lines"]
    assert again["status"] == "APPROVED"
    with pytest.raises(InvalidState, match="never changes"):
        fenrun.ledger.decide_statement(nov["id"], "VOID", Audit("fin", DEC, "oops"))
    # December's statement opens at November's closing and carries the late item, marked late.
    generate(fenrun, "2026-12", clock, JAN)
    [dec] = statements(fenrun, "2026-12")
    assert dec["opening"] == nov["closing"]
    assert dec["closing"]["deposit"] == 13_500 == fenrun.ledger.wallet("A").balances["deposit"]
    late = [line for line in lines_of(dec) if line.late]
    assert [(line.movement, line.amount_fen) for line in late] == [("deposit_top_up", 700)]
    assert closing_of(dec["opening"], lines_of(dec)) == dec["closing"]


def test_a_late_item_can_go_on_a_supplementary_statement(fenrun, clock) -> None:
    clock.set(NOV)
    agent(fenrun)
    top_up(fenrun, 10_000, NOV)
    generate(fenrun, "2026-11", clock, DEC)
    [nov] = statements(fenrun, "2026-11")
    fenrun.ledger.decide_statement(nov["id"], "APPROVE", Audit("fin", DEC))
    assert generate(fenrun, "2026-11", clock, DEC).generated == 0  # nothing late yet
    top_up(fenrun, 700, datetime(2026, 11, 20, tzinfo=UTC))
    assert generate(fenrun, "2026-11", clock, DEC).generated == 1
    supplementary = [s for s in statements(fenrun, "2026-11") if s["supplementary"]]
    [supp] = supplementary
    assert supp["opening"] == nov["closing"]
    assert supp["closing"]["deposit"] == 10_700
    assert supp["previous_id"] == nov["id"]


def test_a_stale_draft_is_not_approved_and_regenerating_supersedes_it(fenrun, clock) -> None:
    clock.set(NOV)
    agent(fenrun)
    top_up(fenrun, 100, NOV)
    generate(fenrun, "2026-11", clock, DEC)
    top_up(fenrun, 50, datetime(2026, 11, 11, tzinfo=UTC))  # before review: the draft is stale
    generate(fenrun, "2026-11", clock, DEC)
    rows = {s["sequence"]: s for s in statements(fenrun, "2026-11")}
    assert rows[1]["status"] == "VOIDED"
    assert rows[2]["status"] == "DRAFT"
    assert rows[2]["closing"]["deposit"] == 150
    with pytest.raises(InvalidState):
        fenrun.ledger.decide_statement(rows[1]["id"], "APPROVE", Audit("fin", DEC))
    fenrun.ledger.decide_statement(rows[2]["id"], "REJECT", Audit("fin", DEC, "check it"))
    assert generate(fenrun, "2026-11", clock, DEC).generated == 1


def test_movement_ledger_running_balances_equal_the_wallet(fenrun, clock) -> None:
    clock.set(NOV)
    agent(fenrun)
    top_up(fenrun, 1_000, NOV)
    fenrun.ledger.propose_adjustment("A", "adj-1", 500, True, Audit("ops", NOV, "missed sale"))
    fenrun.ledger.decide_adjustment("A", "adj-1", True, Audit("fin", NOV))
    fenrun.ledger.propose_adjustment("A", "adj-2", 800, False, Audit("ops", NOV, "overpaid"))
    fenrun.ledger.decide_adjustment("A", "adj-2", True, Audit("fin", NOV))
    fenrun.catch_up()
    rows = StatementReads(fenrun.read).movements("A", fenrun.read.caught_up(), None, None, 50, None)
    kinds = [(r["movement"], r["amount_fen"]) for r in rows.rows]
    assert kinds == [("deposit_top_up", 1000), ("commission_adjusted", 500),
                     ("commission_adjusted", -800)]  # fmt: skip
    last = rows.rows[-1]
    assert {b: last[b] for b in BUCKETS} == fenrun.ledger.wallet("A").balances
    assert last["available"] == 0
    assert last["debt"] == 300
    running = dict.fromkeys(BUCKETS, 0)
    for r in rows.rows:
        for b in BUCKETS:
            running[b] += r[f"d_{b}"]
            assert r[b] == running[b]


def test_adjustments_go_through_maker_checker(fenrun, clock) -> None:
    clock.set(NOV)
    agent(fenrun)
    ledger = fenrun.ledger
    ledger.propose_adjustment("A", "adj-1", 2_000_000, True, Audit("ops", NOV, "bonus"))
    with pytest.raises(SelfApproval):
        ledger.decide_adjustment("A", "adj-1", True, Audit("ops", NOV))
    with pytest.raises(SelfApproval):  # the beneficiary's own user
        ledger.decide_adjustment("A", "adj-1", True, Audit("a-user", NOV, agent_code="A"))
    first = ledger.decide_adjustment("A", "adj-1", True, Audit("fin-1", NOV))
    assert first.status == "AWAITING_SECOND_APPROVAL"  # 20,000.00 needs two approvers
    with pytest.raises(SameApprover):
        ledger.decide_adjustment("A", "adj-1", True, Audit("fin-1", NOV))
    assert ledger.wallet("A").balances["available"] == 0
    second = ledger.decide_adjustment("A", "adj-1", True, Audit("fin-2", NOV))
    assert second.status == "APPROVED"
    assert ledger.wallet("A").balances["available"] == 2_000_000
    with pytest.raises(InvalidState):
        ledger.decide_adjustment("A", "adj-1", True, Audit("fin-3", NOV))


def test_the_statement_job_drafts_the_last_ended_cycle_once(fenrun, clock) -> None:
    from api.worker import generate_statements

    clock.set(NOV)
    agent(fenrun)
    top_up(fenrun, 100, NOV)
    clock.set(DEC)
    fenrun.catch_up()
    assert generate_statements(fenrun, DEC).generated == 1
    assert generate_statements(fenrun, DEC).generated == 0  # the draft says the same
    [nov] = statements(fenrun, "2026-11")
    assert nov["generated_by"] == "system:statement-job"


def test_the_cli_generates_and_writes_the_pdf(fenrun, clock, dsn, tmp_path, monkeypatch) -> None:
    import json

    from pypdf import PdfReader
    from typer.testing import CliRunner

    from api.cli import app as cli

    clock.set(NOV)
    agent(fenrun)
    top_up(fenrun, 12_345, NOV)
    fenrun.catch_up()
    monkeypatch.setenv("FENRUN_DATABASE_URL", dsn)
    monkeypatch.setenv("FENRUN_DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(cli, ["statements", "generate", "2026-11"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.strip().splitlines()[-1])["generated"] == 1
    [nov] = statements(fenrun, "2026-11")
    out = tmp_path / "nov.pdf"
    result = CliRunner().invoke(cli, ["statements", "pdf", nov["id"], "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = PdfReader(out).pages[0].extract_text()
    assert "佣金结算对账凭证" in text
    assert "123.45" in text
    refused = CliRunner().invoke(cli, ["statements", "generate", "2031-01"])
    assert refused.exit_code != 0


def test_no_statements_from_a_stopped_movement_ledger(fenrun, clock, dsn) -> None:
    import psycopg

    clock.set(NOV)
    agent(fenrun)
    top_up(fenrun, 100, NOV)
    fenrun.catch_up()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "UPDATE projection_tracking SET last_error = 'broken', failed_position = position + 1"
            " WHERE name LIKE 'wallet_movements@%'"
        )
    clock.set(DEC)
    with pytest.raises(InvalidState, match="movement ledger"):
        fenrun.ledger.generate_statements("2026-11", Audit("fin", DEC))


def test_markup_in_an_actor_name_is_printed_not_obeyed(fenrun, clock) -> None:
    """reportlab reads Paragraph text as markup: an actor named like an <img> tag made the PDF
    fail (or fetch the URL); it is printed as written."""
    from io import BytesIO

    from pypdf import PdfReader

    from api.statement_pdf import render

    hostile = '<img src="file:///etc/passwd"/><a href="javascript:x">&'
    clock.set(NOV)
    agent(fenrun)
    top_up(fenrun, 100, NOV)
    clock.set(DEC)
    fenrun.catch_up()
    fenrun.ledger.generate_statements("2026-11", Audit(hostile, DEC))
    [nov] = statements(fenrun, "2026-11")
    assert nov["generated_by"] == hostile
    pdf = render(nov, fenrun.read.caught_up(), None)
    text = PdfReader(BytesIO(pdf)).pages[0].extract_text()
    assert '<img src="file:///etc/passwd"/>' in text.replace("\n", "")
    assert b"/URI" not in pdf
    assert b"/Link" not in pdf
