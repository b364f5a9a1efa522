"""The composition root: the one place that wires settings, database, ledger, policies, views."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool

from api.carriers import carrier_ports
from api.channel_simulator import HttpChannel, in_process_callbacks
from api.db_roles import SERVICE_ROLE, as_role
from api.embedded_db import EmbeddedPostgres, start_embedded_postgres
from api.jobs.simulations import PlanSimulations
from api.jobs.store import JobStore
from api.migrate import migrate
from api.observability.metrics import count_failure, count_read
from api.pii import PiiCipher
from application.carrier_dispatch import CarrierCommandSender
from application.carrier_reports import CarrierReportIntake, LedgerCardReports
from application.carriers import CardReports, Carrier, CarrierPort
from application.clock import Clock, SystemClock
from application.collector import collector_paused
from application.ledger import Ledger
from application.levels import LevelPolicy
from application.outbox import Dispatcher, Outbox
from application.payouts import PaymentChannel, PayoutPolicy, PayoutSender
from application.policy import CommissionPolicy
from application.settings import Settings
from application.simulated_channel import SimulatedChannel
from application.usage import UsageRecorded, UsageReport, record_usage_reports
from application.workflows import Workflows
from domain.approvals import ApprovalPolicy
from domain.payout import SUBMIT
from projections.cards import Cards
from projections.freshness import Freshness
from projections.payouts import Payouts
from projections.platform_totals import PlatformTotals
from projections.queries import ReadModel
from projections.replica import ReadRouter
from projections.runner import ProjectionRunner
from projections.statement_queries import StatementReads
from projections.statements import Statements, WalletMovements
from projections.temporal import ActivationReport, PlatformMonths, TeamPerformance
from projections.usage import PgUsageStore
from projections.views import (
    Commissions,
    Directory,
    Names,
    View,
    WalletBalances,
)
from projections.withdrawals import Withdrawals

log = structlog.get_logger(__name__)


def eventsourcing_env(dsn: str) -> dict[str, str]:
    info = conninfo_to_dict(dsn)
    return {
        "POSTGRES_DBNAME": str(info.get("dbname", "postgres")),
        "POSTGRES_HOST": str(info.get("host", "127.0.0.1")),
        "POSTGRES_PORT": str(info.get("port", "5432")),
        "POSTGRES_USER": str(info.get("user", "postgres")),
        "POSTGRES_PASSWORD": str(info.get("password", "")),
        "POSTGRES_POOL_SIZE": "5",
        "POSTGRES_MAX_OVERFLOW": "10",
    }


def build_views(zone: ZoneInfo) -> list[Any]:
    names = Names()
    # Directory first: it learns the codes that the other views name their rows by.
    return [
        Directory(names),
        WalletBalances(names),
        Payouts(names),
        Commissions(names),
        PlatformTotals(names),
        TeamPerformance(names, zone),
        ActivationReport(names, zone),
        PlatformMonths(names, zone),
        Withdrawals(names),
        WalletMovements(names),
        Statements(names),
        Cards(names),
    ]


@dataclass
class Fenrun:
    settings: Settings
    dsn: str
    ledger: Ledger
    policy: CommissionPolicy
    level_policy: LevelPolicy
    projections: ProjectionRunner
    read: ReadModel
    pool: ConnectionPool
    owner_dsn: str = ""  # the tables' owner: migrations and rebuilds (DDL)
    embedded: EmbeddedPostgres | None = None
    replica: ReadModel | None = None  # the views on a streaming replica, if one is configured
    payout_policy: PayoutPolicy | None = None  # None: no payment channel configured
    channels: dict[str, PaymentChannel] = field(default_factory=dict)
    workflows: Workflows = field(init=False)
    # Reads that ask for a write's position wait here for the background (decision 0036).
    freshness: Freshness = field(init=False)
    # The API's pinned reads: on the replica where it has caught up, else on the primary (`read`).
    reads: ReadRouter = field(init=False)
    jobs: JobStore = field(init=False)  # background jobs' state (api/jobs/)
    simulations: PlanSimulations = field(init=False)
    pii: PiiCipher = field(init=False)  # personal data, encrypted at the edge (api/pii.py)
    outbox: Outbox = field(init=False)  # commands for other systems (decision 0026)
    dispatcher: Dispatcher = field(init=False)  # sends them: senders register by kind
    carriers: dict[Carrier, CarrierPort] = field(init=False)  # their APIs (decision 0031)
    card_reports: CardReports = field(init=False)  # where carriers' reports go (the cards')
    carrier_reports: CarrierReportIntake = field(init=False)  # pushed and polled reports
    usage: PgUsageStore = field(init=False)  # card usage rows (not events): decision 0030

    def __post_init__(self) -> None:
        self.usage = PgUsageStore(self.pool, self.settings.zone)
        self.ledger.usage = self.usage
        policies = [self.policy.name, self.level_policy.name]
        if self.payout_policy is not None:
            policies.append(self.payout_policy.name)
        self.freshness = Freshness(self.pool, policies)
        self.workflows = Workflows(
            self,
            self.read,
            self.settings.zone,
            request_wait=self.settings.mutation_catch_up_seconds,
            on_failure=lambda part, error: count_failure("catch_up"),
            after_round=self.freshness.notify,
            group_commit=self.settings.group_commit_most,
        )
        self.reads = ReadRouter(self.read, self.replica, observe=count_read)
        self.jobs = JobStore(self.pool)
        self.simulations = PlanSimulations(self, self.jobs)
        self.pii = PiiCipher.of(self.settings)
        self.outbox = Outbox(self.ledger.recorder.datastore)  # type: ignore[attr-defined]
        self.dispatcher = Dispatcher(
            self.outbox,
            backoff_seconds=(
                self.settings.outbox_backoff_seconds,
                self.settings.outbox_max_backoff_seconds,
            ),
            max_attempts=self.settings.outbox_max_attempts,
        )
        if self.channels:
            sender = PayoutSender(self.ledger, self.channels, self.clock.now)
            self.dispatcher.register(SUBMIT, sender)
        self.carriers = carrier_ports(self.settings)
        # Catching up after usage goes through the background round, as a mutation's does: two
        # rounds at once (this thread's and the API's loop) would share the views' connections.
        self.card_reports = LedgerCardReports(
            self.ledger,
            lambda reports, actor, carrier: self.record_usage_reports(
                reports, actor, self.settings.mutation_catch_up_seconds, carrier
            ),
        )
        self.carrier_reports = CarrierReportIntake(self.card_reports, self.settings.zone)
        sender = CarrierCommandSender(
            self.carriers, self.ledger, self.card_reports, lambda: self.clock.now()
        )
        self.dispatcher.register(sender.kind, sender)

    @property
    def clock(self) -> Clock:
        """The server's clock: the ledger checks effective times against it."""
        return self.ledger.clock

    def record_usage_reports(
        self,
        reports: Sequence[UsageReport],
        actor: str,
        wait: float | None = None,
        carrier: str | None = None,
    ) -> UsageRecorded:
        """Ingests a batch of usage reports and runs the quota rules (application/usage.py),
        then, if they decided anything, catches up (bounded by `wait`, as a request is) so a
        read that follows sees the decisions."""
        done = record_usage_reports(self.ledger, self.usage, reports, actor, carrier)
        if done.commands_decided:  # usage rows are no events: only decisions need catching up
            self.workflows.settle(wait)
        return done

    def catch_up(self) -> int:
        """Runs the policies and the views until none has anything left (read-your-writes);
        raises CatchUpFailed if a part failed. Before a write only: after one, `settle`."""
        return self.workflows.catch_up()

    def settle(self, wait: float | None = None) -> bool:
        """Catches up after a committed write without ever raising (the write stands): True
        when every part got to the end, else the failure is logged and the background or the
        worker's next round goes on (wait: at most this many seconds; None: until done)."""
        return self.workflows.settle(wait)

    def close(self) -> None:
        self.workflows.close()
        self.ledger.close()
        self.pool.close()
        if self.replica is not None:
            self.replica.pool.close()
        if self.embedded is not None:
            self.embedded.stop()


