"""The server's clock, in one place: the composition root hands it to the ledger and the API.

The domain never reads a clock (replays must not); the ledger compares a command's effective time
with the time its clock gives (decision 0018). Tests and tools that replay another "now" hand
the ledger a clock they set.
"""

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """The machine's time, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class SetClock:
    """A clock that reads the system's time until it is set, then stays where it was set or
    moved to (tests, simulations of business days)."""

    def __init__(self, at: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._at = at

    def now(self) -> datetime:
        with self._lock:
            return self._at if self._at is not None else datetime.now(UTC)

    def set(self, at: datetime) -> None:
        if at.utcoffset() is None:
            raise ValueError("a clock's time needs a UTC offset")
        with self._lock:
            self._at = at

    def advance(self, by: timedelta) -> datetime:
        with self._lock:
            self._at = (self._at or datetime.now(UTC)) + by
            return self._at

    def move_to_at_least(self, at: datetime) -> None:
        """Forward to `at` if it is later: time passes as facts are reported."""
        with self._lock:
            if self._at is None or at > self._at:
                self._at = at
