"""The one reader of the ledger's log: by topic, by aggregate, and whole with recorded times.

- `LedgerRecorder`, the library's PostgreSQL process recorder plus the reads it has no call for
  (the histories of many aggregates in one query, which aggregates exist, events with their
  recorded time): the only SQL on the events table outside the library and the projection
  runner. Reads by topic are the library's `select_notifications(topics=...)`.
- `LedgerMapper`, the library's mapper that also fills what version-1 events lack (the sale of
  an order's completion or refund, a wallet event's agent) from the first events of their own
  aggregate (domain/log.py), read through the recorder once per page that needs any and kept in
  a bounded memory. Every reader of events, the repository and the views included, gets them
  whole (decision 0013).
- `LedgerLog`, the port the policies, the simulation and the auditor read through.
"""

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.persistence import (
    IntegrityError,
    InterfaceError,
    Mapper,
    Notification,
    OperationalError,
    StoredEvent,
)
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresDatastore,
    PostgresProcessRecorder,
)
from eventsourcing.utils import get_topic, retry
from psycopg.sql import SQL, Composed, Identifier, Literal

from application.outbox import PendingCommand, write_commands
from domain.log import FilledFromHistory, LoggedEvent

if TYPE_CHECKING:
    from application.ledger import Ledger

_PAGE = 10_000
_FIRST_EVENTS_KEPT = 50_000
APPLICATION_NAME = "fenrun-ledger"  # how the ledger's connections show in pg_stat_activity
# A policy's failure: counted while it fails on the same event, each retry waiting twice as long.
_RECORD_FAILURE = (
    "INSERT INTO policy_failures AS p (name, failed_position, last_error, retry_at)"
    " VALUES (%(name)s, %(failed)s, %(error)s, now() + make_interval(secs => %(first)s))"
    " ON CONFLICT (name) DO UPDATE SET"
    " failures = CASE WHEN p.failed_position = excluded.failed_position"
    "  THEN p.failures + 1 ELSE 1 END,"
    " retry_at = now() + make_interval(secs => CASE WHEN p.failed_position ="
    "  excluded.failed_position THEN least(%(most)s, %(first)s * power(2, p.failures))"
    "  ELSE %(first)s END),"
    " failed_position = excluded.failed_position, last_error = excluded.last_error,"
    " failed_at = now()"
    " RETURNING failures, extract(epoch FROM retry_at - now()) AS wait"
)


