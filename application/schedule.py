"""When a scheduled job (the release of due commissions, ...) runs: a schedule read from settings.

Two forms: an interval (``90s``, ``15m``, ``1h``, ``1d``), counted from the previous run, or a
five-field cron expression (``0 2 * * *``: daily at 02:00), read in the business time zone so that
"02:00" is the business's 02:00. ``off`` turns the job off.
"""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

OFF = "off"
_INTERVAL = re.compile(r"(\d+)(s|m|h|d)")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


@dataclass(frozen=True)
class Interval:
    every: timedelta

    def next_after(self, moment: datetime) -> datetime:
        return moment + self.every

    def __str__(self) -> str:
        return f"every {self.every}"


@dataclass(frozen=True)
class Cron:
    expression: str
    zone: ZoneInfo

    def next_after(self, moment: datetime) -> datetime:
        later: datetime = croniter(self.expression, moment.astimezone(self.zone)).get_next(datetime)
        return later

    def __str__(self) -> str:
        return f"cron '{self.expression}' in {self.zone.key}"


Schedule = Interval | Cron


def parse_schedule(text: str, zone: ZoneInfo) -> Schedule | None:
    """The schedule ``text`` describes, or None for ``off``; ValueError if it describes none."""
    text = text.strip()
    if text.lower() == OFF:
        return None
    if match := _INTERVAL.fullmatch(text):
        count, unit = int(match[1]), match[2]
        if count == 0:
            raise ValueError("an interval must be at least 1s")
        return Interval(timedelta(**{_UNITS[unit]: count}))
    if len(text.split()) == 5 and croniter.is_valid(text):
        return Cron(text, zone)
    raise ValueError(
        f"'{text}' is neither an interval (30s, 15m, 1h, 1d), a five-field cron expression"
        f" (0 2 * * *) nor '{OFF}'"
    )
