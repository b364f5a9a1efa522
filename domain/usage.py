"""A carrier's usage report and what ingesting a batch of them did (application/usage.py)."""

from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo

from domain.errors import InvalidInput
from domain.values import BYTES, CODE


@dataclass(frozen=True)
class UsageReport:
    iccid: str
    report_id: str
    bytes_used: int
    reported_at: datetime
    day: date | None = None  # the business day it covers, or:
    period_start: datetime | None = None
    period_end: datetime | None = None

    def __post_init__(self) -> None:
        CODE.check(self.iccid, "iccid")
        CODE.check(self.report_id, "reportId")
        BYTES.check(self.bytes_used, "bytesUsed")
        for name in ("reported_at", "period_start", "period_end"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, datetime) or value.utcoffset() is None):
                raise InvalidInput(name, f"{name} must be a time with a UTC offset")
        if self.day is None and self.period_start is None:
            raise InvalidInput("day", "a usage report covers a day or a period")
        if (
            self.period_start is not None
            and self.period_end is not None
            and self.period_end <= self.period_start
        ):
            raise InvalidInput("periodEnd", "a period ends after it starts")

    def business_day(self, zone: tzinfo) -> date:
        """The business day it counts in: its day, or the day its period starts on."""
        if self.day is not None:
            return self.day
        assert self.period_start is not None
        return self.period_start.astimezone(zone).date()


@dataclass(frozen=True)
class Ingested:
    """What a batch did: reports new and duplicated (by report id), and where the quota rules
    may have something to decide (found on the read side; decided on the aggregates)."""

    accepted: int
    duplicates: int
    personal_candidates: list[tuple[str, date]] = field(default_factory=list)
    enterprise_candidates: list[tuple[str, date]] = field(default_factory=list)
    # (report id, card, the carrier that reports on it): refused, another carrier's card
    other_carriers: list[tuple[str, str, str]] = field(default_factory=list)
