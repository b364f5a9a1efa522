"""`fenrun reconcile`: run a reconciliation from the command line (decision 0032) and print it
as JSON (the same as POST /v1/reconciliations answers); `--dry-run` records nothing;
`--report FILE.xlsx` also writes the recorded run's Excel report."""

import getpass
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from application.settings import Settings

reconcile_cli = typer.Typer(
    no_args_is_help=True, help="Reconciliation: three-way, channel file, carrier receipt."
)
DryRun = Annotated[bool, typer.Option("--dry-run", help="Compute and answer; record nothing.")]
Report = Annotated[Path | None, typer.Option(help="Write the run's Excel report here.")]
Tolerance = Annotated[
    str, typer.Option(help="Amounts this close (yuan) still match: outside files only.")
]
Actor = Annotated[str | None, typer.Option(help="Who runs it (recorded); cli:<OS user>.")]


def _run(
    kind: str, report: Path | None, actor: str | None, tolerance: str = "0", **args: Any
) -> None:
    from api.bootstrap import bootstrap
    from api.exports.reconciliation import write_reconciliation_report
    from api.graphql.reconciliation import reconciler_of, run_reconciliation
    from api.reconciliation_routes import report_json
    from application.reconciliation import find_run
    from domain.common import Audit
    from domain.errors import LedgerError
    from domain.money import parse_money
    from projections.reconciliation_reads import VIEWS

    actor = actor or f"cli:{getpass.getuser()}"
    fenrun = bootstrap(Settings())
    try:
        fenrun.catch_up()
        pinned = fenrun.read.pin(views=VIEWS)
        audit = Audit(actor, datetime.now(UTC), f"reconciliation {kind}", time_given=False)
        try:
            done = run_reconciliation(
                fenrun,
                reconciler_of(fenrun, audit, parse_money(tolerance, field="tolerance")),
                kind,
                pinned.position,
                run_id=None,
                **args,
            )
        except LedgerError as exc:
            raise typer.BadParameter(exc.message, param_hint=exc.field) from None
        if report is not None and done.recorded_position is not None:
            found = find_run(fenrun.ledger, done.run_id, done.recorded_position)
            assert found is not None
            write_reconciliation_report(found, done.recorded_position, actor, str(report))
    finally:
        fenrun.close()
    print(json.dumps(report_json(done), ensure_ascii=False))


@reconcile_cli.command("three-way")
def three_way(
    cycle: Annotated[str, typer.Argument(help="The statement cycle: 2026-11.")],
    dry_run: DryRun = False,
    report: Report = None,
    actor: Actor = None,
) -> None:
    """The movement ledger, the cycle's approved statements and the paid payouts."""
    _run("THREE_WAY", report, actor, cycle=cycle, period=None, amount_fen=None, file=None,
         dry_run=dry_run)  # fmt: skip


@reconcile_cli.command("channel")
def channel(
    file: Annotated[Path, typer.Argument(help="The channel's statement (csv, xlsx).")],
    cycle: Annotated[str | None, typer.Option(help="Only payouts last changed in it.")] = None,
    tolerance: Tolerance = "0",
    dry_run: DryRun = False,
    report: Report = None,
    actor: Actor = None,
) -> None:
    """The payment channel's statement file against the payouts, by out-request id."""
    _run("CHANNEL_STATEMENT", report, actor, tolerance, cycle=cycle, period=None, amount_fen=None,
         file=(file.read_bytes(), file.name), dry_run=dry_run)  # fmt: skip


@reconcile_cli.command("carrier-receipt")
def carrier_receipt(
    period: Annotated[str, typer.Argument(help="The settlement period: 2026-11.")],
    amount: Annotated[str, typer.Option(help="What the carrier paid, in yuan (e.g. 1234.50).")],
    tolerance: Tolerance = "0",
    dry_run: DryRun = False,
    report: Report = None,
    actor: Actor = None,
) -> None:
    """What the carrier paid against the settlement files recorded for the period."""
    from domain.money import parse_money

    _run("CARRIER_RECEIPT", report, actor, tolerance, cycle=None, period=period,
         amount_fen=parse_money(amount, field="amount"), file=None,
         dry_run=dry_run)  # fmt: skip
