"""Configuration from the environment (FENRUN_*), refusing unsafe values rather than guessing."""

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from psycopg import ProgrammingError
from psycopg.conninfo import conninfo_to_dict
from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FENRUN_", extra="ignore")

    # No URL means: start the embedded PostgreSQL under data_dir (a new user needs no setup).
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("FENRUN_DATABASE_URL", "DATABASE_URL")
    )
    # The owner of the tables, for migrations and rebuilds; the service can then connect above as
    # a role that may append to the event log but never rewrite it (docs/audit.md).
    migration_database_url: str | None = None  # FENRUN_MIGRATION_DATABASE_URL
    data_dir: Path = Path(".fenrun")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    price_factor: int = Field(default=2, ge=1, le=10)
    # Months in reports are business months in this zone (the seeds are Chinese companies).
    business_timezone: str = "Asia/Shanghai"
    max_request_bytes: int = Field(default=1_000_000, ge=1_000, le=50_000_000)
    max_page_size: int = Field(default=100, ge=1, le=1000)
    policy_batch_size: int = Field(default=500, ge=1, le=10_000)
    projection_batch_size: int = Field(default=1000, ge=1, le=50_000)
    # Background catch-up for events written by other processes (CLI jobs, workers).
    poll_interval_seconds: float = Field(default=0.5, gt=0, le=60)
    # Every mutation records an actor; without auth configured, the API uses this one.
    default_actor: str = Field(default="anonymous", min_length=1)

    @field_validator("database_url", "migration_database_url", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("database_url", "migration_database_url")
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

    @field_validator("business_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{value}'") from None
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
