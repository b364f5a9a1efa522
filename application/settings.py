"""Configuration from the environment (FENRUN_*), refusing unsafe values rather than guessing.

The settings are grouped by area, each group its own model: the carriers
(application/carrier_settings.py), the service (application/service_settings.py), the payouts
(application/payout_settings.py), the statements (application/statement_settings.py), who may do
what (application/access_settings.py); Settings composes them with what is left here. The bases'
order is the order of docs/operations.md's table (pydantic lists the last base's fields first).
Each field's description is its documentation: that table is generated from them (python -m
api.settings_doc), and a test fails when the two differ.
"""

from pathlib import Path

from psycopg import ProgrammingError
from psycopg.conninfo import conninfo_to_dict
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from application.access_settings import AccessSettings
from application.carrier_settings import CarrierSettings
from application.payout_settings import PayoutSettings
from application.service_settings import ServiceSettings
from application.statement_settings import StatementSettings


class OperationsSettings(BaseSettings):
    """Running it: the worker's metrics, health checks, the database's owner and its replica."""

    worker_metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="The worker serves its own metrics (job runs, failures) on this port. Unset:"
        " none.",
    )
    health_timeout_seconds: float = Field(
        default=3.0,
        gt=0,
        le=30,
        description="How long /readyz and /healthz wait for the database before answering 503.",
    )
    # The owner of the tables, for migrations and rebuilds; the service can then connect (at
    # FENRUN_DATABASE_URL) as a role that may append to the event log but never rewrite it
    # (docs/audit.md).
    migration_database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL of the tables' owner, for migrations and rebuilds. Unset: the"
        " database URL. With the embedded server, the superuser migrates and the service connects"
        " as the least-privilege role fenrun_app.",
    )

    replica_database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL of a streaming replica of the database (same role as the"
        " database URL). The API's queries read there once the replica's views have reached the"
        " request's read position, else from the primary (docs/operations.md). Unset: none.",
    )


class Settings(
    AccessSettings,
    OperationsSettings,
    StatementSettings,
    PayoutSettings,
    ServiceSettings,
    CarrierSettings,
):
    model_config = SettingsConfigDict(env_prefix="FENRUN_", extra="ignore")

    settlement_profiles_file: Path | None = Field(
        default=None,
        description="A TOML file of the company's own column profiles for carrier settlement"
        " files (docs/imports.md); its profiles add to the shipped ones or replace them by name."
        " Unset: the shipped profiles only.",
    )
    persisted_queries_file: Path | None = Field(
        default=None,
        description="A JSON file {sha256 hex: operation text}. Set: only those operations run"
        " (sent whole, or by hash in extensions.persistedQuery); admins may run any.",
    )

    # What one request may cost (decision 0020): refused before it runs, cut when it runs long.
    max_query_cost: int = Field(
        default=500,
        ge=10,
        le=1_000_000,
        description="The most a GraphQL request may cost (api/graphql/cost.py: every field's"
        " cost, lists by page size); a costlier one is refused before it runs (QUERY_TOO_COSTLY)."
        " A simulation costs over half of it: one per request.",
    )
    request_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=600,
        description="A query (and each database statement of a read) running longer is cut and"
        " answered with TIMEOUT; mutations are never cut once they reach the ledger.",
    )
    expensive_per_minute: float = Field(
        default=30.0,
        gt=0,
        le=10_000,
        description="Expensive operations (simulations, replays, plan corrections) each client may"
        " start per minute, refilled continuously; over it: RATE_LIMITED (HTTP 429). Counted in"
        " each API process.",
    )
    expensive_burst: int = Field(
        default=10,
        ge=1,
        le=1000,
        description="Expensive operations a client may start at once before the per-minute rate"
        " applies.",
    )
    heavy_requests_at_once: int = Field(
        default=1,
        ge=1,
        le=1000,
        description="Requests costing over a tenth of max_query_cost that run at once in each API"
        " process; the others wait their turn (within their time limit), so light reads stay"
        " fast however many clients send large ones.",
    )
    max_running_jobs: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Simulation jobs running at once across all processes; the rest wait queued.",
    )
    job_processes: int = Field(
        default=1,
        ge=0,
        le=64,
        description="Processes this API process starts to run simulation jobs (outside its"
        " request threads and its interpreter lock); 0: it runs none, others do.",
    )
    job_timeout_seconds: float = Field(
        default=600.0,
        gt=0,
        le=86_400,
        description="A simulation job running longer fails with TIMEOUT.",
    )
    job_retention_seconds: float = Field(
        default=86_400.0,
        gt=0,
        description="How long a finished job and its result stay readable (planSimulationJob).",
    )

    @field_validator(
        "database_url", "migration_database_url", "replica_database_url", mode="before"
    )
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("database_url", "migration_database_url", "replica_database_url")
    @classmethod
    def _parseable(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                conninfo_to_dict(value)
            except ProgrammingError as exc:
                raise ValueError(f"not a PostgreSQL URL or conninfo string: {exc}") from None
        return value

    @model_validator(mode="after")
    def _migration_url_needs_service_url(self) -> "Settings":
        if self.migration_database_url is not None and self.database_url is None:
            raise ValueError(
                "FENRUN_MIGRATION_DATABASE_URL is set but FENRUN_DATABASE_URL is not: the embedded"
                " server sets up both roles itself, a server of your own needs both URLs"
            )
        return self

    @model_validator(mode="after")
    def _replica_needs_service_url(self) -> "Settings":
        if self.replica_database_url is not None and self.database_url is None:
            raise ValueError(
                "FENRUN_REPLICA_DATABASE_URL is set but FENRUN_DATABASE_URL is not: a replica"
                " follows a server of your own, never the embedded one"
            )
        return self

    @property
    def database_dsn(self) -> str | None:
        return self.database_url

    @property
    def migration_dsn(self) -> str | None:
        return self.migration_database_url or self.database_url