class LedgerRecorder(PostgresProcessRecorder):
    def __init__(
        self,
        datastore: PostgresDatastore,
        *,
        events_table_name: str = "stored_events",
        tracking_table_name: str = "notification_tracking",
    ) -> None:
        # Before the library's constructor opens the pool: every connection carries the name.
        datastore.pool.kwargs = {
            **(datastore.pool.kwargs or {}),
            "application_name": APPLICATION_NAME,
        }
        super().__init__(
            datastore, events_table_name=events_table_name, tracking_table_name=tracking_table_name
        )
        self._events = SQL("{}.{}").format(
            Identifier(datastore.schema), Identifier(events_table_name)
        )
        # Taken before every insert, in one round trip: the library's lock (inserts commit in
        # the order of their positions) and its notification to listeners.
        self._before_insert = SQL("; ").join(
            [*self.lock_table_statements, SQL("NOTIFY {}").format(Identifier(self.channel_name))]
        )
        # The library's insert sends one array of a composite type, dumped as text: every
        # event's state escaped by a regular expression (a tenth of a settlement file's import
        # and accrual, decision 0034). One array per column, sent binary, inserts the same rows
        # in the same order.
        self._insert_columns = SQL(
            "INSERT INTO {} (originator_id, originator_version, topic, state)"
            " SELECT * FROM unnest(%b::{}[], %b::bigint[], %b::text[], %b::bytea[])"
            " RETURNING notification_id"
        ).format(self._events, Identifier(datastore.originator_id_type))
        # A save with nothing else in its transaction (a command's: no tracking row, no outbox)
        # is this one statement, committed on its own (the pool's connections autocommit): one
        # round trip instead of four (BEGIN, lock and notify, insert, COMMIT). The table lock is
        # the one migration 0009's trigger takes before any insert, in the statement's
        # transaction; the notification is sent at its commit, as NOTIFY's is. It inserts
        # nothing unless the aggregates the command read unchecked are still at the versions
        # it read (KeptReads.unchecked; a statement's snapshot is taken before the lock, so
        # this is no weaker than the query of versions it replaces, which ran before the save).
        originator = Identifier(datastore.originator_id_type)
        moved = SQL(
            "SELECT FROM unnest(%b::{}[], %b::bigint[]) AS x(id, v) WHERE x.v <> coalesce("
            " (SELECT max(e.originator_version) FROM {} e WHERE e.originator_id = x.id), 0)"
        ).format(originator, self._events)
        self._insert_alone = SQL(
            "WITH notified AS (SELECT pg_notify({}, ''))"
            " INSERT INTO {} (originator_id, originator_version, topic, state)"
            " SELECT * FROM unnest(%b::{}[], %b::bigint[], %b::text[], %b::bytea[])"
            " WHERE (SELECT count(*) FROM notified) = 1 AND NOT EXISTS ({})"
            " RETURNING notification_id"
        ).format(Literal(self.channel_name), self._events, originator, moved)
        self._moved = moved  # the same check, in a save's transaction after its lock

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self,
        stored_events: Sequence[StoredEvent],
        *,
        outbox: Sequence[PendingCommand] = (),
        expected: dict[UUID, int] | None = None,
        **kwargs: Any,
    ) -> Any:
        """The library's insert (tracking row, lock, events, their positions), outside psycopg's
        pipeline mode: a pipeline whose last query does not fit the socket at once leaves the
        rest unsent and waits for a reply that never comes (psycopg#685; a save of 50,000 events
        hung every time). Measured: no slower for one-event saves (decision 0019).
        `expected`: aggregates read unchecked and the versions read; if one has moved, nothing
        is saved and IntegrityError is raised, as for a conflict (decision 0042).

        The library retries it after a lost connection; when the first attempt had committed,
        the retry fails on the events' keys (IntegrityError) and the caller must recognise its
        own write by its idempotency key (Ledger.execute), not re-decide it.
        """
        # The columns are made before the transaction: the table lock is then held for the
        # server's work only, and a large save never sits idle in its transaction past the
        # server's idle timeout while the client builds its parameters.
        columns = [
            [e.originator_id for e in stored_events],
            [e.originator_version for e in stored_events],
            [e.topic for e in stored_events],
            [e.state for e in stored_events],
        ]
        expect = [list(expected or ()), list((expected or {}).values())]
        if stored_events and kwargs.get("tracking") is None and not outbox and self._alone():
            with self.datastore.get_connection() as conn, conn.cursor() as curs:
                curs.execute(self._insert_alone, columns + expect)
                ids = self._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
            if len(ids or ()) != len(stored_events):
                raise IntegrityError(f"read at versions no longer current: {expected}")
            return ids
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            self._insert_events(curs, stored_events, **kwargs)  # the policy's tracking row
            if not stored_events:
                return None
            curs.execute(self._before_insert)
            if expected and curs.execute(self._moved, expect).fetchall():
                raise IntegrityError(f"read at versions no longer current: {expected}")
            curs.execute(self._insert_columns, columns)
            ids = self._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
            if outbox:  # commands decided by these events, in their transaction (decision 0026)
                write_commands(curs, outbox, ids or [])
            return ids

    def _alone(self) -> bool:
        """Whether a save may be its own statement: not with a lock timeout, which the
        library sets in the save's transaction (SET LOCAL) before it locks."""
        return not self.datastore.lock_timeout

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def position_of(self, originator_id: UUID, version: int = 1) -> int | None:
        """The log position of one event of an aggregate (None: not recorded)."""
        statement = SQL(
            "SELECT notification_id FROM {} WHERE originator_id = %s AND originator_version = %s"
        ).format(self._events)
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, [originator_id, version])
            row = curs.fetchone()
        return None if row is None else int(row["notification_id"])

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def record_policy_failure(
        self, name: str, failed_position: int, error: str, backoff: tuple[float, float]
    ) -> tuple[int, float]:
        """Records that a policy stopped before the event at `failed_position`; answers how
        many times in a row it failed there and how long to wait before trying again (from
        backoff's first wait, doubling, to its longest)."""
        first, most = backoff
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                _RECORD_FAILURE,
                {
                    "name": name,
                    "failed": failed_position,
                    "error": error,
                    "first": first,
                    "most": most,
                },
            )
            row = curs.fetchone()
        assert row is not None
        return int(row["failures"]), float(row["wait"])

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def clear_policy_failure(self, name: str, position: int) -> None:
        """The policy got past the event it had failed on."""
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                "DELETE FROM policy_failures WHERE name = %s AND failed_position <= %s",
                [name, position],
            )

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_histories(
        self,
        originator_ids: Iterable[UUID],
        *,
        stop: int | None = None,
        max_version: int | None = None,
    ) -> dict[UUID, list[StoredEvent]]:
        """The events of these aggregates (recorded at or before position `stop`, up to version
        `max_version`), in version order, in one query."""
        statement: Composed = SQL(
            "SELECT originator_id, originator_version, topic, state FROM {}"
            " WHERE originator_id = ANY(%s)"
        ).format(self._events)
        params: list[Any] = [list(originator_ids)]
        if stop is not None:
            statement += SQL(" AND notification_id <= %s")
            params.append(stop)
        if max_version is not None:
            statement += SQL(" AND originator_version <= %s")
            params.append(max_version)
        statement += SQL(" ORDER BY originator_id, originator_version")
        found: dict[UUID, list[StoredEvent]] = {}
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, params)
            for r in curs.fetchall():
                found.setdefault(r["originator_id"], []).append(
                    StoredEvent(
                        r["originator_id"], r["originator_version"], r["topic"], bytes(r["state"])
                    )
                )
        return found

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_positioned(self, originator_ids: Iterable[UUID], stop: int) -> list[Notification]:
        """The events of these aggregates recorded at or before position `stop`, with their
        positions, in log order (one query)."""
        statement = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {}"
            " WHERE originator_id = ANY(%s) AND notification_id <= %s ORDER BY notification_id"
        ).format(self._events)
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, [list(originator_ids), stop])
            return [
                Notification(
                    id=r["notification_id"],
                    originator_id=r["originator_id"],
                    originator_version=r["originator_version"],
                    topic=r["topic"],
                    state=bytes(r["state"]),
                )
                for r in curs.fetchall()
            ]

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_latest(self, topic: str, before: int, limit: int) -> list[tuple[int, UUID]]:
        """Positions and aggregate ids of the newest events of a topic before a position,
        newest first, without their state."""
        statement = SQL(
            "SELECT notification_id, originator_id FROM {} WHERE topic = %s"
            " AND notification_id < %s ORDER BY notification_id DESC LIMIT %s"
        ).format(self._events)
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, [topic, before, limit])
            return [(int(r["notification_id"]), r["originator_id"]) for r in curs.fetchall()]

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def recorded_besides(self, after: int, topic_prefixes: Sequence[str]) -> int | None:
        """None if an event whose topic starts with none of these was recorded after a
        position; else the newest position looked at (positions commit in order, so an event
        not seen now comes after it). Reads only the events after `after`."""
        statement = SQL(
            "SELECT max(notification_id) AS head,"
            " bool_or(NOT (topic LIKE ANY(%s))) AS other FROM {} WHERE notification_id > %s"
        ).format(self._events)
        patterns = [
            p.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            for p in topic_prefixes
        ]
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, [patterns, after])
            row = curs.fetchone()
        if row is None or row["head"] is None:
            return after
        return None if row["other"] else int(row["head"])

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_existing(self, originator_ids: Iterable[UUID]) -> set[UUID]:
        """Which of these aggregates were created (have a first event)."""
        statement = SQL(
            "SELECT originator_id FROM {} WHERE originator_id = ANY(%s) AND originator_version = 1"
        ).format(self._events)
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, [list(originator_ids)])
            return {r["originator_id"] for r in curs.fetchall()}

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_max_versions(self, originator_ids: Iterable[UUID]) -> dict[UUID, int]:
        """The latest version of each of these aggregates that exists (one query, one index
        probe each): how a reader checks that what it kept is still current."""
        statement = SQL(
            "SELECT k.id, (SELECT max(e.originator_version) FROM {} e"
            " WHERE e.originator_id = k.id) AS v FROM unnest(%s::uuid[]) AS k(id)"
        ).format(self._events)
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, [list(originator_ids)])
            return {r["id"]: int(r["v"]) for r in curs.fetchall() if r["v"] is not None}

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_recorded(
        self, after: int, stop: int, limit: int
    ) -> list[tuple[Notification, datetime]]:
        """Notifications after position `after` up to `stop`, with the time each was recorded."""
        statement = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state, recorded_at"
            " FROM {} WHERE notification_id > %s AND notification_id <= %s"
            " ORDER BY notification_id LIMIT %s"
        ).format(self._events)
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, [after, stop, limit])
            return [
                (
                    Notification(
                        id=r["notification_id"],
                        originator_id=r["originator_id"],
                        originator_version=r["originator_version"],
                        topic=r["topic"],
                        state=bytes(r["state"]),
                    ),
                    r["recorded_at"],
                )
                for r in curs.fetchall()
            ]


