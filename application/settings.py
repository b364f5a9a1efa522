"""Configuration from the environment (FENRUN_*), refusing unsafe values rather than guessing."""

import base64
import binascii
import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import platformdirs
from psycopg import ProgrammingError
from psycopg.conninfo import conninfo_to_dict
from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from application.carrier_settings import CarrierSettings
from application.schedule import parse_schedule
from domain.money import parse_money

_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")


_TTL = re.compile(r"([1-9][0-9]{0,5})([smhd])")
_TTL_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_TTL = timedelta(days=30)


def parse_ttl(text: str) -> timedelta:
    """'30m', '8h', '7d' -> a lifetime for a token; at most 30 days."""
    match = _TTL.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"'{text}' is not a lifetime like 30m, 8h or 7d")
    ttl = timedelta(seconds=int(match.group(1)) * _TTL_UNIT[match.group(2)])
    if ttl > MAX_TTL:
        raise ValueError(f"'{text}' is longer than 30 days")
    return ttl


def parse_pii_keys(text: str) -> list[tuple[str, bytes]]:
    """'id:base64,id:base64' -> [(id, 32-byte key)], the encrypting key first."""
    keys: list[tuple[str, bytes]] = []
    for part in (p.strip() for p in text.split(",")):
        key_id, _, encoded = part.partition(":")
        if not key_id or not re.fullmatch(r"[A-Za-z0-9_.-]{1,32}", key_id):
            raise ValueError("each PII key is 'id:base64' with an id of letters, digits, _ . -")
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"PII key {key_id} is not base64") from None
        if len(key) != 32:
            raise ValueError(f"PII key {key_id} must be 32 bytes")
        if key_id in {k for k, _ in keys}:
            raise ValueError(f"PII key id {key_id} is given twice")
        keys.append((key_id, key))
    return keys


def default_data_dir() -> Path:
    """Per user and whatever the current folder, so that the server and every command find the
    same one: $XDG_DATA_HOME/fenrun (~/.local/share/fenrun on Linux). As root without
    XDG_DATA_HOME it is /var/lib/fenrun: the embedded server runs as an unprivileged user, who
    could not reach a folder inside /root (mode 700) unless /root were opened to everyone."""
    if os.geteuid() == 0 and not os.environ.get("XDG_DATA_HOME"):
        return Path("/var/lib/fenrun")
    return platformdirs.user_data_path("fenrun")


