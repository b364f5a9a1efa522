"""Catching up: the policies and the views process what the log holds, each on its own.

A round runs every part (commission policy, level policy, views) until none has anything left.
A part that fails does not stop the others: its failure is logged, reported to the caller and
tried again next round. Failures on one event are handled inside the parts (they stop just
before it and record why); what reaches a round is what is not about the events, such as a lost
connection (decision 0019).

A write's caller waits for a round that started after its write, for a bounded time
(`Background.wait`): one slow batch (a plan correction re-rating history) does not hold it.
"""

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import psycopg
import structlog
from eventsourcing.persistence import InterfaceError, OperationalError

log = structlog.get_logger(__name__)
TRANSIENT = (OperationalError, InterfaceError, psycopg.OperationalError, psycopg.InterfaceError)


def is_transient(error: BaseException) -> bool:
    """A lost or refused connection, a timeout: nothing to do with the events being processed."""
    return isinstance(error, TRANSIENT)


class Part(Protocol):
    """A follower of the log: a policy, or the views' runner."""

    def run_until_idle(self) -> int: ...


@dataclass(frozen=True)
class Round:
    done: int = 0
    failures: dict[str, BaseException] = field(default_factory=dict)


class CatchUpFailed(Exception):
    """Parts of a catch-up failed (the others ran to the end)."""

    def __init__(self, failures: dict[str, BaseException]) -> None:
        details = "; ".join(f"{name}: {type(e).__name__}: {e}" for name, e in failures.items())
        super().__init__(f"catching up failed: {details}")
        self.failures = failures


def run_round(parts: Sequence[tuple[str, Part]]) -> Round:
    """Every part until none has anything left; a part that fails sits out the rest."""
    failures: dict[str, BaseException] = {}
    total = 0
    while True:
        done = 0
        for name, part in parts:
            if name in failures:
                continue
            try:
                done += part.run_until_idle()
            except Exception as exc:
                failures[name] = exc
                log.warning("catch_up.part_failed", part=name, error=f"{type(exc).__name__}: {exc}")
        total += done
        if not done:
            return Round(total, failures)


class Background:
    """One thread that runs rounds when asked. A caller asks and waits for a round that started
    after it asked (so it includes the caller's write), for at most `timeout` seconds."""

    def __init__(
        self, run: Callable[[], Round], name: str = "fenrun-catch-up-after-writes"
    ) -> None:
        self._run = run
        self._name = name
        self._changed = threading.Condition()
        self._asked = 0
        self._finished = 0
        self._last = Round()
        self._closed = False
        self._thread: threading.Thread | None = None

    def wait(self, timeout: float) -> Round | None:
        """The round that processed what was written before this call; None if it did not
        finish within `timeout` (it goes on in the background)."""
        with self._changed:
            ticket = self._ask()
            if ticket is None:
                return None
            if not self._changed.wait_for(lambda: self._finished >= ticket, timeout):
                return None
            return self._last

    def ask(self) -> None:
        """A round that starts after this call, without waiting for it: writes that arrive
        while a round runs share the next one (its batches grow with the load)."""
        with self._changed:
            self._ask()

    def _ask(self) -> int | None:
        if self._closed:
            return None
        self._asked += 1
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
            self._thread.start()
        self._changed.notify_all()
        return self._asked

    def close(self, timeout: float = 10.0) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _loop(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._closed or self._asked > self._finished)
                if self._closed:
                    return
                target = self._asked
            try:
                finished = self._run()
            except Exception as exc:  # a round reports its parts' failures; this is a bug
                log.exception("catch_up.round_failed")
                finished = Round(0, {"catch-up": exc})
            with self._changed:
                self._finished, self._last = target, finished
                self._changed.notify_all()