class SnapshotRecorder(PostgresAggregateRecorder):
    """The library's snapshot table, written with the states as binary parameters.

    The library sends a save's rows as one text array of a composite type, which escapes every
    byte of every state (a regular expression per value): for a wallet's snapshot of thousands
    of open lines that cost more than the rest of the policy's batch (decision 0037). One plain
    multi-row INSERT, not executemany: no pipeline (see LedgerRecorder.insert_events)."""

    def _insert_stored_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **_: Any
    ) -> None:
        table = SQL("{}.{}").format(
            Identifier(self.datastore.schema), Identifier(self.events_table_name)
        )
        rows = SQL(", ").join([SQL("(%s, %s, %s, %b)")] * len(stored_events))
        curs.execute(
            SQL("INSERT INTO {} (originator_id, originator_version, topic, state) VALUES ").format(
                table
            )
            + rows,
            [
                value
                for e in stored_events
                for value in (e.originator_id, e.originator_version, e.topic, e.state)
            ],
        )


class LedgerMapper(Mapper):
    """Decodes stored events whole: a version-1 event's missing facts come from the first events
    of its aggregate (an order's placement and completion, a wallet's opening)."""

    def __init__(self, transcoder: Any) -> None:
        super().__init__(transcoder)
        self.recorder: LedgerRecorder | None = None  # set once the application has made it
        self._first: dict[Any, list[Any]] = {}  # aggregate id -> its first events, decoded

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        event = Mapper.to_domain_event(self, stored_event)
        if isinstance(event, FilledFromHistory) and event.missing_facts():
            return event.filled(self._first_events([event])[event.originator_id])
        return event

    def decode_all(self, stored_events: Sequence[StoredEvent]) -> list[Any]:
        """Decodes a page of events, reading the first events their facts come from (if any
        lacks them) in one query."""
        events = [Mapper.to_domain_event(self, stored) for stored in stored_events]
        wanting = [
            i
            for i, event in enumerate(events)
            if isinstance(event, FilledFromHistory) and event.missing_facts()
        ]
        if wanting:
            first = self._first_events([events[i] for i in wanting])
            for i in wanting:
                events[i] = events[i].filled(first[events[i].originator_id])
        return events

    def _first_events(self, events: list[Any]) -> dict[Any, list[Any]]:
        """The first events of these events' aggregates, as many as the most demanding needs,
        read in one query for those not remembered."""
        needed = max(type(event).FIRST_EVENTS for event in events)
        found: dict[Any, list[Any]] = {}
        for event in events:
            known = self._first.get(event.originator_id)
            if known is not None and len(known) >= needed:
                found[event.originator_id] = known
        missing = {e.originator_id for e in events} - found.keys()
        if missing:
            if self.recorder is None:
                raise RuntimeError("a version-1 event needs the recorder to read its aggregate")
            read = self.recorder.select_histories(missing, max_version=needed)
            decoded = {
                originator_id: [Mapper.to_domain_event(self, s) for s in stored]
                for originator_id, stored in read.items()
            }
            if len(self._first) > _FIRST_EVENTS_KEPT:
                self._first.clear()
            self._first.update(decoded)
            found.update(decoded)
        return found


