"""The lifetime limit every new fact that counts (a sale, a card's fact, a settlement) meets."""

import threading
import time
from typing import TYPE_CHECKING, Protocol

from domain.money import MAX_TOTAL_FEN, require_lifetime_room

if TYPE_CHECKING:
    from application.ledger import Ledger

# How long a reading of the totals answers for the facts that follow it. The views it comes
# from lag the log anyway, and the limit leaves room for eight million maximal sales between a
# check and the views catching up (decision 0018): a second more is nothing to that, and each
# completed sale no longer pays a read of the views (decision 0042).
READING_KEPT_SECONDS = 1.0


class TotalsSource(Protocol):
    def lifetime_totals(self) -> tuple[int, int]: ...


class LifetimeReading:
    """The platform's lifetime totals as last read, reused for READING_KEPT_SECONDS. A reading
    at the limit is never reused: each fact then reads again (and is refused, or not)."""

    def __init__(self, kept_seconds: float = READING_KEPT_SECONDS) -> None:
        self.kept_seconds = kept_seconds
        self._last: tuple[float, tuple[int, int]] | None = None
        self._lock = threading.Lock()

    def totals(self, source: TotalsSource) -> tuple[int, int]:
        last, now = self._last, time.monotonic()
        if last is not None and now - last[0] <= self.kept_seconds:
            return last[1]
        with self._lock:  # one reader at a time; the others take its reading
            last = self._last
            if last is not None and time.monotonic() - last[0] <= self.kept_seconds:
                return last[1]
            totals = source.lifetime_totals()
            self._last = (now, totals) if max(totals) < MAX_TOTAL_FEN else None
            return totals


def require_room_for_facts(ledger: "Ledger") -> None:
    """Refuses a fact once the platform's lifetime totals reach their limit. The totals come
    from the views (one row), as the release job's candidates do; a ledger without a read side
    (a tool replaying history) has nothing to read them from."""
    if ledger.directory is not None:
        require_lifetime_room(*ledger.lifetime_reading.totals(ledger.directory))
