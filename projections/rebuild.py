"""Rebuild a view without downtime, and report every view's progress.

A rebuild creates version N+1 of the view's tables in a schema of its own, fills it from the
log with its own tracking row (so a crashed rebuild resumes where it stopped), keeps it catching
up, and when it is close to the live version switches in one transaction: take the switch lock
exclusively (waiting for in-flight reads and batches), project the last events, point
projection_versions at the new schema, drop the old tables. Readers never see a half switch.
Several views rebuild together in one pass over the log (rebuild_views): one runner builds
each one's next version, and they switch in the same transaction.
"""

import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from projections.chain import ChainVerifier
from projections.runner import SWITCH_LOCK, ProjectionRunner, tracking_name
from projections.views import View


@dataclass(frozen=True)
class Progress:
    version: int
    position: int
    head: int
    events_per_second: float


def _schema(view: str, version: int) -> str:
    return f"proj_{view}_v{version}"


def _live(pool: ConnectionPool, name: str) -> tuple[int, str]:
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT version, schema_name FROM projection_versions WHERE name = %s", (name,)
        ).fetchone()
    if row is None:
        raise LookupError(f"no view named '{name}'")
    return row[0], row[1]


def prepare(pool: ConnectionPool, view: View) -> tuple[int, str]:
    """Creates (or finds, after a crash) the next version's schema and tables."""
    version, schema = _live(pool, view.name)
    new_version, new_schema = version + 1, _schema(view.name, version + 1)
    with pool.connection() as conn, conn.transaction():
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{new_schema}"')
        for table in view.tables:
            conn.execute(
                f'CREATE TABLE IF NOT EXISTS "{new_schema}".{table}'
                f' (LIKE "{schema}".{table} INCLUDING ALL)'
            )
        conn.execute(
            "INSERT INTO projection_tracking (name) VALUES (%s) ON CONFLICT DO NOTHING",
            (tracking_name(view.name, new_version),),
        )
    return new_version, new_schema


def rebuild(
    pool: ConnectionPool,
    decode: Callable[..., Any],
    view: View,
    batch_size: int = 2000,
    close_enough: int = 500,
    progress: Callable[[Progress], None] | None = None,
    around_batch: Callable[[], AbstractContextManager[Any]] = nullcontext,
) -> int:
    """Builds the next version beside the live one and switches to it; returns that version.

    Raises ChainBroken, before it builds or switches, when the log does not match its hash
    chain: a view rebuilt from edited history would serve the edit as truth. Raises ViewFailed
    when the view fails on an event: nothing is switched (the next rebuild resumes the build).
    """
    return rebuild_views(pool, decode, [view], batch_size, close_enough, progress, around_batch)[
        view.name
    ]


def rebuild_views(
    pool: ConnectionPool,
    decode: Callable[..., Any],
    views: Sequence[View],
    batch_size: int = 2000,
    close_enough: int = 500,
    progress: Callable[[Progress], None] | None = None,
    around_batch: Callable[[], AbstractContextManager[Any]] = nullcontext,
) -> dict[str, int]:
    """rebuild() for several views in one pass over the log: each view's next version, all
    switched in one transaction; returns each view's new version. A view that fails stops
    them all (ViewFailed), nothing switched. Progress: the version of the first view.
    around_batch: what each batch runs in, as the live runner's (the cyclic collector paused)."""
    chain = ChainVerifier(pool)
    chain.verify_or_raise()
    targets = {view.name: prepare(pool, view) for view in views}
    builder = ProjectionRunner(
        pool, decode, views, batch_size, target=targets, around_batch=around_batch
    )
    first = targets[views[0].name][0]
    started, done = time.monotonic(), 0
    while True:
        done += builder.run_once()
        position, head = _position(pool, targets), _head(pool)
        if progress:
            rate = done / max(time.monotonic() - started, 1e-6)
            progress(Progress(first, position, head, rate))
        if head - position <= close_enough:
            break
    chain.verify_or_raise()  # the events written during the build, before readers see them
    _switch(pool, builder, views, targets)
    return {name: version for name, (version, _) in targets.items()}


def _switch(
    pool: ConnectionPool,
    builder: ProjectionRunner,
    views: Sequence[View],
    targets: dict[str, tuple[int, str]],
) -> None:
    olds = {view.name: _live(pool, view.name) for view in views}
    with pool.connection() as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (SWITCH_LOCK,))
        while builder.run_once(conn):  # nothing else projects while we hold the lock
            pass
        for view in views:
            (new_version, new_schema), (old_version, old_schema) = (
                targets[view.name],
                olds[view.name],
            )
            conn.execute(
                "UPDATE projection_versions SET version = %s, schema_name = %s WHERE name = %s",
                (new_version, new_schema, view.name),
            )
            if old_schema == "public":
                for table in view.tables:
                    conn.execute(f"DROP TABLE public.{table}")
            else:
                conn.execute(f'DROP SCHEMA "{old_schema}" CASCADE')
            conn.execute(
                "DELETE FROM projection_tracking WHERE name = %s",
                (tracking_name(view.name, old_version),),
            )


def _position(pool: ConnectionPool, targets: dict[str, tuple[int, str]]) -> int:
    """Where the slowest of the versions being built is."""
    names = [tracking_name(name, version) for name, (version, _) in targets.items()]
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT min(position) FROM projection_tracking WHERE name = ANY(%s)", (names,)
        ).fetchone()
    return row[0] if row and row[0] is not None else 0


def _head(pool: ConnectionPool) -> int:
    with pool.connection() as conn:
        row = conn.execute("SELECT coalesce(max(notification_id), 0) FROM ledger_events").fetchone()
    return row[0] if row else 0


def status(pool: ConnectionPool) -> list[dict[str, Any]]:
    """Each view: live version, position, lag in events and seconds, last error; and builds."""
    with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "WITH head AS (SELECT coalesce(max(notification_id), 0) AS head,"
            "  max(recorded_at) AS head_at FROM ledger_events)"
            " SELECT split_part(t.name, '@', 1) AS view, split_part(t.name, '@', 2)::int"
            "  AS version, v.version = split_part(t.name, '@', 2)::int AS live, t.position,"
            "  head.head - t.position AS lag_events,"
            "  extract(epoch FROM head.head_at - coalesce(e.recorded_at, head.head_at))"
            "  AS lag_seconds, t.updated_at, t.last_error, t.failed_position, t.retry_at"
            " FROM projection_tracking t CROSS JOIN head"
            " JOIN projection_versions v ON v.name = split_part(t.name, '@', 1)"
            " LEFT JOIN ledger_events e ON e.notification_id = t.position + 1"
            " ORDER BY 1, 2"
        )
        rows = cur.fetchall()
    for row in rows:
        row["lag_seconds"] = float(row["lag_seconds"] or 0)
    return rows


def describe(row: dict[str, Any]) -> str:
    updated: datetime = row["updated_at"]
    state = "live" if row["live"] else "building"
    error = f" error: {row['last_error']}" if row["last_error"] else ""
    if row.get("failed_position") is not None:
        error = (
            f" STOPPED before the event at {row['failed_position']} (tried again at"
            f" {row['retry_at']:%Y-%m-%d %H:%M:%S}; rebuild it once its code is fixed){error}"
        )
    return (
        f"{row['view']} v{row['version']} ({state}) at {row['position']}, lag "
        f"{row['lag_events']} events / {row['lag_seconds']:.1f}s,"
        f" updated {updated:%Y-%m-%d %H:%M:%S}{error}"
    )
