"""A process that follows the ledger's own log, exactly once.

It reads the notification log in batches from its tracking position. What a batch changed and
the batch's last position are saved in one transaction (a process recorder with single-row
tracking), so a crash loses nothing and a re-run decides nothing twice: when another worker
committed the batch first, or another writer changed one of its aggregates, the tracking insert
or the aggregate's version conflicts and the batch is decided again from the committed position.
"""

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import structlog
from eventsourcing.persistence import IntegrityError, Notification, Tracking

from application.ledger import Ledger

log = structlog.get_logger(__name__)


class LogFollower(ABC):
    name: str

    def __init__(self, ledger: Ledger, batch_size: int = 500, max_retries: int = 20) -> None:
        self.ledger = ledger
        self.batch_size = batch_size
        self.max_retries = max_retries

    def position(self) -> int:
        return self.ledger.recorder.max_tracking_id(self.name) or 0  # type: ignore[attr-defined]

    def run_until_idle(self) -> int:
        total = 0
        while processed := self.run_once():
            total += processed
        return total

    def run_once(self) -> int:
        """Processes one batch; returns how many notifications it consumed (0 when idle)."""
        for attempt in range(self.max_retries):
            start = self.position()
            notifications = self.ledger.recorder.select_notifications(
                start, self.batch_size, inclusive_of_start=False
            )
            if not notifications:
                return 0
            try:
                changed = self.process(start, notifications)
                self.ledger.save_tracked(Tracking(self.name, notifications[-1].id), *changed)
            except IntegrityError:
                self.forget()
                log.info("log_follower.retry", follower=self.name, attempt=attempt, start=start)
                continue
            except BaseException:
                self.forget()
                raise
            self.saved(notifications[-1].id)
            return len(notifications)
        raise RuntimeError(f"{self.name}: gave up after {self.max_retries} conflicting attempts")

    @abstractmethod
    def process(self, start: int, notifications: Sequence[Notification]) -> list[Any]:
        """Decides one batch read after `start`; returns the aggregates to save with it."""

    @abstractmethod
    def forget(self) -> None:
        """The batch was not saved: drop what memory holds beyond the committed position."""

    @abstractmethod
    def saved(self, position: int) -> None:
        """The batch up to `position` was saved with what process() returned."""
