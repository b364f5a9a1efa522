"""Where the service runs and how it works through the log (FENRUN_*): the database, the API's
address, the sizes of requests, pages and batches, the clock, logging, CORS and the release job.
One group of the settings (application/settings.py composes them)."""

import os
import re
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import platformdirs
from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode

from application.schedule import parse_schedule

_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")


def default_data_dir() -> Path:
    """Per user and whatever the current folder, so that the server and every command find the
    same one: $XDG_DATA_HOME/fenrun (~/.local/share/fenrun on Linux). As root without
    XDG_DATA_HOME it is /var/lib/fenrun: the embedded server runs as an unprivileged user, who
    could not reach a folder inside /root (mode 700) unless /root were opened to everyone."""
    if os.geteuid() == 0 and not os.environ.get("XDG_DATA_HOME"):
        return Path("/var/lib/fenrun")
    return platformdirs.user_data_path("fenrun")


class ServiceSettings(BaseSettings):
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
        description="How long a mutation whose payload reads views (wallet, requests) waits for"
        " the policies and views to process its write before it answers; the others answer at"
        " once. It answers its result and position either way; payload fields read from a view"
        " that has not got there yet come back empty, with the view's lag in the response's"
        " extensions.",
    )
    min_position_wait_seconds: float = Field(
        default=5.0,
        ge=0,
        le=60,
        description="How long a GraphQL read sent with X-Fenrun-Min-Position (a mutation's"
        " position) waits for the policies and views to process that write before it answers"
        " POSITION_NOT_READY (retryable).",
    )
    group_commit_most: int = Field(
        default=16,
        ge=1,
        le=256,
        description="Most orders (placeOrder, completeOrder) from concurrent requests saved in"
        " one transaction, each decided on the state the ones before it left and refused alone;"
        " 1: each in its own.",
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

    @field_validator("release_schedule")
    @classmethod
    def _known_release_schedule(cls, value: str) -> str:
        parse_schedule(value, ZoneInfo("UTC"))
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.business_timezone)
