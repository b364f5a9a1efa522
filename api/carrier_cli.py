"""`fenrun carriers ...`: the cards polled at carriers that do not push, and a poll now."""

import json
import sys
from datetime import UTC, datetime
from typing import Annotated

import typer

carriers_cli = typer.Typer(no_args_is_help=True, help="Carriers: poll lists and polls.")


@carriers_cli.command("watch")
def watch(
    carrier: Annotated[str, typer.Argument(help="CMCC, CUCC or CTCC")],
    iccids: Annotated[
        list[str] | None, typer.Argument(help="ICCIDs; none: read from stdin")
    ] = None,
) -> None:
    """Adds cards to a carrier's poll list (one ICCID a line on stdin, e.g. the carrier's export)."""
    from api.bootstrap import bootstrap
    from api.carrier_polls import PgPollList
    from application.carriers import Carrier
    from application.settings import Settings
    from domain.values import CODE

    try:
        known = Carrier(carrier.upper())
    except ValueError:
        raise typer.BadParameter(f"one of {', '.join(c.value for c in Carrier)}") from None
    given = iccids or [line.strip() for line in sys.stdin if line.strip()]
    for iccid in given:
        CODE.check(iccid, "iccid")
    fenrun = bootstrap(Settings())
    try:
        added = PgPollList(fenrun.pool).add(known, given)
    finally:
        fenrun.close()
    print(json.dumps({"carrier": known.value, "added": added, "given": len(given)}))


@carriers_cli.command("poll")
def poll() -> None:
    """Polls now what the worker's carrier_poll job polls (FENRUN_CARRIER_POLL)."""
    from api.bootstrap import bootstrap
    from api.carrier_polls import poll_now
    from application.settings import Settings

    fenrun = bootstrap(Settings())
    try:
        print(json.dumps(poll_now(fenrun, datetime.now(UTC))))
    finally:
        fenrun.close()
