"""Use cases that span more than one command: read-your-writes, simulate then correct, replay.

The GraphQL API and the CLI both call these, so neither writes them again. Catching up runs the
policies and the read models until none has anything left; the read models come in through the
`Projector` protocol (application and projections never import each other).
"""

import threading
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Protocol, TypeVar

from application.commands import Command
from application.ledger import Ledger
from application.levels import LevelPolicy
from application.policy import CommissionPolicy
from application.results import PlanVersionRecorded, Result
from application.simulation import Simulation, simulate
from application.use_cases.plans import CorrectCommissionPlan
from domain.common import aggregate_id

R = TypeVar("R", bound=Result)


class Projector(Protocol):
    """The read models' runner: processes what the log holds beyond its tracking position."""

    def run_until_idle(self) -> int: ...


class Processes(Protocol):
    """The running ledger's parts a workflow drives, as the composition root holds them now (a
    test may swap a policy for a fresh one, as a restarted process would have)."""

    ledger: Ledger
    policy: CommissionPolicy
    level_policy: LevelPolicy
    projections: Projector


class LogPositions(Protocol):
    """Where a recorded time falls in the log, and the log's newest position."""

    def position_at(self, as_of: datetime) -> int: ...

    def log_head(self) -> int: ...


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
    def __init__(self, parts: Processes, positions: LogPositions, zone: tzinfo) -> None:
        self.parts = parts
        self.positions = positions
        self.zone = zone
        self._lock = threading.Lock()

    @property
    def ledger(self) -> Ledger:
        return self.parts.ledger

    def catch_up(self) -> int:
        """Runs the policies and the views until none has anything left (read-your-writes).

        The level policy runs after the commission policy and before the views: the views then
        serve its upgrades in the same catch-up, and the next round lets the commission policy
        read them (a grade counts for the facts logged after it).
        """
        total = 0
        with self._lock:
            while True:
                done = (
                    self.parts.policy.run_until_idle()
                    + self.parts.level_policy.run_until_idle()
                    + self.parts.projections.run_until_idle()
                )
                total += done
                if not done:
                    return total

    def submit(self, command: Command[R]) -> R:
        """Executes a command and catches up: a read that follows sees what it wrote (and what
        the policies wrote in reaction to it). A refused command catches nothing up."""
        result = self.ledger.execute(command)
        self.catch_up()
        return result

    def simulate(
        self, code: str, rules: object, start: datetime, end: datetime | None
    ) -> Simulation:
        """Replays what the commission policy has processed so far (caught up first) through a
        candidate correction of plan `code` over [start, end). Writes nothing."""
        candidate = self.ledger.correction_candidate(code, rules, start, end)
        self.catch_up()
        return simulate(self.ledger, candidate, self.parts.policy.position(), self.zone)

    def correct(self, command: CorrectCommissionPlan, *, preview: bool) -> Correction:
        """Records a correcting version and lets the commission policy record the adjustments
        (it replays the same facts when it meets the correction: the same differences).

        preview: simulate first, so the caller sees what changes (skipped for a retry under a
        key already used: the first answer stands, and there is nothing new to show)."""
        shown = None
        if preview and not self.ledger.key_used(command.idempotency_key):
            shown = self.simulate(command.code, command.rules, command.start, command.end)
        else:
            self.catch_up()
        return Correction(self.submit(command), shown)

    def replay(self, kind: str, code: str, at: datetime | None) -> Replayed:
        """An aggregate as its events recorded up to `at` (default: the whole log) make it."""
        position = self.positions.position_at(at) if at is not None else self.positions.log_head()
        found = self.ledger.replay(aggregate_id(kind, code), position)
        if found is None:
            return Replayed(kind, code, position, None, None)
        return Replayed(kind, code, position, found["version"], found["state"])
