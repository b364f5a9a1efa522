"""`fenrun audit`: the event log's hash chain, for auditors (decision 0017, docs/audit.md)."""

import json
from typing import Annotated

import typer
from rich.console import Console

from application.settings import Settings

audit_cli = typer.Typer(no_args_is_help=True, help="Tamper evidence: the event log's hash chain.")
console = Console(stderr=True)


@audit_cli.command("head")
def audit_head() -> None:
    """Print the log's head position and hash (JSON): notarize them somewhere else."""
    from api.bootstrap import bootstrap
    from projections.chain import chain_head

    fenrun = bootstrap(Settings())
    try:
        print(json.dumps(chain_head(fenrun.pool).as_json()))
    finally:
        fenrun.close()


@audit_cli.command("verify-chain")
def verify_chain(
    notarized: Annotated[
        str | None,
        typer.Option(help="POSITION:HASH from an earlier `fenrun audit head`, kept elsewhere."),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=100_000)] = 5000,
) -> None:
    """Recompute the hash chain over the whole log and name the first position that does not
    match (JSON). Exit code 1 when one does."""
    from rich.progress import Progress

    from api.bootstrap import bootstrap
    from projections.chain import ChainVerifier, parse_anchor

    try:
        anchor = parse_anchor(notarized) if notarized else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--notarized") from None
    fenrun = bootstrap(Settings())
    try:
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("verifying the chain", total=None)
            report = ChainVerifier(fenrun.pool, batch_size).verify(
                anchor=anchor,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    finally:
        fenrun.close()
    print(json.dumps(report.as_json(), indent=2))
    if report.first_break is not None:
        found = report.first_break
        console.print(f"[red]chain broken at position {found.position} ({found.problem})[/red]")
        raise typer.Exit(1)
    console.print(f"{report.checked} event(s) match the chain up to {report.head.position}")
