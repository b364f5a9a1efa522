"""A process that follows the ledger's own log, exactly once.

It reads the notification log in batches from its tracking position. What a batch changed and
the batch's last position are saved in one transaction (a process recorder with single-row
tracking), so a crash loses nothing and a re-run decides nothing twice: when another worker
committed the batch first, or another writer changed one of its aggregates, the tracking insert
or the aggregate's version conflicts and the batch is decided again from the committed position.

A batch that fails on what it holds (not on a lost connection, which fails the run and is tried
again as it was) is run again one event at a time, each saved with its position, up to the event
it fails on. The follower stops just before that event: nothing after it is skipped, since each
may be money. The error and the position are recorded (table policy_failures, read by /readyz
and /metrics), and the event is tried again after a wait that doubles each time it fails there,
or at once in a process started afresh (its code may have been fixed) (decision 0019).
"""

import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import structlog
from eventsourcing.persistence import IntegrityError, Notification, Tracking

from application.catch_up import is_transient
from application.collector import collector_paused
from application.ledger import Ledger

log = structlog.get_logger(__name__)
RETRY_SECONDS = (5.0, 3600.0)  # the first and the longest wait before a failed event is retried


class LogFollower(ABC):
    name: str

    def __init__(
        self,
        ledger: Ledger,
        batch_size: int = 500,
        max_retries: int = 20,
        retry_seconds: tuple[float, float] = RETRY_SECONDS,
    ) -> None:
        self.ledger = ledger
        self.batch_size = batch_size
        self.max_retries = max_retries
        self.retry_seconds = retry_seconds
        self._retry_at: float | None = None  # monotonic time: stopped on an event until then
        # A failure may be on record (by this process, or an earlier one): cleared once past it.
        self._failing = True

    def position(self) -> int:
        return self.ledger.recorder.max_tracking_id(self.name) or 0  # type: ignore[attr-defined]

    def run_until_idle(self) -> int:
        total = 0
        while processed := self.run_once():
            total += processed
        return total

    def run_once(self) -> int:
        """Processes one batch; returns how many notifications it consumed (0 when idle or
        stopped on an event until its retry time)."""
        if self._retry_at is not None and time.monotonic() < self._retry_at:
            return 0
        for attempt in range(self.max_retries):
            start = self.position()
            notifications = self.ledger.recorder.select_notifications(
                start, self.batch_size, inclusive_of_start=False
            )
            if not notifications:
                return 0
            try:
                with collector_paused():
                    self._save(start, notifications)
            except IntegrityError:
                log.info("log_follower.retry", follower=self.name, attempt=attempt, start=start)
                continue
            except Exception as exc:
                if is_transient(exc):
                    raise
                return self._one_by_one(start, notifications, exc)
            self._past_failure(notifications[-1].id)
            return len(notifications)
        raise RuntimeError(f"{self.name}: gave up after {self.max_retries} conflicting attempts")

    def _save(self, start: int, notifications: Sequence[Notification]) -> None:
        try:
            changed = self.process(start, notifications)
            self.ledger.save_tracked(Tracking(self.name, notifications[-1].id), *changed)
        except BaseException:
            self.forget()
            raise
        self.saved(notifications[-1].id)

    def _one_by_one(self, start: int, notifications: Sequence[Notification], error: Any) -> int:
        """Each notification of a failed batch alone, up to the one it fails on."""
        log.warning("log_follower.batch_failed", follower=self.name, start=start, error=str(error))
        done = 0
        for notification in notifications:
            try:
                self._save(start, [notification])
            except IntegrityError:
                return done  # another worker moved on: the next run reads its position
            except Exception as exc:
                if is_transient(exc):
                    raise
                self._stop(notification.id, exc)
                return done
            start, done = notification.id, done + 1
        log.warning("log_follower.failure_not_reproduced", follower=self.name, start=start)
        self._past_failure(start)
        return done

    def _stop(self, failed: int, error: Exception) -> None:
        text = f"{type(error).__name__}: {error}"[:2000]
        failures, wait = self.ledger.recorder.record_policy_failure(  # type: ignore[attr-defined]
            self.name, failed, text, self.retry_seconds
        )
        self._retry_at, self._failing = time.monotonic() + wait, True
        log.error(
            "log_follower.stopped",
            follower=self.name,
            failed_position=failed,
            failures=failures,
            retry_in_seconds=wait,
            error=text,
        )

    def _past_failure(self, position: int) -> None:
        self._retry_at = None
        if self._failing:
            self.ledger.recorder.clear_policy_failure(self.name, position)  # type: ignore[attr-defined]
            self._failing = False

    @abstractmethod
    def process(self, start: int, notifications: Sequence[Notification]) -> list[Any]:
        """Decides one batch read after `start`; returns the aggregates to save with it."""

    @abstractmethod
    def forget(self) -> None:
        """The batch was not saved: drop what memory holds beyond the committed position."""

    @abstractmethod
    def saved(self, position: int) -> None:
        """The batch up to `position` was saved with what process() returned."""
