"""Runs views over the notification log in batches, exactly once; a view's failure is its own.

Each batch is one transaction: the views' rows and their new positions commit together. The
tracking rows are locked FOR UPDATE first, so two workers on the same views never both apply an
event: the second waits, then sees the advanced positions and reads on from there.

A view that fails does not take the others down (decision 0019). A batch first runs every view
at once; if that fails for any reason but a lost connection (which fails the batch, tried again
next time), the batch runs again with each view in a savepoint of its own. A view that fails
there runs event by event to find the event it fails on: it stops just before it, with the error
and that position recorded on its tracking row, and live runs skip it until its retry time
(backoff from 30 s to an hour) or until a process starts (its code may have been fixed); a
rebuild of the view starts a version without the failure. The other views carry on.

Views remember rows across batches (the latest balances of a wallet, a card's state): before a
batch, a view whose tracking row is where this runner's last committed batch left it keeps its
memory (nobody else wrote its tables since, nothing was rolled back: View.remembers, on the view
since runners may share views); any other view forgets it (View.forget), and a view whose
tables are empty knows that a key it never saw has no rows, without asking.

Views are versioned (blue/green): a live runner writes each view's active version, found in
projection_versions at the start of every batch; a rebuild runner writes one new version in its
own schema, and raises ViewFailed instead of stopping the view. Every batch holds the switch
lock shared, so a switch never happens mid-batch.
"""

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import psycopg
import structlog
from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.utils import resolve_topic
from psycopg import Connection, Cursor
from psycopg_pool import ConnectionPool

from projections.views import Names, Position, View

log = structlog.get_logger(__name__)
TRANSIENT = (psycopg.OperationalError, psycopg.InterfaceError, OperationalError, InterfaceError)
Decode = Callable[[StoredEvent], Any]
SWITCH_LOCK = 0x46454E53  # "FENS": held shared by every batch and read, exclusively by a switch
_ERROR_LENGTH = 2000


def tracking_name(view: str, version: int) -> str:
    return f"{view}@{version}"


def use_schemas(cur: Cursor[Any], schemas: Sequence[str]) -> None:
    """Search path for this transaction: the given schemas first, then public."""
    path = [s for s in dict.fromkeys(schemas) if s != "public"] + ["public"]
    cur.execute("SELECT set_config('search_path', %s, true)", (",".join(f'"{s}"' for s in path),))


def is_transient(error: BaseException) -> bool:
    """A lost or refused connection, a timeout, a deadlock: nothing to do with the events, so
    the batch is tried again as it was, and no view is stopped for it. (The library's own
    classes too: decoding an old event may read its aggregate's first events through it.)"""
    return isinstance(error, TRANSIENT)


def describe_error(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:_ERROR_LENGTH]


class ViewFailed(Exception):
    """A view failed on an event while being rebuilt: the rebuild stops, nothing is switched."""

    def __init__(self, view: str, position: int, error: BaseException) -> None:
        super().__init__(f"view {view} fails on the event at position {position}: {error}")
        self.view, self.position = view, position


@dataclass(frozen=True)
class _Undecodable:
    """An event that did not decode: it fails every view that would handle its class."""

    event_class: type | None
    error: Exception


@dataclass
class _Tracking:
    name: str
    position: int
    failed_position: int | None
    failures: int
    due: bool  # not stopped, or its retry time has come