class Settings(CarrierSettings):
    model_config = SettingsConfigDict(env_prefix="FENRUN_", extra="ignore")

    # Each field's description is its documentation: docs/operations.md's table is generated
    # from them (python -m api.settings_doc), and a test fails when the two differ.
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("FENRUN_DATABASE_URL", "DATABASE_URL"),
        description="PostgreSQL URL (also read from DATABASE_URL). Unset: the embedded server"
        " in the data folder, started on demand (a new user needs no setup).",
    )
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="The embedded server's data folder. Default: per user, whatever the current"
        " folder: $XDG_DATA_HOME/fenrun (~/.local/share/fenrun); /var/lib/fenrun for root.",
    )
    host: str = Field(default="127.0.0.1", description="Address the API (and worker metrics) bind.")
    port: int = Field(default=8000, ge=1, le=65535, description="The API's port.")
    price_factor: int = Field(
        default=2, ge=1, le=10, description="A retail price may be at most this times the cost."
    )
    business_timezone: str = Field(
        default="Asia/Shanghai",
        description="Months in reports, and cron schedules, are read in this time zone.",
    )
    max_request_bytes: int = Field(
        default=1_000_000, ge=1_000, le=50_000_000, description="Larger request bodies get 413."
    )
    max_page_size: int = Field(default=100, ge=1, le=1000, description="Most items in one page.")
    policy_batch_size: int = Field(
        default=500, ge=1, le=10_000, description="Events per commission/level policy batch."
    )
    projection_batch_size: int = Field(
        default=1000, ge=1, le=50_000, description="Events per view batch (one transaction)."
    )
    poll_interval_seconds: float = Field(
        default=0.5,
        gt=0,
        le=60,
        description="How often the API and the worker look for events other processes wrote.",
    )
    clock_tolerance_seconds: float = Field(
        default=300,
        ge=0,
        le=86_400,
        description="How far past the server's clock an effective time (occurredAt) may be:"
        " later ones are refused (FUTURE_TIME), so no fact is dated ahead of the ledger.",
    )
    mutation_catch_up_seconds: float = Field(
        default=10.0,
        ge=0,
        le=600,
        description="How long a mutation waits for the policies and views to process its write"
        " before it answers. It answers its result and position either way; payload fields read"
        " from a view that has not got there yet come back empty, with the view's lag in the"
        " response's extensions.",
    )
    default_actor: str = Field(
        default="anonymous",
        min_length=1,
        description="With FENRUN_AUTH=off only: the actor recorded on changes when a request"
        " names none (X-Fenrun-Actor).",
    )
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto",
        description="json: one JSON object per line; console: readable; auto: console on a"
        " terminal, else json.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="The least severe level logged."
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Browser origins allowed to call the API, comma-separated (e.g."
        " https://console.example.com). Empty: no CORS headers at all.",
    )
    release_schedule: str = Field(
        default="15m",
        description="When the worker releases due commissions: an interval (30s, 15m, 1h, 1d),"
        " a cron expression in the business time zone (0 2 * * *), or off.",
    )
    outbox_backoff_seconds: float = Field(
        default=2.0,
        gt=0,
        le=3600,
        description="The outbox's first wait after a failed delivery; it doubles (with jitter)"
        " on each further failure, up to outbox_max_backoff_seconds.",
    )
    outbox_max_backoff_seconds: float = Field(
        default=600.0, gt=0, le=86400, description="The outbox's longest wait between attempts."
    )
    outbox_max_attempts: int = Field(
        default=30,
        ge=1,
        le=1000,
        description="Delivery attempts before a command is given up (GAVE_UP in outboxCommands).",
    )
    payout_channel: str | None = Field(
        default=None,
        max_length=64,
        pattern=r"^[a-z0-9-]+$",
        description="The payment channel new payouts go through (issue 11). Unset: no payouts"
        " are sent (withdrawals are settled by hand, settleWithdrawal). `simulated` with no"
        " payout_channel_url: the built-in simulator in process (tests, demos; pays nobody).",
    )
    payout_channel_url: str | None = Field(
        default=None,
        description="The channel's HTTP API (the simulator's: `fenrun channel-simulator`).",
    )
    payout_channel_timeout_seconds: float = Field(
        default=10.0, gt=0, le=300, description="How long a request to the channel may take."
    )
    payout_start: Literal["automatic", "batch"] = Field(
        default="automatic",
        description="automatic: a payout is sent as soon as its withdrawal is decided; batch:"
        " held until finance sends it (payApprovedWithdrawals, 平台主动打款).",
    )
    payout_poll_schedule: str = Field(
        default="5m",
        description="When the worker asks the channel about submitted payouts whose callback"
        " has not come: an interval, a cron expression, or off.",
    )
    payout_poll_after_seconds: float = Field(
        default=300,
        ge=0,
        le=86400,
        description="How long a submitted payout waits for its callback before it is polled.",
    )
    statement_cycle: Literal["monthly", "weekly", "daily"] = Field(
        default="monthly",
        description="The settlement statement cycle (decision 0027), in the business time zone:"
        " the statement job generates drafts of the latest cycle that has ended.",
    )
    statement_schedule: str = Field(
        default="0 3 * * *",
        description="When the worker generates the statements of the latest ended cycle (drafts"
        " for finance to review; nothing new when they are already there): an interval, a cron"
        " expression in the business time zone, or off.",
    )
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
    # The owner of the tables, for migrations and rebuilds; the service can then connect above as
    # a role that may append to the event log but never rewrite it (docs/audit.md).
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

    # -- who may do what (docs/decisions/0021-identity-and-authorization.md) ----------------------
    auth: Literal["on", "off"] = Field(
        default="on",
        description="off: no authentication, every caller may do everything and names itself"
        " in X-Fenrun-Actor; refused unless the API listens on loopback only, logged loudly.",
    )
    auth_issuer: str | None = Field(
        default=None,
        description="Your identity provider's issuer URL (the tokens' `iss`, e.g."
        " https://sso.example.com/realms/fenrun). Unset: the service is its own issuer"
        " (`fenrun users add`, `fenrun token`), its key in the data folder.",
    )
    auth_audience: str | None = Field(
        default=None,
        description="The `aud` tokens must carry. Required with FENRUN_AUTH_ISSUER; the"
        " embedded issuer uses `fenrun`.",
    )
    auth_jwks_url: str | None = Field(
        default=None,
        description="Where the issuer publishes its keys (JWKS). Unset: read from its OpenID"
        " discovery document (ISSUER/.well-known/openid-configuration).",
    )
    auth_jwks_refresh_seconds: float = Field(
        default=30,
        ge=0,
        le=3600,
        description="A token naming a key the cached JWKS lacks (rotation) refetches it, at"
        " most this often.",
    )
    auth_algorithms: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["RS256", "ES256"],
        description="Signature algorithms accepted from the identity provider, comma-separated.",
    )
    auth_subject_claim: str = Field(
        default="sub",
        description="The claim naming the person, recorded as the actor (e.g. preferred_username).",
    )
    auth_roles_claim: str = Field(
        default="roles",
        description="The claim (a dotted path) holding the roles admin, operator, finance,"
        " agent, auditor (Keycloak: realm_access.roles).",
    )
    auth_agent_claim: str = Field(
        default="agent_code",
        description="The claim (a dotted path) holding the agent code an agent's user acts as.",
    )
    token_ttl: str = Field(
        default="8h",
        description="Default lifetime of `fenrun token` tokens (30m, 8h, 7d); at most 30 days.",
    )
    sealing_key: SecretStr | None = Field(
        default=None,
        description="A 32-byte key, base64, that encrypts API key secrets at rest (AES-GCM)."
        " Unset: one generated in the data folder (identity/sealing.key).",
    )
    pii_keys: SecretStr | None = Field(
        default=None,
        description="Keys that encrypt personal data at rest (AES-GCM): 'id:base64 of 32 bytes',"
        " comma-separated, the first encrypts, all decrypt (rotation: put the new key first, keep"
        " the old ones). Unset: required with an external issuer (FENRUN_AUTH_ISSUER); otherwise"
        " one is generated in the data folder (identity/pii-keys).",
    )
    second_approver_from: str = Field(
        default="10000.00",
        description="Unfreeze requests of at least this amount need two different finance"
        " approvers (maker-checker).",
    )
    graphql_introspection: Literal["admins", "everyone", "nobody"] = Field(
        default="admins",
        description="Who may introspect the schema (GraphiQL's docs and completion). With"
        " FENRUN_AUTH=off: everyone.",
    )
    graphql_suggestions: Literal["admins", "everyone", "nobody"] = Field(
        default="admins",
        description="Who gets 'Did you mean ...?' field suggestions in errors. With"
        " FENRUN_AUTH=off: everyone.",
    )
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

    @field_validator("auth_algorithms", mode="before")
    @classmethod
    def _split_algorithms(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("auth_algorithms")
    @classmethod
    def _asymmetric_only(cls, value: list[str]) -> list[str]:
        # A shared-secret algorithm would let anyone holding the published key sign tokens.
        allowed = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"}
        for name in value:
            if name not in allowed:
                raise ValueError(f"'{name}' is not an asymmetric JWT algorithm ({sorted(allowed)})")
        if not value:
            raise ValueError("give at least one algorithm")
        return value

    @field_validator("token_ttl")
    @classmethod
    def _known_ttl(cls, value: str) -> str:
        parse_ttl(value)
        return value

    @field_validator("second_approver_from")
    @classmethod
    def _money(cls, value: str) -> str:
        if parse_money(value, field="FENRUN_SECOND_APPROVER_FROM") <= 0:
            raise ValueError("must be a positive amount")
        return value

    @model_validator(mode="after")
    def _external_issuer_needs_audience(self) -> "Settings":
        if self.auth_issuer is not None and not self.auth_audience:
            raise ValueError(
                "FENRUN_AUTH_ISSUER is set but FENRUN_AUTH_AUDIENCE is not: tokens issued for"
                " another application of the same provider would be accepted"
            )
        return self

    @field_validator("pii_keys")
    @classmethod
    def _pii_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_pii_keys(value.get_secret_value())
        return value

    @model_validator(mode="after")
    def _external_issuer_needs_pii_keys(self) -> "Settings":
        if self.auth == "on" and self.auth_issuer is not None and self.pii_keys is None:
            raise ValueError(
                "FENRUN_AUTH_ISSUER is set but FENRUN_PII_KEYS is not: personal data must be"
                " encrypted with keys managed with the rest of the deployment's secrets"
            )
        return self

    @property
    def second_approver_from_fen(self) -> int:
        return parse_money(self.second_approver_from)

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

    @field_validator("business_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{value}'") from None
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _exact_origins(cls, value: list[str]) -> list[str]:
        # An allow-list: "*" or a path would let any page (or none we meant) call the API.
        for origin in value:
            if not _ORIGIN.fullmatch(origin):
                raise ValueError(f"'{origin}' is not an origin like https://console.example.com")
        return value

    @field_validator("release_schedule", "payout_poll_schedule", "statement_schedule")
    @classmethod
    def _known_schedule(cls, value: str) -> str:
        parse_schedule(value, ZoneInfo("UTC"))
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.business_timezone)

    @property
    def database_dsn(self) -> str | None:
        return self.database_url

    @property
    def migration_dsn(self) -> str | None:
        return self.migration_database_url or self.database_url
