"""`fenrun usage`: the usage tables' monthly partitions (decision 0030).

fenrun usage partitions 2027-01      # create a month's partitions ahead of its reports
fenrun usage prune --keep-from 2026-01   # drop every month before January 2026, whole
"""

from datetime import date
from typing import Annotated

import typer
from rich.console import Console

from application.settings import Settings

usage_cli = typer.Typer(no_args_is_help=True, help="Card usage: monthly partitions.")
console = Console(stderr=True)


def _month(text: str) -> date:
    try:
        year, month = (int(part) for part in text.split("-"))
        return date(year, month, 1)
    except ValueError:
        raise typer.BadParameter("a month is written YYYY-MM") from None


@usage_cli.command("partitions")
def partitions(month: Annotated[str, typer.Argument(help="YYYY-MM")]) -> None:
    """Creates the month's partitions of the usage tables (done on demand by ingestion too)."""
    from api.bootstrap import bootstrap

    fenrun = bootstrap(Settings())
    try:
        fenrun.usage.ensure_partitions({_month(month)})
    finally:
        fenrun.close()
    console.print(f"partitions for {month}: ready")


@usage_cli.command("prune")
def prune(
    keep_from: Annotated[str, typer.Option(help="YYYY-MM: the first month kept")],
) -> None:
    """Drops every month of the usage tables before --keep-from (DROP TABLE per partition)."""
    from api.bootstrap import bootstrap

    fenrun = bootstrap(Settings())
    try:
        dropped = fenrun.usage.drop_before(_month(keep_from))
    finally:
        fenrun.close()
    console.print(f"dropped {dropped} partition(s) before {keep_from}")
