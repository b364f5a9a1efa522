"""Use cases that span more than one command: read-your-writes, simulate then correct, replay.

The GraphQL API and the CLI both call these, so neither writes them again. Catching up runs the
policies and the read models until none has anything left, each on its own (application/
catch_up.py); the read models come in through the `Projector` protocol (application and
projections never import each other).

Once a command's events are committed, its caller is answered with its result and position,
whatever happens after: catching up is then waited for, and its failures are logged and
reported, never raised (decision 0019). A request does not wait: it asks the background to run
and answers; a read that must see the write asks for its position (decision 0036).
"""

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Generic, Protocol, TypeVar

import structlog

from application.catch_up import Background, CatchUpFailed, Part, Round, run_round
from application.commands import Command
from application.group_commit import GroupCommit
from application.ledger import Ledger
from application.levels import LevelPolicy
from application.payouts import PayoutPolicy
from application.policy import CommissionPolicy
from application.results import PlanVersionRecorded, Result
from application.simulation import Simulation, simulate
from application.use_cases.plans import CorrectCommissionPlan
from domain.common import aggregate_id

R = TypeVar("R", bound=Result)
T = TypeVar("T")
log = structlog.get_logger(__name__)


class Projector(Protocol):
    """The read models' runner: processes what the log holds beyond its tracking position."""

    def run_until_idle(self) -> int: ...


class Processes(Protocol):
    """The running ledger's parts a workflow drives, as the composition root holds them now (a
    test may swap a policy for a fresh one, as a restarted process would have)."""

    ledger: Ledger
    policy: CommissionPolicy
    level_policy: LevelPolicy
    payout_policy: PayoutPolicy | None
    projections: Projector


class LogPositions(Protocol):
    """Where a recorded time falls in the log, and the log's newest position."""

    def position_at(self, as_of: datetime) -> int: ...

    def log_head(self) -> int: ...


@dataclass(frozen=True)
class Submitted(Generic[T]):
    """A committed command: its result, the log position of its write (for a retry answered
    from its idempotency key: the first write's), and whether catching up after it finished
    without failing in the time the caller waited."""

    result: T
    position: int
    replayed: bool
    caught_up: bool | None  # None: not waited for (a request's write: decision 0036)


@dataclass(frozen=True)
class Correction:
    recorded: PlanVersionRecorded
    preview: Simulation | None  # what the correction changes, simulated just before it


@dataclass(frozen=True)
class Replayed:
    """An aggregate rebuilt from its events recorded at or before `position` (None: none)."""

    kind: str
    code: str
    position: int
    version: int | None
    state: dict[str, Any] | None


