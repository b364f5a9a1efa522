"""The `fenrun` command: serve, migrate, worker, jobs, replay, verify, projections, plans, db."""

import json
import signal
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import structlog
import typer
from pydantic import ValidationError
from rich.console import Console

from api.audit_cli import audit_cli
from api.carrier_cli import carriers_cli
from api.files_cli import export, import_cli
from api.identity_cli import keys_cli, token, users_cli
from api.observability.logs import configure_logging
from api.reconcile_cli import reconcile_cli
from api.statements_cli import statements_cli
from api.usage_cli import usage_cli
from application.settings import Settings

app = typer.Typer(no_args_is_help=True, help="Fenrun — event-sourced commission ledger (分润).")
jobs = typer.Typer(no_args_is_help=True, help="Scheduled jobs.")
app.add_typer(jobs, name="jobs")
projections_cli = typer.Typer(no_args_is_help=True, help="Read models: status and rebuilds.")
app.add_typer(projections_cli, name="projections")
plans_cli = typer.Typer(no_args_is_help=True, help="Commission plans: simulate and correct.")
app.add_typer(plans_cli, name="plans")
app.add_typer(audit_cli, name="audit")
app.add_typer(users_cli, name="users")
app.add_typer(keys_cli, name="keys")
app.add_typer(statements_cli, name="statements")
app.add_typer(reconcile_cli, name="reconcile")
app.add_typer(carriers_cli, name="carriers")
app.add_typer(usage_cli, name="usage")
app.command()(token)
app.add_typer(import_cli, name="import")
app.command()(export)
db_cli = typer.Typer(no_args_is_help=True, help="The embedded PostgreSQL server.")
app.add_typer(db_cli, name="db")
console = Console(stderr=True)
log = structlog.get_logger(__name__)


@app.callback()
def _configure() -> None:
    """Logs go to stderr: stdout carries the commands' JSON, for pipes and scripts."""
    try:
        settings = Settings()
    except ValidationError as exc:
        console.print(f"[red]invalid FENRUN_ settings[/red]\n{exc}")
        raise typer.Exit(2) from None
    configure_logging(settings.log_format, settings.log_level)
    if "data_dir" not in settings.model_fields_set and Path(".fenrun/pgdata").is_dir():
        # Before the per-user default, the data folder was .fenrun in the current folder.
        log.warning(
            "data_dir.moved",
            found=str(Path(".fenrun").resolve()),
            using=str(settings.data_dir),
            hint="set FENRUN_DATA_DIR=.fenrun to keep using the old one",
        )


def _when(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"'{value}' is not an ISO 8601 time") from None
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

    given = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    settings = Settings(**given)  # the host given here is the one FENRUN_AUTH=off is checked on
    console.print(f"Fenrun: GraphQL at http://{settings.host}:{settings.port}/graphql")
    # Logging is ours (JSON lines with request ids); our middleware logs each request.
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
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
    """Run the commission policy, the level policy, the projections and the scheduled jobs
    (FENRUN_RELEASE_SCHEDULE) until SIGTERM or Ctrl-C."""
    from api.bootstrap import bootstrap
    from api.worker import Worker, scheduled_jobs

    # Before anything starts: a stop that arrives while the database starts must still close it.
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    settings = Settings()
    if settings.worker_metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(settings.worker_metrics_port, addr=settings.host)
    fenrun = bootstrap(settings)
    try:
        Worker(fenrun, [] if once else scheduled_jobs(fenrun), stopping).run(once)
    finally:
        fenrun.close()


@jobs.command("release-due")
def release_due(
    now: Annotated[str | None, typer.Option(help="Business time (ISO 8601 with offset).")] = None,
    actor: Annotated[str, typer.Option()] = "system:release-job",
) -> None:
    """Turn frozen commissions whose hold has elapsed into unfreeze requests."""
    from api.bootstrap import bootstrap
    from application.use_cases.commissions import ReleaseDueCommissions
    from domain.common import Audit

    fenrun = bootstrap(Settings())
    try:
        fenrun.catch_up()
        audit = Audit(actor, _when(now), "hold period elapsed", now is not None)
        result = fenrun.workflows.submit(ReleaseDueCommissions(audit=audit))
        console.print(f"{len(result.request_ids)} unfreeze request(s) created")
        print(json.dumps({"requestIds": list(result.request_ids)}))
    finally:
        fenrun.close()


AT_IS_RECORDED_TIME = (
    "--at is recorded time: the aggregate as the ledger knew it at that moment, from the events"
    " recorded up to then. It is not a business date: an order that occurred on January 10 but"
    " was recorded today is not in a replay --at January 10."
)