class ProjectionRunner:
    def __init__(
        self,
        pool: ConnectionPool,
        decode: Decode,
        views: Sequence[View],
        batch_size: int = 1000,
        *,
        target: tuple[int, str] | dict[str, tuple[int, str]] | None = None,
        retry_seconds: tuple[float, float] = (30.0, 3600.0),
        around_batch: Callable[[], AbstractContextManager[Any]] = nullcontext,
    ) -> None:
        """target: (version, schema) to build instead of the live versions (rebuilds), or one
        per view name (a rebuild of several views in one pass over the log).
        retry_seconds: the first and the longest wait before a stopped view is tried again.
        around_batch: what each batch runs in (the composition root pauses the cyclic
        collector: application/collector.py)."""
        self.pool = pool
        self.decode = decode
        self.views = list(views)
        self.batch_size = batch_size
        self.target = target
        self.retry_seconds = retry_seconds
        self.around_batch = around_batch
        self.names = next((v.names for v in self.views), Names())
        self._started = True  # the first batch of a process retries stopped views at once
        # Each view of the batch in flight and where its memory will be once that commits.
        self._committing: list[tuple[View, tuple[str, int]]] = []

    @property
    def view_names(self) -> list[str]:
        return [v.name for v in self.views]

    def _targets(self, cur: Cursor[Any]) -> dict[str, tuple[int, str]]:
        if isinstance(self.target, dict):
            return {name: self.target[name] for name in self.view_names}
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
        with self.around_batch():
            return self._run_once(conn)

    def _run_once(self, conn: Connection[Any] | None) -> int:
        if conn is not None:  # a savepoint of the caller's transaction: nothing committed yet
            with conn.transaction(), conn.cursor() as cur:
                return self._batch(cur, isolated=True)
        try:
            with self.pool.connection() as own, own.transaction(), own.cursor() as cur:
                done = self._batch(cur, isolated=False)
            self._committed()
            return done
        except Exception as exc:
            if is_transient(exc):
                raise
            log.warning(
                "projections.batch_failed", error=describe_error(exc), views=self.view_names
            )
        with self.pool.connection() as own, own.transaction(), own.cursor() as cur:
            done = self._batch(cur, isolated=True)
        self._committed()
        return done

    def _committed(self) -> None:
        for view, mark in self._committing:
            view.remembers = mark
        self._committing = []

    def _batch(self, cur: Cursor[Any], *, isolated: bool) -> int:
        self._committing = []
        cur.execute("SELECT pg_advisory_xact_lock_shared(%s)", (SWITCH_LOCK,))
        targets = self._targets(cur)
        use_schemas(cur, [schema for _, schema in targets.values()])
        tracking = self._tracking(cur, targets)
        active = [v for v in self.views if tracking[v.name].due]
        if not active:
            return 0
        cur.execute(
            "SELECT notification_id, originator_id, originator_version, topic, state,"
            " recorded_at FROM public.ledger_events WHERE notification_id > %s"
            " ORDER BY notification_id LIMIT %s",
            (min(tracking[v.name].position for v in active), self.batch_size),
        )
        rows = cur.fetchall()
        if not rows:
            return 0
        self.names.cur = cur
        events = [self._decoded(row) for row in rows]
        if isolated:
            self.names.flush_each(cur)
        else:
            self.names.flush(cur)
        advanced = []
        todos = _todos(active, tracking, events)
        for view in active:
            mine = tracking[view.name]
            todo = todos[view.name]
            if view.remembers != (mine.name, mine.position):
                # Emptiness asked only of a view that has applied nothing (a new version):
                # a live view that forgets (another worker wrote) is not asked every batch.
                view.forget(mine.position == 0 and _empty(cur, view))
            view.remembers = None  # until this batch commits
            mark = (mine.name, max(mine.position, rows[-1][0]))
            if not isolated:
                _apply(cur, view, todo)
                advanced.append(mine.name)
            elif self._apply_alone(cur, view, todo, mine):
                advanced.append(mine.name)
            else:
                continue
            self._committing.append((view, mark))
        cur.execute(
            "UPDATE public.projection_tracking SET position = GREATEST(position, %s),"
            " updated_at = now(), last_error = NULL, failed_position = NULL, failed_at = NULL,"
            " failures = 0, retry_at = NULL WHERE name = ANY(%s)",
            (rows[-1][0], advanced),
        )
        self._started = False
        return len(rows)

    def _tracking(self, cur: Cursor[Any], targets: dict[str, tuple[int, str]]) -> dict[str, Any]:
        names = {name: tracking_name(name, version) for name, (version, _) in targets.items()}
        cur.executemany(
            "INSERT INTO public.projection_tracking (name) VALUES (%s) ON CONFLICT DO NOTHING",
            [(t,) for t in names.values()],
        )
        cur.execute(
            "SELECT name, position, failed_position, failures,"
            " failed_position IS NULL OR retry_at <= now() OR %s"
            " FROM public.projection_tracking WHERE name = ANY(%s) ORDER BY name FOR UPDATE",
            (self._started, list(names.values())),
        )
        found = {row[0]: _Tracking(*row) for row in cur.fetchall()}
        return {view: found[name] for view, name in names.items()}

    def _decoded(self, row: tuple[Any, ...]) -> tuple[Position, Any]:
        notification_id, oid, version, topic, state, recorded_at = row
        try:
            event = self.decode(StoredEvent(oid, version, topic, bytes(state)))
        except Exception as exc:
            if is_transient(exc):
                raise
            log.error("projections.undecodable", position=notification_id, error=str(exc))
            return Position(notification_id, recorded_at), _Undecodable(_class_of(topic), exc)
        self.names.learn(event)
        return Position(notification_id, recorded_at), event

    def _apply_alone(
        self, cur: Cursor[Any], view: View, todo: list[tuple[Position, Any]], mine: _Tracking
    ) -> bool:
        """The view's batch in a savepoint of its own. If it fails: event by event, each in its
        own savepoint, up to the event it fails on; the view stops just before that event."""
        try:
            with cur.connection.transaction():
                _apply(cur, view, todo)
            return True
        except Exception as exc:
            if is_transient(exc) or cur.connection.broken:
                raise
            log.warning("projections.view_failed", view=view.name, error=describe_error(exc))
        for at, event in todo:
            view.forget(False)  # what it remembers may come from the rolled-back attempt
            try:
                with cur.connection.transaction():
                    _apply(cur, view, [(at, event)])
            except Exception as exc:
                if is_transient(exc) or cur.connection.broken:
                    raise
                self._stop(cur, view, mine, at.position, exc)
                return False
        log.warning("projections.failure_not_reproduced", view=view.name)
        return True

    def _stop(
        self, cur: Cursor[Any], view: View, mine: _Tracking, failed: int, error: Exception
    ) -> None:
        if self.target is not None:
            raise ViewFailed(view.name, failed, error) from error
        failures = mine.failures + 1 if mine.failed_position == failed else 1
        first, most = self.retry_seconds
        wait = min(most, first * 2 ** (failures - 1))
        cur.execute(
            "UPDATE public.projection_tracking SET position = %s, updated_at = now(),"
            " last_error = %s, failed_position = %s, failed_at = now(), failures = %s,"
            " retry_at = now() + make_interval(secs => %s) WHERE name = %s",
            (failed - 1, describe_error(error), failed, failures, wait, mine.name),
        )
        log.error(
            "projections.view_stopped",
            view=view.name,
            failed_position=failed,
            failures=failures,
            retry_in_seconds=wait,
            error=describe_error(error),
        )

    def record_error(self, error: BaseException) -> None:
        """A batch that failed as a whole (e.g. a lost connection): shown on the views until
        their next batch commits. A view stopped on an event keeps its own error."""
        with self.pool.connection() as conn:
            conn.execute(
                "UPDATE projection_tracking SET last_error = %s"
                " WHERE split_part(name, '@', 1) = ANY(%s) AND failed_position IS NULL",
                (describe_error(error), self.view_names),
            )


