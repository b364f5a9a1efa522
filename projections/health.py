"""What operators watch: how far each view and policy lags behind the log, whether a view or a
policy is failing, how many unfreeze requests wait for finance. Read from the tracking tables with index
lookups only, for /metrics and /readyz, and never for longer than a probe may wait."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from psycopg import Connection
from psycopg_pool import ConnectionPool

from projections.runner import SWITCH_LOCK

_HEAD = (
    "WITH head AS (SELECT coalesce(max(notification_id), 0) AS head, max(recorded_at) AS head_at"
    " FROM ledger_events)"
)
# Lag in seconds: recorded time from the first event not yet processed to the head (the first
# one after the position, not position + 1: a rolled-back insert leaves a gap in the ids).
_LAG_SECONDS = "extract(epoch FROM head.head_at - coalesce(e.recorded_at, head.head_at))"
_FIRST_AFTER = (
    " LEFT JOIN LATERAL (SELECT recorded_at FROM ledger_events WHERE notification_id > {0}"
    " ORDER BY notification_id LIMIT 1) e ON true"
)
_VIEW_LAG = (
    f"{_HEAD} SELECT v.name, head.head - coalesce(t.position, 0), {_LAG_SECONDS}, t.last_error"
    " FROM projection_versions v CROSS JOIN head"
    " LEFT JOIN projection_tracking t ON t.name = v.name || '@' || v.version"
    f"{_FIRST_AFTER.format('coalesce(t.position, 0)')} ORDER BY 1"
)
# A policy that has processed nothing yet has no tracking row: it lags by the whole log.
_POLICY_LAG = (
    f"{_HEAD} SELECT p.name, head.head - coalesce(t.notification_id, 0), {_LAG_SECONDS}"
    " FROM unnest(%s::text[]) AS p(name) CROSS JOIN head"
    " LEFT JOIN ledger_tracking t ON t.application_name = p.name"
    f"{_FIRST_AFTER.format('coalesce(t.notification_id, 0)')} ORDER BY 1"
)
# The policies stopped before an event they failed on (a row whose event the policy has got past
# is history: the policy recovered, in this process or another).
_FAILING_POLICIES = (
    "SELECT f.name, f.last_error FROM policy_failures f"
    " LEFT JOIN ledger_tracking t ON t.application_name = f.name"
    " WHERE f.name = ANY(%s) AND coalesce(t.notification_id, 0) < f.failed_position ORDER BY 1"
)
# Each live view's position and last error (a view not started yet is at 0).
_LIVE = (
    "SELECT v.name, coalesce(t.position, 0), t.last_error FROM projection_versions v"
    " LEFT JOIN projection_tracking t ON t.name = v.name || '@' || v.version ORDER BY 1"
)


@dataclass(frozen=True)
class Lag:
    """How far a follower of the log is behind its head, in events and in seconds."""

    name: str
    events: int
    seconds: float


@dataclass(frozen=True)
class Backlog:
    log_head: int
    views: list[Lag]
    policies: list[Lag]
    failing_views: dict[str, str]
    pending_approvals: int
    pending_approval_fen: int
    failing_policies: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Readiness:
    """The position every live view has reached; the views and policies that are failing."""

    position: int
    failing_views: dict[str, str]
    failing_policies: dict[str, str]


class Operations:
    """Reads for probes and scrapes: each waits at most ``timeout_s`` for a connection and for
    its answer, so that an unreachable database gives a quick "no", not a hung probe."""

    def __init__(self, pool: ConnectionPool, timeout_s: float, policies: list[str]) -> None:
        self.pool = pool
        self.timeout_s = timeout_s
        self.policies = policies

    @contextmanager
    def _connection(self) -> Iterator[Connection[Any]]:
        with self.pool.connection(timeout=self.timeout_s) as conn, conn.transaction():
            conn.execute(f"SET LOCAL statement_timeout = {int(self.timeout_s * 1000)}")
            yield conn

    def readiness(self) -> Readiness:
        with self._connection() as conn:
            rows = conn.execute(_LIVE).fetchall()
            policies = dict(conn.execute(_FAILING_POLICIES, (self.policies,)).fetchall())
        position = min((p for _, p, _ in rows), default=0)
        failing = {name: error for name, _, error in rows if error is not None}
        return Readiness(position, failing, policies)

    def backlog(self) -> Backlog:
        with self._connection() as conn:
            head = conn.execute("SELECT coalesce(max(notification_id), 0) FROM ledger_events")
            log_head = head.fetchone()[0]  # type: ignore[index]
            views, failing = [], {}
            for name, events, seconds, error in conn.execute(_VIEW_LAG).fetchall():
                views.append(Lag(name, events, float(seconds or 0)))
                if error is not None:
                    failing[name] = error
            policies = [
                Lag(name, events, float(seconds or 0))
                for name, events, seconds in conn.execute(_POLICY_LAG, (self.policies,)).fetchall()
            ]
            count, fen = _pending_approvals(conn)
            stopped = dict(conn.execute(_FAILING_POLICIES, (self.policies,)).fetchall())
        return Backlog(log_head, views, policies, failing, count, fen, stopped)


def _pending_approvals(conn: Connection[Any]) -> tuple[int, int]:
    # Read the commissions view's live version; the shared switch lock keeps a rebuild from
    # dropping its tables under this transaction.
    conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", (SWITCH_LOCK,))
    found = conn.execute(
        "SELECT schema_name FROM projection_versions WHERE name = 'commissions'"
    ).fetchone()
    if found is None:
        return 0, 0
    row = conn.execute(
        f'SELECT count(*), coalesce(sum(amount_fen), 0) FROM "{found[0]}".unfreeze_requests'
        " WHERE decision IS NULL"
    ).fetchone()
    return (row[0], int(row[1])) if row else (0, 0)