@app.command("channel-simulator")
def channel_simulator(
    port: Annotated[int, typer.Option(help="Where the simulator listens.")] = 8700,
    name: Annotated[str, typer.Option(help="The channel's name (FENRUN_PAYOUT_CHANNEL).")] = "sim",
    callback_url: Annotated[
        str | None, typer.Option(help="Fenrun's base URL for callbacks (none: no callbacks).")
    ] = None,
    key_id: Annotated[str | None, typer.Option(help="`fenrun keys add` key id")] = None,
    secret: Annotated[str | None, typer.Option(envvar="FENRUN_CHANNEL_SECRET")] = None,
) -> None:
    """Run the simulated payment channel as an HTTP service (docs/payouts.md): point Fenrun at
    it with FENRUN_PAYOUT_CHANNEL=NAME and FENRUN_PAYOUT_CHANNEL_URL=http://127.0.0.1:PORT."""
    import uvicorn

    from api.channel_simulator import SignedCallbacks, simulator_app
    from application.simulated_channel import SimulatedChannel

    channel = SimulatedChannel(name)
    if callback_url:
        if not (key_id and secret):
            raise typer.BadParameter("callbacks are signed: give --key-id and --secret")
        channel.notify = SignedCallbacks(callback_url, name, key_id, secret)
    console.print(f"simulated channel '{name}' at http://127.0.0.1:{port}")
    uvicorn.run(simulator_app(channel), host="127.0.0.1", port=port, log_config=None)


@app.command(epilog=AT_IS_RECORDED_TIME)
def replay(
    kind: Annotated[str, typer.Argument(help="agent | card | order | wallet | package | plan")],
    code: str,
    at: Annotated[
        str | None,
        typer.Option(
            help="Recorded time (ISO 8601 with offset), e.g. a response's extensions.asOf."
            " Default: now."
        ),
    ] = None,
) -> None:
    """Print an aggregate rebuilt from its events recorded up to --at (JSON: camelCase names,
    amounts as Money strings like "60.00")."""
    from api.bootstrap import bootstrap
    from api.replayed import present

    if kind not in {"agent", "card", "order", "wallet", "package", "plan"}:
        raise typer.BadParameter(f"unknown kind '{kind}'")
    fenrun = bootstrap(Settings())
    try:
        found = fenrun.workflows.replay(kind, code, _when(at) if at else None)
    finally:
        fenrun.close()
    if found.state is None:
        known = f"recorded up to {at}" if at else "recorded so far"
        console.print(f"no {kind} '{code}' in the events {known} (log position {found.position})")
        if at:
            console.print(AT_IS_RECORDED_TIME)
        raise typer.Exit(1)
    document = {
        "kind": kind,
        "code": code,
        "position": found.position,
        "version": found.version,
        "state": present(found.state),
    }
    print(json.dumps(document, indent=2, ensure_ascii=False))


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
    names: Annotated[
        list[str],
        typer.Argument(
            help="The views to rebuild (see `projections status`), or `all`: one pass over the"
            " log for all of them, switched together."
        ),
    ],
) -> None:
    """Build a new version of views beside the live ones, then switch readers to them."""
    from psycopg_pool import ConnectionPool
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    from api.bootstrap import bootstrap, build_views
    from application.collector import collector_paused
    from projections.chain import ChainBroken
    from projections.rebuild import rebuild_views
    from projections.runner import ViewFailed

    fenrun = bootstrap(Settings())
    views = {v.name: v for v in build_views(fenrun.settings.zone)}
    names = list(views) if names == ["all"] else list(dict.fromkeys(names))
    unknown = [n for n in names if n not in views]
    if unknown:
        fenrun.close()
        raise typer.BadParameter(f"unknown view '{unknown[0]}'; one of {', '.join(views)}, all")
    name = ", ".join(names)
    # A rebuild creates and drops tables: it runs as their owner, not as the service's role.
    owner = ConnectionPool(fenrun.owner_dsn, min_size=1, max_size=2, open=True)
    try:
        columns = [TextColumn("{task.description}"), BarColumn(), TaskProgressColumn()]
        columns += [TextColumn("{task.fields[rate]:.0f} events/s"), TimeRemainingColumn()]
        with Progress(*columns, console=console) as bar:
            task = bar.add_task(f"rebuilding {name}", total=None, rate=0.0)
            versions = rebuild_views(
                owner,
                fenrun.ledger.mapper.to_domain_event,
                [views[n] for n in names],
                progress=lambda p: bar.update(
                    task, completed=p.position, total=p.head, rate=p.events_per_second
                ),
                around_batch=collector_paused,  # as the live views' batches (decision 0042)
            )
        for rebuilt, version in versions.items():
            console.print(f"{rebuilt} is now served from version {version}")
    except (ChainBroken, ViewFailed) as exc:
        console.print(f"[red]refusing to rebuild {name}: {exc}[/red]")
        raise typer.Exit(1) from None
    finally:
        owner.close()
        fenrun.close()


@app.command("verify")
def verify_command(
    samples: Annotated[int, typer.Option(help="How many random past positions to check.")] = 20,
    seed: Annotated[int | None, typer.Option(help="Seed for the sample of positions.")] = None,
) -> None:
    """Check every read model, as of random past positions, against a replay of the events."""
    from rich.progress import Progress

    from api.bootstrap import bootstrap
    from application.log import LedgerLog
    from projections.verify import verify

    fenrun = bootstrap(Settings())
    try:
        fenrun.catch_up()
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("verifying", total=None)
            found = verify(
                fenrun.read,
                LedgerLog(fenrun.ledger),
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


RulesFile = Annotated[
    typer.FileText, typer.Option("--rules", help="The candidate rules document (JSON list).")
]
From = Annotated[str, typer.Option("--from", help="Period start (ISO 8601 with offset).")]
To = Annotated[str | None, typer.Option("--to", help="Period end, exclusive (default: none).")]


def _rules(document: typer.FileText) -> object:
    try:
        return json.load(document)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"the rules file is not JSON: {exc}") from None


