"""The payouts' settings (FENRUN_OUTBOX_*, FENRUN_PAYOUT_*): how the outbox retries deliveries,
which payment channel pays withdrawals, when payouts start and when the worker polls the channel.
One group of the settings (application/settings.py composes them)."""

from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings

from application.schedule import parse_schedule


class PayoutSettings(BaseSettings):
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

    @field_validator("payout_poll_schedule")
    @classmethod
    def _known_poll_schedule(cls, value: str) -> str:
        parse_schedule(value, ZoneInfo("UTC"))
        return value
