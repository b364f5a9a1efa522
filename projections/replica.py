"""Which server answers a pinned read: a streaming replica where it has caught up, else the
primary (decision 0023).

A request pins its log position on the primary, as it always has: the newest position the
primary's views have processed, one cheap query. A mutation catches the primary's views up
before it answers, so any read after it pins at least its position: reads see their writes.
The replica answers a read at position P only once its own copy of the views has processed P:
every live view's tracking row there is at or past P. Views write their rows and their tracking
row in one transaction, and a physical replica replays transactions whole and in commit order,
so such a replica holds, at or below P, exactly the rows the primary holds: the same answer,
from either server. Otherwise, or while the replica does not answer, the primary does.
"""

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime

import psycopg
import structlog

from projections.queries import PRIMARY, REPLICA, VIEWS, Pinned, ReadModel

log = structlog.get_logger(__name__)

# How long a pin waits for a connection to the replica before the primary answers instead, and
# how long the replica is then left alone, so that a replica that is down costs one request a
# short wait now and then, not every request a long one.
REPLICA_WAIT_S = 0.5
REPLICA_RETRY_S = 5.0

# PostgreSQL's own replay delay: how long ago the last replayed transaction committed on the
# primary, or 0 when the replica has replayed all it has received (an idle primary is no lag).
_REPLAY_DELAY = (
    "SELECT CASE WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn()"
    " THEN 0 ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0)"
    " END::float8"
)


@dataclass(frozen=True)
class ReplicaLag:
    """How far the replica is behind: in log positions its views have yet to process (compared
    with the primary's views), and in seconds of replay."""

    events: int
    seconds: float


def _ignore(server: str, reason: str) -> None:
    pass


class ReadRouter:
    """Pins reads on the primary and routes each to the replica when it has caught up."""

    def __init__(
        self,
        primary: ReadModel,
        replica: ReadModel | None = None,
        *,
        observe: Callable[[str, str], None] = _ignore,
        wait_s: float = REPLICA_WAIT_S,
        retry_after_s: float = REPLICA_RETRY_S,
    ) -> None:
        self.primary = primary
        self.replica = replica
        self.observe = observe  # (server, reason) of each pinned read, for the metrics
        self.wait_s = wait_s
        self.retry_after_s = retry_after_s
        self._resting_until = 0.0  # the replica did not answer: the primary answers until then

    def model(self, server: str) -> ReadModel:
        """The copy of the views a pin's server names."""
        if server == REPLICA and self.replica is not None:
            return self.replica
        return self.primary

    def pin(
        self,
        as_of: datetime | None = None,
        position: int | None = None,
        views: Iterable[str] = VIEWS,
    ) -> Pinned:
        """Resolves the read position on the primary, then picks the server that answers it."""
        pinned = self.primary.pin(as_of, position, views)
        server, reason = self._route(pinned.position)
        self.observe(server, reason)
        return replace(pinned, server=server)

    def _route(self, position: int) -> tuple[str, str]:
        if self.replica is None:
            return PRIMARY, "no_replica"
        if time.monotonic() < self._resting_until:
            return PRIMARY, "replica_unreachable"
        try:
            reached = self.replica.caught_up(wait_s=self.wait_s)
        except psycopg.Error as exc:  # the pool's timeout included
            self._resting_until = time.monotonic() + self.retry_after_s
            log.warning("replica.unreachable", error=str(exc), retry_after_s=self.retry_after_s)
            return PRIMARY, "replica_unreachable"
        if reached >= position:
            return REPLICA, "caught_up"
        return PRIMARY, "replica_behind"

    def lag(self) -> ReplicaLag | None:
        """The replica's lag (None without one); raises when either server does not answer in
        time (a scrape must not wait for a replica that is down)."""
        if self.replica is None:
            return None
        primary_at = self.primary.caught_up(wait_s=self.wait_s)
        replica_at = self.replica.caught_up(wait_s=self.wait_s)
        with self.replica.pool.connection(self.wait_s) as conn:
            row = conn.execute(_REPLAY_DELAY).fetchone()
        seconds = float(row[0]) if row else 0.0
        return ReplicaLag(max(primary_at - replica_at, 0), seconds)