def bootstrap(
    settings: Settings | None = None,
    *,
    run_migrations: bool = True,
    clock: Clock | None = None,
    views: Sequence[View] | None = None,
) -> Fenrun:
    """clock: the server's clock (default: the system's); tests hand in one they set.
    views: the read models to run (default: build_views; tests put in their own)."""
    settings = settings or Settings()
    embedded = None
    dsn, owner_dsn = settings.database_dsn, settings.migration_dsn
    if dsn is None or owner_dsn is None:
        embedded = start_embedded_postgres(settings.data_dir.resolve())
        # The superuser migrates; the service runs as a role that cannot rewrite the log.
        owner_dsn, dsn = embedded.url, as_role(embedded.url, SERVICE_ROLE)
        log.info("fenrun.embedded_postgres", url=dsn, data_dir=str(settings.data_dir))
    if run_migrations:
        try:
            migrate(owner_dsn, service_dsn=dsn)
        except BaseException:
            if embedded is not None:
                embedded.stop()  # the process exits: a server it started must not outlive it
            raise
    # Named, so that operators (and tests that cut connections) can tell them in pg_stat_activity.
    pool = ConnectionPool(
        dsn, min_size=1, max_size=10, open=True, kwargs={"application_name": "fenrun-views"}
    )
    read = ReadModel(pool, statement_timeout_ms=round(settings.request_timeout_seconds * 1000))
    ledger = Ledger(
        eventsourcing_env(dsn),
        price_factor=settings.price_factor,
        directory=read,
        business_tz=settings.zone,
        clock=clock or SystemClock(),
        clock_tolerance=timedelta(seconds=settings.clock_tolerance_seconds),
        approvals=ApprovalPolicy(settings.second_approver_from_fen),
        statement_source=StatementReads(read),
    )
    policy = CommissionPolicy(
        ledger, batch_size=settings.policy_batch_size, business_tz=settings.zone
    )
    level_policy = LevelPolicy(ledger, batch_size=settings.policy_batch_size)
    runner = ProjectionRunner(
        pool,
        ledger.mapper.to_domain_event,
        list(views) if views is not None else build_views(settings.zone),
        batch_size=settings.projection_batch_size,
        around_batch=collector_paused,
    )
    channels = payment_channels(settings, ledger)
    payout_policy = None
    if settings.payout_channel is not None:
        payout_policy = PayoutPolicy(
            ledger,
            settings.payout_channel,
            send_now=settings.payout_start == "automatic",
            batch_size=settings.policy_batch_size,
        )
    return Fenrun(
        settings=settings,
        payout_policy=payout_policy,
        channels=channels,
        dsn=dsn,
        ledger=ledger,
        policy=policy,
        level_policy=level_policy,
        projections=runner,
        read=read,
        pool=pool,
        owner_dsn=owner_dsn,
        embedded=embedded,
        replica=_replica(settings),
    )


def payment_channels(settings: Settings, ledger: Ledger) -> dict[str, PaymentChannel]:
    """The configured channel: behind HTTP, or the simulator in process (its callbacks are
    recorded at once, as if they had come back over HTTP)."""
    name = settings.payout_channel
    if name is None:
        return {}
    if settings.payout_channel_url:
        url, timeout = settings.payout_channel_url, settings.payout_channel_timeout_seconds
        return {name: HttpChannel(url, timeout)}
    simulator = SimulatedChannel(name)
    simulator.notify = in_process_callbacks(ledger, name)
    return {name: simulator}


def _replica(settings: Settings) -> ReadModel | None:
    if settings.replica_database_url is None:
        return None
    # No connection until a query needs one: the CLI and the worker never read there, and a
    # replica that is down at start-up is one the primary answers for until it is back.
    pool = ConnectionPool(settings.replica_database_url, min_size=0, max_size=10, open=True)
    return ReadModel(pool)