class LedgerLog:
    """The ledger's notification log for its readers: by topic, by aggregate, or whole."""

    def __init__(self, ledger: "Ledger") -> None:
        self.recorder: LedgerRecorder = ledger.recorder  # type: ignore[assignment]
        self.mapper: LedgerMapper = ledger.mapper  # type: ignore[assignment]

    def decode(self, notifications: Sequence[StoredEvent]) -> list[Any]:
        return self.mapper.decode_all(notifications)

    def pages(
        self, topics: Iterable[type], up_to: int, after: int = 0, size: int = _PAGE
    ) -> Iterator[Sequence[Notification]]:
        """The notifications of these event classes after `after` up to `up_to`, in pages."""
        names = sorted({get_topic(cls) for cls in topics})
        while page := self.recorder.select_notifications(
            after, size, stop=up_to, topics=names, inclusive_of_start=False
        ):
            yield page
            after = page[-1].id

    def events(self, topics: Iterable[type], up_to: int) -> Iterator[Any]:
        """The events of these classes recorded up to position `up_to`, in log order."""
        for page in self.pages(topics, up_to):
            yield from self.decode(page)

    def histories(
        self, originator_ids: Iterable[UUID], up_to: int
    ) -> dict[UUID, list[StoredEvent]]:
        """The stored histories of these aggregates as recorded up to a position (one query);
        decode them with `decode`."""
        return self.recorder.select_histories(originator_ids, stop=up_to)

    def existing(self, originator_ids: Iterable[UUID]) -> set[UUID]:
        return self.recorder.select_existing(originator_ids)

    def logged(self, up_to: int) -> Iterator[LoggedEvent]:
        """Every event up to a position, with its position and recorded time (the auditor)."""
        after = 0
        while after < up_to:
            page = self.recorder.select_recorded(after, up_to, _PAGE)
            if not page:
                return
            events = self.decode([notification for notification, _ in page])
            for (notification, recorded_at), event in zip(page, events, strict=True):
                yield LoggedEvent(notification.id, recorded_at, event)
            after = page[-1][0].id
