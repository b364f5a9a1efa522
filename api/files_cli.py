"""`fenrun import settlements FILE` and `fenrun export WHAT`: carrier files in, Excel out.

    fenrun import settlements 2026-03.xlsx --profile default          # all or nothing
    fenrun import settlements 2026-03.csv --accept-valid --report problems.xlsx
    fenrun export platform-month --as-of 2026-04-01T00:00:00+08:00 --out month.xlsx

The import prints its report as JSON on stdout (the row problems too) and a summary on stderr;
it exits 1 when the file was refused. The CLI is not authenticated (decision 0021): the actor
recorded is --actor, by default cli:<OS user>.
"""

import getpass
import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from application.settings import Settings
from domain.errors import LedgerError

import_cli = typer.Typer(no_args_is_help=True, help="Import carrier files.")
console = Console(stderr=True)


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _time(value: str | None) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    if parsed.utcoffset() is None:
        raise typer.BadParameter("give the time with its UTC offset, e.g. +08:00")
    return parsed


@import_cli.command("settlements")
def import_settlements(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="xlsx, xls or csv")],
    profile: Annotated[str, typer.Option(help="The carrier's column profile.")] = "default",
    accept_valid: Annotated[
        bool, typer.Option("--accept-valid", help="Apply the good rows, report the rest.")
    ] = False,
    report: Annotated[
        Path | None, typer.Option(help="Also write the row report as Excel here.")
    ] = None,
    occurred_at: Annotated[
        str | None, typer.Option(help="When the rows took effect (default: now).")
    ] = None,
    actor: Annotated[str | None, typer.Option(help="Who imports (recorded).")] = None,
) -> None:
    """Import a carrier's settlement file: every row checked, all or nothing (decision 0028)."""
    from api.bootstrap import bootstrap
    from api.exports.reports import write_import_report
    from application.settlement_files import load_profiles
    from application.settlement_import import SettlementImporter
    from domain.common import Audit

    settings = Settings()
    profiles = load_profiles(settings.settlement_profiles_file)
    if profile not in profiles:
        console.print(f"[red]no profile '{profile}'[/red]: {', '.join(sorted(profiles))}")
        raise typer.Exit(2)
    content = file.read_bytes()
    fenrun = bootstrap(settings)
    try:
        when = _time(occurred_at)
        audit = Audit(
            actor or _actor(),
            when or fenrun.clock.now(),
            f"settlement file {file.name}",
            when is not None,
        )
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=console, transient=True,
        ) as bar:  # fmt: skip
            task = bar.add_task(f"checking {file.name}", total=None)

            def progress(phase: str, done: int, total: int | None) -> None:
                bar.update(task, description=f"{phase} {file.name}", completed=done, total=total)

            importer = SettlementImporter(
                fenrun.ledger, profiles[profile], audit, accept_valid, progress
            )
            try:
                done = importer.run(content, file.name)
            except LedgerError as exc:
                console.print(f"[red]{exc.code}[/red]: {exc.message}")
                raise typer.Exit(1) from None
            bar.update(task, description="accruing commissions")
            accrued = fenrun.settle()
        if report is not None:
            write_import_report(done, str(report))
        body = {**asdict(done), "refused": done.refused, "message": done.message()}
        print(json.dumps(body, ensure_ascii=False, default=str))
        colour = "red" if done.status == "REFUSED" else "green"
        console.print(f"[{colour}]{done.status}[/{colour}]: {done.message()}")
        if not accrued:  # the import stands (rule 1); what follows it is finished later
            console.print(
                "[yellow]the rows are recorded, but accruing them did not finish here (logged):"
                " the worker finishes it, or `fenrun worker --once`[/yellow]"
            )
        if done.status == "REFUSED":
            raise typer.Exit(1)
    finally:
        fenrun.close()


def export(
    what: Annotated[
        str,
        typer.Argument(
            help="commissions | platform-month | team-performance | activations | statements"
            " | import-report"
        ),
    ],
    as_of: Annotated[str | None, typer.Option(help="Recorded time (ISO 8601 with offset).")] = None,
    out: Annotated[Path | None, typer.Option(help="The .xlsx to write.")] = None,
    file_hash: Annotated[
        str | None, typer.Option("--hash", help="import-report: the file's sha256.")
    ] = None,
    cycle: Annotated[
        str | None, typer.Option(help="statements: the cycle (2026-11, 2026-W47, 2026-11-30).")
    ] = None,
) -> None:
    """Export to Excel as of a time; the file says which log position it was made at."""
    from api.bootstrap import bootstrap
    from api.exports.reports import EXPORTS, write_export, write_import_report
    from api.exports.statements import valid_cycle, write_cycle
    from application.settlement_import import previous_import, report_of
    from domain.errors import LedgerError

    known = [*EXPORTS, "statements", "import-report"]
    if what not in known:
        console.print(f"[red]unknown export '{what}'[/red]: {', '.join(known)}")
        raise typer.Exit(2)
    if what == "statements":
        try:
            cycle = valid_cycle(cycle)
        except LedgerError as exc:
            console.print(f"[red]--cycle[/red]: {exc.message}")
            raise typer.Exit(2) from None
    target = out or Path(f"{what}-{datetime.now(UTC):%Y%m%dT%H%M%S}.xlsx")
    fenrun = bootstrap(Settings())
    try:
        fenrun.catch_up()
        if what == "import-report":
            found = previous_import(fenrun.ledger, file_hash or "")
            if found is None:
                console.print("[red]no import of that file[/red] (--hash: its sha256)")
                raise typer.Exit(1)
            rows = write_import_report(report_of(found, "RECORDED"), str(target))
        elif what == "statements":
            when = _time(as_of)
            pinned = fenrun.read.pin(when, None, ("statements",))
            rows = write_cycle(
                fenrun.read, pinned.position, cycle or "", when, _actor(), str(target)
            )
        else:
            when = _time(as_of)
            pinned = fenrun.read.pin(when, None, EXPORTS[what].views)
            rows = write_export(what, fenrun.read, pinned.position, when, _actor(), str(target))
        console.print(f"{rows} rows written to {target}")
        print(json.dumps({"file": str(target), "rows": rows}))
    finally:
        fenrun.close()
