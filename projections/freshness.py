"""Read-your-writes without catching up in the request: wait, bounded, until a write has been
processed (decision 0036).

A mutation answers with the log position P of its write. A read that asks for "at least P"
(X-Fenrun-Min-Position) is answered once what P's write caused is readable: the policies (the
commission, level and payout policies, whose events the views show) have processed P, and the
views the read needs have processed every event that was in the log when they had, so the
commission lines a completed order accrued are there. Nobody catches up here: the process's own
runner (or the worker) does, in the background; this only looks at the tracking positions, one
statement per look (one snapshot: a policy's events and its tracking row commit together, so the
log head seen with the policy's position includes what it wrote for P).

Between looks it sleeps until a round of this process's runner ends (`notify`), or for
POLL_SECONDS at most (the worker or another process may be the one catching up).
"""

import threading
import time
from collections.abc import Iterable

from psycopg_pool import ConnectionPool

from projections.positions import PositionNotReady, ViewState

POLL_SECONDS = 0.05
_LOOK = (
    "SELECT (SELECT coalesce(max(notification_id), 0) FROM public.ledger_events) AS head,"
    " (SELECT coalesce(array_agg(p.name || '=' || coalesce(t.position, 0)), '{}')"
    "  FROM unnest(%(policies)s::text[]) p(name) LEFT JOIN (SELECT application_name,"
    "  max(notification_id) AS position FROM public.ledger_tracking GROUP BY 1) t"
    "  ON t.application_name = p.name) AS policies,"
    " (SELECT coalesce(array_agg(v.name || '=' || coalesce(t.position, 0)), '{}')"
    "  FROM public.projection_versions v LEFT JOIN public.projection_tracking t"
    "  ON t.name = v.name || '@' || v.version WHERE v.name = ANY(%(views)s)) AS views,"
    " (SELECT coalesce(array_agg(v.name || '=' || t.failed_position), '{}')"
    "  FROM public.projection_versions v JOIN public.projection_tracking t"
    "  ON t.name = v.name || '@' || v.version WHERE v.name = ANY(%(views)s)"
    "  AND t.failed_position IS NOT NULL) AS failing"
)


def _positions(pairs: list[str], names: Iterable[str]) -> dict[str, int]:
    """name=position pairs; a name without a row has processed nothing (0)."""
    found = {name: int(pos) for name, _, pos in (p.rpartition("=") for p in pairs)}
    return {name: found.get(name, 0) for name in names}


class Freshness:
    """Waits until a log position's effects are readable in given views."""

    def __init__(self, pool: ConnectionPool, policies: list[str]) -> None:
        self.pool = pool
        self.policies = policies
        self._rounds = threading.Condition()
        self._round = 0

    def notify(self) -> None:
        """A round of the policies and views ended in this process: waiters look again."""
        with self._rounds:
            self._round += 1
            self._rounds.notify_all()

    def _look(
        self, views: tuple[str, ...]
    ) -> tuple[int, dict[str, int], dict[str, int], dict[str, int]]:
        """The log head, the policies' and the views' positions, and where failing views stopped."""
        with self.pool.connection() as conn:
            row = conn.execute(_LOOK, {"policies": self.policies, "views": list(views)}).fetchone()
        assert row is not None
        failing = {p.rpartition("=")[0]: int(p.rpartition("=")[2]) for p in row[3]}
        return row[0], _positions(row[1], self.policies), _positions(row[2], views), failing

    def wait(self, position: int, views: Iterable[str], timeout: float) -> int:
        """Returns once the views have processed what the write at `position` caused (the
        position they have all reached); raises PositionNotReady, naming the policies or views
        still behind, if that takes longer than `timeout` seconds."""
        views = tuple(sorted(set(views)))
        deadline = time.monotonic() + timeout
        target: int | None = None
        while True:
            with self._rounds:
                seen = self._round
            head, policies, reached, failing = self._look(views)
            if target is None and min(policies.values(), default=head) >= position:
                target = max(position, head)  # includes the policies' events for `position`
            ready = min(reached.values(), default=head)
            if target is not None and ready >= target:
                return ready
            left = deadline - time.monotonic()
            # a view stopped on an event before the target does not get there by waiting
            stopped = any(at <= (target or position) for at in failing.values())
            if left <= 0 or stopped:
                raise self._not_ready(position, head, policies, reached, target, failing)
            self._next_round(seen, min(left, POLL_SECONDS))

    def _next_round(self, seen: int, timeout: float) -> None:
        with self._rounds:
            self._rounds.wait_for(lambda: self._round != seen, timeout)

    @staticmethod
    def _not_ready(
        position: int,
        head: int,
        policies: dict[str, int],
        views: dict[str, int],
        target: int | None,
        failing: dict[str, int],
    ) -> PositionNotReady:
        wanted = position if target is None else target
        late = tuple(
            ViewState(
                name,
                at,
                head - at,
                "stopped on an event: see /readyz" if name in failing else None,
                failing.get(name),
            )
            for name, at in (*policies.items(), *views.items())
            if at < (position if name in policies else wanted)
        )
        names = ", ".join(v.name for v in late) or "the read models"
        return PositionNotReady(
            f"position {position} is not yet processed by {names}: try again", late, position
        )
