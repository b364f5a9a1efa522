"""Runs views over the notification log in batches, exactly once.

Each batch is one transaction: the views' rows and their new positions commit together. The
tracking rows are locked FOR UPDATE first, so two workers on the same views never both apply an
event: the second waits, then sees the advanced positions and reads on from there.
"""

from collections.abc import Callable, Sequence
from typing import Any

import structlog
from eventsourcing.persistence import StoredEvent
from psycopg_pool import ConnectionPool

from projections.views import Names, Position, View

log = structlog.get_logger(__name__)
Decode = Callable[[StoredEvent], Any]


class ProjectionRunner:
    def __init__(
        self, pool: ConnectionPool, decode: Decode, views: Sequence[View], batch_size: int = 1000
    ) -> None:
        self.pool = pool
        self.decode = decode
        self.views = list(views)
        self.batch_size = batch_size
        self.names = next((v.names for v in self.views), Names())

    @property
    def view_names(self) -> list[str]:
        return [v.name for v in self.views]

    def positions(self) -> dict[str, int]:
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT name, position FROM projection_tracking WHERE name = ANY(%s)",
                (self.view_names,),
            ).fetchall()
        found = dict(rows)
        return {name: found.get(name, 0) for name in self.view_names}

    def run_until_idle(self) -> int:
        total = 0
        while processed := self.run_once():
            total += processed
        return total

    def run_once(self) -> int:
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO projection_tracking (name) VALUES (%s) ON CONFLICT DO NOTHING",
                [(n,) for n in self.view_names],
            )
            cur.execute(
                "SELECT name, position FROM projection_tracking WHERE name = ANY(%s)"
                " ORDER BY name FOR UPDATE",
                (self.view_names,),
            )
            positions = dict(cur.fetchall())
            start = min(positions.values())
            cur.execute(
                "SELECT notification_id, originator_id, originator_version, topic, state,"
                " recorded_at FROM ledger_events WHERE notification_id > %s"
                " ORDER BY notification_id LIMIT %s",
                (start, self.batch_size),
            )
            rows = cur.fetchall()
            if not rows:
                return 0
            self.names.cur = cur
            for view in self.views:
                view.begin(cur)
            for notification_id, oid, version, topic, state, recorded_at in rows:
                event = self.decode(StoredEvent(oid, version, topic, bytes(state)))
                at = Position(notification_id, recorded_at)
                for view in self.views:
                    if notification_id > positions[view.name] and view.handles(event):
                        view.apply(event, at)
            self.names.flush(cur)
            for view in self.views:
                view.flush(cur)
            last = rows[-1][0]
            cur.execute(
                "UPDATE projection_tracking SET position = %s, updated_at = now(),"
                " last_error = NULL WHERE name = ANY(%s)",
                (last, self.view_names),
            )
            return len(rows)

    def record_error(self, error: BaseException) -> None:
        with self.pool.connection() as conn:
            conn.execute(
                "UPDATE projection_tracking SET last_error = %s WHERE name = ANY(%s)",
                (f"{type(error).__name__}: {error}", self.view_names),
            )