@plans_cli.command("simulate")
def plans_simulate(code: str, rules: RulesFile, start: From, end: To = None) -> None:
    """Replay the recorded facts of [--from, --to) through candidate rules for plan CODE and
    print the differences against what was recorded (JSON). Writes nothing."""
    from api.bootstrap import bootstrap
    from domain.errors import LedgerError

    fenrun = bootstrap(Settings())
    try:
        found = fenrun.workflows.simulate(
            code, _rules(rules), _when(start), _when(end) if end else None
        )
    except LedgerError as exc:
        console.print(f"[red]{exc.code}[/red] {exc.field}: {exc.message}")
        raise typer.Exit(2) from None
    finally:
        fenrun.close()
    print(json.dumps(_simulation_json(found), indent=2, ensure_ascii=False))
    console.print(
        f"{found.sales} sale(s) in the period, {len(found.commissions)} line(s) would change, "
        f"{found.seconds:.2f} s"
    )


@plans_cli.command("correct")
def plans_correct(
    code: str,
    rules: RulesFile,
    start: From,
    reason: Annotated[str, typer.Option(help="Why: recorded on every adjustment.")],
    end: To = None,
    actor: Annotated[str, typer.Option()] = "ops",
    expected_version: Annotated[
        int | None, typer.Option(help="The version `plans simulate` showed.")
    ] = None,
) -> None:
    """Record a correcting version of plan CODE over [--from, --to) and let the commission
    policy adjust the period's recorded commissions."""
    from api.bootstrap import bootstrap
    from application.use_cases.plans import CorrectCommissionPlan
    from domain.common import Audit
    from domain.errors import LedgerError

    fenrun = bootstrap(Settings())
    try:
        command = CorrectCommissionPlan(
            code=code,
            rules=_rules(rules),
            start=_when(start),
            end=_when(end) if end else None,
            audit=Audit(actor, datetime.now(UTC), reason),
            expected_version=expected_version,
        )
        recorded = fenrun.workflows.correct(command, preview=False).result.recorded
    except LedgerError as exc:
        console.print(f"[red]{exc.code}[/red] {exc.field}: {exc.message}")
        raise typer.Exit(2) from None
    finally:
        fenrun.close()
    print(json.dumps({"planCode": recorded.plan_code, "version": recorded.version}))
    console.print(f"plan {code} version {recorded.version} recorded and applied")


def _simulation_json(found: Any) -> dict[str, Any]:
    from domain.money import format_money

    return {
        "plan": found.candidate.code,
        "version": found.candidate.version,
        "position": found.position,
        "sales": found.sales,
        "recorded": format_money(found.recorded_fen),
        "simulated": format_money(found.simulated_fen),
        "agents": [
            {
                "agent": a.agent_code,
                "recorded": format_money(a.recorded_fen),
                "simulated": format_money(a.simulated_fen),
                "difference": format_money(a.difference_fen),
            }
            for a in found.agents
        ],
        "commissions": [
            {
                "id": d.commission_id,
                "agent": d.agent_code,
                "source": d.line.source,
                "rule": d.line.rule_code,
                "recorded": format_money(d.recorded_fen),
                "simulated": format_money(d.simulated_fen),
                "difference": format_money(d.difference_fen),
            }
            for d in found.commissions
        ],
    }


@db_cli.command("status")
def db_status() -> None:
    """The data folder, and the embedded server running on it (if any) and who started it.
    Starts nothing."""
    from api.embedded_db import describe

    settings = Settings()
    found = describe(settings.data_dir)
    if settings.database_url:
        found["configuredUrl"] = "FENRUN_DATABASE_URL is set: the service does not use this one"
    print(json.dumps(found, indent=2))


@db_cli.command("stop")
def db_stop() -> None:
    """Stop the embedded server whoever started it (e.g. one left running by a crash)."""
    from api.embedded_db import shutdown

    folder = Settings().data_dir
    console.print(f"stopped the server on {folder}" if shutdown(folder) else "none was running")


@app.command("carrier-simulator")
def carrier_simulator(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 9100,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
) -> None:
    """A carrier simulator (OneLink, Control Center, CMP request shapes) for tests and demos:
    api/carriers/simulator.py says how to point Fenrun at it and how to make it misbehave."""
    import uvicorn

    from api.carriers.simulator import create_simulator

    console.print(
        f"carrier simulator at http://{host}:{port} (/cmcc/v5/ec, /cucc/rws/api/v1,"
        " /ctcc/m2m_ec, /_control)"
    )
    uvicorn.run(create_simulator(), host=host, port=port, log_level="warning")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
