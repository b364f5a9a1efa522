"""Runs views over the notification log in batches, exactly once.

Each batch is one transaction: the views' rows and their new positions commit together. The
tracking rows are locked FOR UPDATE first, so two workers on the same views never both apply an
event: the second waits, then sees the advanced positions and reads on from there.

Views are versioned (blue/green): a live runner writes each view's active version, found in
projection_versions at the start of every batch; a rebuild runner writes one new version in its
own schema. Every batch holds the switch lock shared, so a switch never happens mid-batch.
"""

from collections.abc import Callable, Sequence
from typing import Any

import structlog
from eventsourcing.persistence import StoredEvent
from psycopg import Connection, Cursor
from psycopg_pool import ConnectionPool

from projections.views import Names, Position, View

log = structlog.get_logger(__name__)
Decode = Callable[[StoredEvent], Any]
SWITCH_LOCK = 0x46454E53  # "FENS": held shared by every batch and read, exclusively by a switch


def tracking_name(view: str, version: int) -> str:
    return f"{view}@{version}"


def use_schemas(cur: Cursor[Any], schemas: Sequence[str]) -> None:
    """Search path for this transaction: the given schemas first, then public."""
    path = [s for s in dict.fromkeys(schemas) if s != "public"] + ["public"]
    cur.execute("SELECT set_config('search_path', %s, true)", (",".join(f'"{s}"' for s in path),))


class ProjectionRunner:
    def __init__(
        self,
        pool: ConnectionPool,
        decode: Decode,
        views: Sequence[View],
        batch_size: int = 1000,
        *,
        target: tuple[int, str] | None = None,
    ) -> None:
        """target: (version, schema) to build instead of the live versions (rebuilds)."""
        self.pool = pool
        self.decode = decode
        self.views = list(views)
        self.batch_size = batch_size
        self.target = target
        self.names = next((v.names for v in self.views), Names())

    @property
    def view_names(self) -> list[str]:
        return [v.name for v in self.views]

    def _targets(self, cur: Cursor[Any]) -> dict[str, tuple[int, str]]:
        if self.target is not None:
            return dict.fromkeys(self.view_names, self.target)
        cur.execute(
            "SELECT name, version, schema_name FROM projection_versions WHERE name = ANY(%s)",
            (self.view_names,),
        )
        found = {name: (version, schema) for name, version, schema in cur.fetchall()}
        missing = set(self.view_names) - set(found)
        if missing:
            raise LookupError(f"views without a version (migrate first): {sorted(missing)}")
        return found

    def run_until_idle(self) -> int:
        total = 0
        while processed := self.run_once():
            total += processed
        return total

    def run_once(self, conn: Connection[Any] | None = None) -> int:
        """One batch. With `conn`, inside that connection's transaction (a rebuild's switch)."""
        if conn is not None:
            with conn.transaction(), conn.cursor() as cur:
                return self._batch(cur)
        with self.pool.connection() as own, own.transaction(), own.cursor() as cur:
            return self._batch(cur)

    def _batch(self, cur: Cursor[Any]) -> int:
        cur.execute("SELECT pg_advisory_xact_lock_shared(%s)", (SWITCH_LOCK,))
        targets = self._targets(cur)
        use_schemas(cur, [schema for _, schema in targets.values()])
        tracking = {name: tracking_name(name, version) for name, (version, _) in targets.items()}
        cur.executemany(
            "INSERT INTO public.projection_tracking (name) VALUES (%s) ON CONFLICT DO NOTHING",
            [(t,) for t in tracking.values()],
        )
        cur.execute(
            "SELECT name, position FROM public.projection_tracking WHERE name = ANY(%s)"
            " ORDER BY name FOR UPDATE",
            (list(tracking.values()),),
        )
        by_tracking = dict(cur.fetchall())
        positions = {name: by_tracking[t] for name, t in tracking.items()}
        start = min(positions.values())
        cur.execute(
            "SELECT notification_id, originator_id, originator_version, topic, state,"
            " recorded_at FROM public.ledger_events WHERE notification_id > %s"
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
            self.names.learn(event)
            at = Position(notification_id, recorded_at)
            for view in self.views:
                if notification_id > positions[view.name] and view.handles(event):
                    view.apply(event, at)
        self.names.flush(cur)
        for view in self.views:
            view.flush(cur)
        cur.execute(
            "UPDATE public.projection_tracking SET position = GREATEST(position, %s),"
            " updated_at = now(), last_error = NULL WHERE name = ANY(%s)",
            (rows[-1][0], list(tracking.values())),
        )
        return len(rows)

    def record_error(self, error: BaseException) -> None:
        with self.pool.connection() as conn:
            conn.execute(
                "UPDATE projection_tracking SET last_error = %s"
                " WHERE split_part(name, '@', 1) = ANY(%s)",
                (f"{type(error).__name__}: {error}"[:2000], self.view_names),
            )
