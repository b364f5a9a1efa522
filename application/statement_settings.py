"""The settlement statements' settings (FENRUN_STATEMENT_*, decision 0027): the cycle and when
the worker generates the drafts. One group of the settings (application/settings.py composes
them)."""

from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings

from application.schedule import parse_schedule


class StatementSettings(BaseSettings):
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

    @field_validator("statement_schedule")
    @classmethod
    def _known_statement_schedule(cls, value: str) -> str:
        parse_schedule(value, ZoneInfo("UTC"))
        return value
