"""The composition root: the one place that wires settings, database, ledger, policies, views."""

from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool

from api.db_roles import SERVICE_ROLE, as_role
from api.embedded_db import EmbeddedPostgres, start_embedded_postgres
from api.jobs.simulations import PlanSimulations
from api.jobs.store import JobStore
from api.migrate import migrate
from application.ledger import Ledger
from application.levels import LevelPolicy
from application.policy import CommissionPolicy
from application.settings import Settings
from application.workflows import Workflows
from projections.queries import ReadModel
from projections.runner import ProjectionRunner
from projections.temporal import ActivationReport, PlatformMonths, TeamPerformance
from projections.views import Commissions, Directory, Names, PlatformTotals, WalletBalances

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
        Commissions(names),
        PlatformTotals(names),
        TeamPerformance(names, zone),
        ActivationReport(names, zone),
        PlatformMonths(names, zone),
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
    workflows: Workflows = field(init=False)
    jobs: JobStore = field(init=False)  # background jobs' state (api/jobs/)
    simulations: PlanSimulations = field(init=False)

    def __post_init__(self) -> None:
        self.workflows = Workflows(self, self.read, self.settings.zone)
        self.jobs = JobStore(self.pool)
        self.simulations = PlanSimulations(self, self.jobs)

    def catch_up(self) -> int:
        """Runs the policies and the views until none has anything left (read-your-writes)."""
        return self.workflows.catch_up()

    def close(self) -> None:
        self.ledger.close()
        self.pool.close()
        if self.embedded is not None:
            self.embedded.stop()


def bootstrap(settings: Settings | None = None, *, run_migrations: bool = True) -> Fenrun:
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
    pool = ConnectionPool(dsn, min_size=1, max_size=10, open=True)
    read = ReadModel(pool, statement_timeout_ms=round(settings.request_timeout_seconds * 1000))
    ledger = Ledger(
        eventsourcing_env(dsn),
        price_factor=settings.price_factor,
        directory=read,
        business_tz=settings.zone,
    )
    policy = CommissionPolicy(
        ledger, batch_size=settings.policy_batch_size, business_tz=settings.zone
    )
    level_policy = LevelPolicy(ledger, batch_size=settings.policy_batch_size)
    runner = ProjectionRunner(
        pool,
        ledger.mapper.to_domain_event,
        build_views(settings.zone),
        batch_size=settings.projection_batch_size,
    )
    return Fenrun(
        settings=settings,
        dsn=dsn,
        ledger=ledger,
        policy=policy,
        level_policy=level_policy,
        projections=runner,
        read=read,
        pool=pool,
        owner_dsn=owner_dsn,
        embedded=embedded,
    )