def _empty(cur: Cursor[Any], view: View) -> bool:
    """Whether none of the view's tables (in this batch's search path) holds a row."""
    if not view.tables:
        return False
    cur.execute(
        "SELECT " + " AND ".join(f"NOT EXISTS (SELECT FROM {table})" for table in view.tables)
    )
    row = cur.fetchone()
    return bool(row and row[0])


def _todos(
    views: list[View], tracking: dict[str, _Tracking], events: list[tuple[Position, Any]]
) -> dict[str, list[tuple[Position, Any]]]:
    """Each view's events of the batch, after its position: one pass over the batch, each
    event class asked once which views handle it."""
    todos: dict[str, list[tuple[Position, Any]]] = {view.name: [] for view in views}
    wanted: dict[type, list[tuple[list[tuple[Position, Any]], int]]] = {}
    for at, event in events:
        cls = type(event)
        targets = wanted.get(cls)
        if targets is None:
            targets = [
                (todos[view.name], tracking[view.name].position)
                for view in views
                if _handles(view, event)
            ]
            if cls is not _Undecodable:  # which views it fails depends on its class
                wanted[cls] = targets
        for todo, after in targets:
            if at.position > after:
                todo.append((at, event))
    return todos


def _handles(view: View, event: Any) -> bool:
    if isinstance(event, _Undecodable):
        return event.event_class is None or issubclass(event.event_class, view.event_types)
    return view.handles(event)


def _apply(cur: Cursor[Any], view: View, todo: list[tuple[Position, Any]]) -> None:
    view.begin(cur)
    for at, event in todo:
        if isinstance(event, _Undecodable):
            raise event.error
        view.apply(event, at)
    view.flush(cur)


def _class_of(topic: str) -> type | None:
    try:
        found = resolve_topic(topic)
    except Exception:
        return None
    return found if isinstance(found, type) else None
