"""`fenrun statements`: generate a cycle's draft statements, and write one's 对账凭证 PDF or
Excel (decision 0027). Finance reviews the drafts through GraphQL (approve/reject/void)."""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from application.settings import Settings

statements_cli = typer.Typer(no_args_is_help=True, help="Settlement statements (对账单).")
CLI_ACTOR = "cli:statements"


@statements_cli.command("generate")
def generate(
    cycle: Annotated[str, typer.Argument(help="2026-11 (month), 2026-W47 (week), 2026-11-30.")],
) -> None:
    """Draft the statements of an ended cycle for every agent with something to state (JSON)."""
    from api.bootstrap import bootstrap
    from application.use_cases.statements import GenerateStatements
    from domain.common import Audit
    from domain.errors import LedgerError

    fenrun = bootstrap(Settings())
    try:
        fenrun.catch_up()
        audit = Audit(CLI_ACTOR, datetime.now(UTC), f"statements of {cycle}", time_given=False)
        try:
            done = fenrun.workflows.submit(GenerateStatements(cycle=cycle, audit=audit))
        except LedgerError as exc:
            raise typer.BadParameter(exc.message, param_hint=exc.field) from None
        fenrun.settle()  # the drafts stand whatever catching up does (logged if it fails)
    finally:
        fenrun.close()
    print(json.dumps({"cycle": done.cycle, "generated": done.generated,
                      "unchanged": done.unchanged, "throughPosition": str(done.through)}))  # fmt: skip


@statements_cli.command("pdf")
def pdf(
    statement_id: Annotated[str, typer.Argument(help="The statement's id.")],
    out: Annotated[Path, typer.Option(help="Where to write the PDF.")],
) -> None:
    """Write one statement's 对账凭证 (as known now) to a PDF file."""
    from api.bootstrap import bootstrap
    from api.statement_pdf import render
    from projections.statement_queries import StatementReads

    fenrun = bootstrap(Settings())
    try:
        pinned = fenrun.read.pin(views=("statements",))
        row = StatementReads(fenrun.read).statement(statement_id, pinned.position)
        if row is None:
            raise typer.BadParameter(f"no statement {statement_id}", param_hint="STATEMENT_ID")
        out.write_bytes(render(row, pinned.position, pinned.as_of))
    finally:
        fenrun.close()
    print(json.dumps({"id": statement_id, "position": str(pinned.position), "file": str(out)}))


@statements_cli.command("xlsx")
def xlsx(
    statement_id: Annotated[str, typer.Argument(help="The statement's id.")],
    out: Annotated[Path, typer.Option(help="Where to write the .xlsx.")],
) -> None:
    """Write one statement (as known now) to Excel: header, lines, and the log position."""
    from api.bootstrap import bootstrap
    from api.exports.statements import write_statement
    from projections.statement_queries import StatementReads

    fenrun = bootstrap(Settings())
    try:
        pinned = fenrun.read.pin(views=("statements",))
        row = StatementReads(fenrun.read).statement(statement_id, pinned.position)
        if row is None:
            raise typer.BadParameter(f"no statement {statement_id}", param_hint="STATEMENT_ID")
        write_statement(row, pinned.position, pinned.as_of, CLI_ACTOR, str(out))
    finally:
        fenrun.close()
    print(json.dumps({"id": statement_id, "position": str(pinned.position), "file": str(out)}))