class Workflows:
    def __init__(
        self,
        parts: Processes,
        positions: LogPositions,
        zone: tzinfo,
        *,
        request_wait: float = 10.0,
        on_failure: Callable[[str, BaseException], None] | None = None,
        after_round: Callable[[], None] | None = None,
        group_commit: int = 1,
    ) -> None:
        """request_wait: how long a request waits for catching up after its write.
        on_failure: told of each part that failed in a round (metrics).
        after_round: told when a round ends (reads waiting for a position look again).
        group_commit: most requests' orders saved in one transaction (1: each alone)."""
        self.parts = parts
        self.positions = positions
        self.zone = zone
        self.request_wait = request_wait
        self.on_failure = on_failure
        self.after_round = after_round
        self.group = GroupCommit(parts.ledger, group_commit)
        self._lock = threading.Lock()
        self._background = Background(self.round)

    @property
    def ledger(self) -> Ledger:
        return self.parts.ledger

    def _followers(self) -> list[tuple[str, Part]]:
        # The level policy runs after the commission policy and before the views: the views
        # then serve its upgrades in the same round, and the next lets the commission policy
        # read them (a grade counts for the facts logged after it).
        policy, levels = self.parts.policy, self.parts.level_policy
        payouts = self.parts.payout_policy
        started = [(payouts.name, payouts)] if payouts is not None else []
        return [
            (policy.name, policy),
            (levels.name, levels),
            *started,
            ("views", self.parts.projections),
        ]

    def round(self) -> Round:
        """Runs the policies and the views until none has anything left (read-your-writes). A
        part that fails sits out the rest of the round; never raises."""
        with self._lock:
            finished = run_round(self._followers())
        for name, error in finished.failures.items():
            if self.on_failure is not None:
                self.on_failure(name, error)
        if self.after_round is not None:
            self.after_round()
        return finished

    def catch_up(self) -> int:
        """A round; raises CatchUpFailed, after the other parts finished, if a part failed."""
        finished = self.round()
        if finished.failures:
            raise CatchUpFailed(finished.failures)
        return finished.done

    def commit(self, command: Command[R], wait: float | None = None) -> Submitted[R]:
        """Executes a command, then catches up: a read that follows sees what it wrote (and
        what the policies wrote in reaction to it). A refused command catches nothing up.

        wait: at most this many seconds (the round goes on in the background); None: until
        done, in this thread."""
        done = self.ledger.commit(command)
        return Submitted(done.result, done.position, done.replayed, self.settle(wait))

    def answer(self, command: Command[R]) -> Submitted[R]:
        """commit() for a request, which does not wait: the policies and views are asked to run
        in the background, and whoever reads after the write asks for its position (decision
        0036). Catching up inside each request held a process-wide lock: writes queued on it."""
        done = self.group.commit(command)
        self.nudge()
        return Submitted(done.result, done.position, done.replayed, None)

    def nudge(self) -> None:
        """A round soon, in the background, not waited for (a write was seen in the log)."""
        self._background.ask()

    def submit(self, command: Command[R]) -> R:
        return self.commit(command).result

    def settle(self, wait: float | None) -> bool:
        """Catches up after a committed write; never raises: the write stands, whatever
        happens after it (a lost connection in a round is logged and tried again by the next).
        wait: at most this many seconds (the round goes on in the background); None: until
        done, in this thread. True when every part got to the end."""
        try:
            finished = self.round() if wait is None else self._background.wait(wait)
        except Exception:
            log.exception("catch_up.after_write_failed")
            return False
        if finished is None:
            log.warning("catch_up.still_running", waited_seconds=wait)
        return finished is not None and not finished.failures

    def close(self) -> None:
        self._background.close()

    def simulate(
        self, code: str, rules: object, start: datetime, end: datetime | None
    ) -> Simulation:
        """Replays what the commission policy has processed so far (caught up first) through a
        candidate correction of plan `code` over [start, end). Writes nothing."""
        candidate = self.ledger.correction_candidate(code, rules, start, end)
        self.catch_up()
        return simulate(self.ledger, candidate, self.parts.policy.position(), self.zone)

    def correct(
        self, command: CorrectCommissionPlan, *, preview: bool, wait: float | None = None
    ) -> Submitted[Correction]:
        """Records a correcting version and lets the commission policy record the adjustments
        (it replays the same facts when it meets the correction: the same differences).

        preview: simulate first, so the caller sees what changes (skipped for a retry under a
        key already used: the first answer stands, and there is nothing new to show)."""
        shown = None
        if preview and not self.ledger.key_used(command.idempotency_key):
            shown = self.simulate(command.code, command.rules, command.start, command.end)
        else:
            self.catch_up()
        done = self.commit(command, wait)
        return Submitted(
            Correction(done.result, shown), done.position, done.replayed, done.caught_up
        )

    def replay(self, kind: str, code: str, at: datetime | None) -> Replayed:
        """An aggregate as its events recorded up to `at` (default: the whole log) make it."""
        position = self.positions.position_at(at) if at is not None else self.positions.log_head()
        found = self.ledger.replay(aggregate_id(kind, code), position)
        if found is None:
            return Replayed(kind, code, position, None, None)
        return Replayed(kind, code, position, found["version"], found["state"])
