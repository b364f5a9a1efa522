"""The `fenrun` command: serve, migrate, worker, jobs, replay."""

import json
import time
from datetime import UTC, datetime
from typing import Annotated

import structlog
import typer
from rich.console import Console

from application.settings import Settings

app = typer.Typer(no_args_is_help=True, help="Fenrun — event-sourced commission ledger (分润).")
jobs = typer.Typer(no_args_is_help=True, help="Scheduled jobs.")
app.add_typer(jobs, name="jobs")
projections_cli = typer.Typer(no_args_is_help=True, help="Read models: status and rebuilds.")
app.add_typer(projections_cli, name="projections")
console = Console(stderr=True)
log = structlog.get_logger(__name__)


def _when(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise typer.BadParameter("give a time with a UTC offset, e.g. 2026-01-31T00:00:00+08:00")
    return parsed


@app.command()
def serve(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Serve GraphQL at http://HOST:PORT/graphql (embedded PostgreSQL unless a URL is set)."""
    import uvicorn

    from api.app import create_app

    settings = Settings()
    console.print(
        f"Fenrun: GraphQL at http://{host or settings.host}:{port or settings.port}/graphql"
    )
    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=port or settings.port,
        log_level="info",
    )


@app.command()
def migrate() -> None:
    """Apply database migrations (also done by serve)."""
    from api.bootstrap import bootstrap

    fenrun = bootstrap(Settings())
    fenrun.close()
    console.print("migrations applied")


@app.command()
def worker(
    once: Annotated[bool, typer.Option(help="Catch up once and exit.")] = False,
) -> None:
    """Run the commission policy, the level policy and the projections until stopped."""
    from api.bootstrap import bootstrap

    fenrun = bootstrap(Settings())
    try:
        while True:
            done = fenrun.catch_up()
            if done:
                log.info("worker.caught_up", events=done, position=fenrun.read.caught_up())
            if once:
                return
            time.sleep(fenrun.settings.poll_interval_seconds)
    except KeyboardInterrupt:
        pass
    finally:
        fenrun.close()


@jobs.command("release-due")
def release_due(
    now: Annotated[str | None, typer.Option(help="Business time (ISO 8601 with offset).")] = None,
    actor: Annotated[str, typer.Option()] = "system:release-job",
) -> None:
    """Turn frozen commissions whose hold has elapsed into unfreeze requests."""
    from api.bootstrap import bootstrap
    from domain.common import Audit

    fenrun = bootstrap(Settings())
    try:
        fenrun.catch_up()
        result = fenrun.ledger.release_due_commissions(
            Audit(actor, _when(now), "hold period elapsed", now is not None)
        )
        fenrun.catch_up()
        console.print(f"{len(result['requestIds'])} unfreeze request(s) created")
        print(json.dumps(result))
    finally:
        fenrun.close()


@app.command()
def replay(
    kind: Annotated[str, typer.Argument(help="agent | card | order | wallet | package | plan")],
    code: str,
    at: Annotated[str | None, typer.Option(help="Recorded time (ISO 8601 with offset).")] = None,
) -> None:
    """Print an aggregate rebuilt from its events recorded up to --at."""
    from api.bootstrap import bootstrap
    from domain.common import aggregate_id

    if kind not in {"agent", "card", "order", "wallet", "package", "plan"}:
        raise typer.BadParameter(f"unknown kind '{kind}'")
    fenrun = bootstrap(Settings())
    try:
        position = fenrun.read.position_at(_when(at)) if at else fenrun.read.log_head()
        state = fenrun.ledger.replay(aggregate_id(kind, code), position)
        if state is None:
            console.print(f"no {kind} '{code}' as of position {position}")
            raise typer.Exit(1)
        print(
            json.dumps(
                {"kind": kind, "code": code, "position": position, **state},
                indent=2,
                ensure_ascii=False,
            )
        )
    finally:
        fenrun.close()


@projections_cli.command("status")
def projections_status() -> None:
    """Each view's version, position, lag (events and seconds) and last error."""
    from api.bootstrap import bootstrap
    from projections.rebuild import describe, status

    fenrun = bootstrap(Settings())
    try:
        for row in status(fenrun.pool):
            print(describe(row))
    finally:
        fenrun.close()


@projections_cli.command("rebuild")
def projections_rebuild(
    name: Annotated[str, typer.Argument(help="The view to rebuild (see `projections status`).")],
) -> None:
    """Build a new version of a view beside the live one, then switch readers to it."""
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    from api.bootstrap import bootstrap, build_views
    from projections.rebuild import rebuild

    fenrun = bootstrap(Settings())
    views = {v.name: v for v in build_views(fenrun.settings.zone)}
    if name not in views:
        fenrun.close()
        raise typer.BadParameter(f"unknown view '{name}'; one of {', '.join(views)}")
    try:
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rate]:.0f} events/s"),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=console) as bar:
            task = bar.add_task(f"rebuilding {name}", total=None, rate=0.0)
            version = rebuild(
                fenrun.pool,
                fenrun.ledger.mapper.to_domain_event,
                views[name],
                progress=lambda p: bar.update(
                    task, completed=p.position, total=p.head, rate=p.events_per_second
                ),
            )
        console.print(f"{name} is now served from version {version}")
    finally:
        fenrun.close()


@app.command("verify")
def verify_command(
    samples: Annotated[int, typer.Option(help="How many random past positions to check.")] = 20,
    seed: Annotated[int | None, typer.Option(help="Seed for the sample of positions.")] = None,
) -> None:
    """Check every read model, as of random past positions, against a replay of the events."""
    from rich.progress import Progress

    from api.bootstrap import bootstrap
    from projections.verify import verify

    fenrun = bootstrap(Settings())
    try:
        fenrun.catch_up()
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("verifying", total=None)
            found = verify(
                fenrun.read,
                fenrun.ledger.mapper.to_domain_event,
                fenrun.settings.zone,
                samples,
                seed,
                lambda done, total: bar.update(task, completed=done, total=total),
            )
    finally:
        fenrun.close()
    for line in found:
        print(line)
    if found:
        console.print(f"[red]{len(found)} difference(s) between read models and replay[/red]")
        raise typer.Exit(1)
    console.print(f"read models equal replay at {samples} sampled position(s) and the head")


def main() -> None:
    app()
