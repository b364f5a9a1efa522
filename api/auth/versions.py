"""The latest version of a user's record, read on the event loop (decision 0041).

Every request with an embedded token reads it (api/auth/authenticator.py), so that a disabled
user or a changed role applies on the very next request. Read through the event store from a
worker thread it cost a thread hop and the library's statement building on each request (about
a third of `{ __typename }`'s CPU). Here the requests waiting at one moment share one statement on
one connection of the event loop's own: a request joins the next statement sent, never one
already sent, so what it reads was read after it arrived (every change committed before it
is seen). The connection autocommits: a read-only statement leaves nothing to roll back.
"""

import asyncio
import uuid

import psycopg
from psycopg import sql

_MOST_AT_ONCE = 1_000  # ids in one statement
_CONNECT_SECONDS = 5  # then the request reads through the event store (which retries)
# A read that gets no answer (a connection dropped without a reset, a lock held on the events
# table) fails its waiting requests over to the event store instead of holding every
# authenticated request of the loop behind it; the connection is replaced.
_READ_SECONDS = 5.0


class UserVersions:
    """Latest versions of aggregates in the ledger's events table."""

    def __init__(
        self, dsn: str, schema: str, table: str, read_seconds: float = _READ_SECONDS
    ) -> None:
        self.dsn = dsn
        self.read_seconds = read_seconds
        self.text = (
            sql.SQL(
                "SELECT i.id, (SELECT e.originator_version FROM {}.{} e"
                " WHERE e.originator_id = i.id ORDER BY e.originator_version DESC LIMIT 1)"
                " FROM unnest(%s::uuid[]) AS i(id)"
            )
            .format(sql.Identifier(schema), sql.Identifier(table))
            .as_string()
        )
        self._waiting: dict[uuid.UUID, list[asyncio.Future[int | None]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._conn: psycopg.AsyncConnection | None = None
        self._closed = False

    @classmethod
    def of(cls, dsn: str, recorder: object) -> "UserVersions":
        """For the ledger's own recorder (its schema and events table)."""
        schema = recorder.datastore.schema  # type: ignore[attr-defined]
        return cls(dsn, schema, recorder.events_table_name)  # type: ignore[attr-defined]

    async def close(self) -> None:
        self._closed = True
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
        if self._conn is not None:
            await self._conn.close()

    async def version_of(self, originator_id: uuid.UUID) -> int | None:
        """None: no such aggregate. Raises psycopg.Error when the database cannot answer."""
        if self._closed:
            raise psycopg.InterfaceError("the user versions' reader is closed")
        found: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(originator_id, []).append(found)
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read_while_waiting())
        return await found

    async def _read_while_waiting(self) -> None:
        while self._waiting:
            ids = list(self._waiting)[:_MOST_AT_ONCE]
            batch = {i: self._waiting.pop(i) for i in ids}
            try:
                versions = await self._read(ids)
            except Exception as exc:
                for futures in batch.values():
                    for f in futures:
                        if not f.done():
                            f.set_exception(exc)
                continue
            for i, futures in batch.items():
                for f in futures:
                    if not f.done():
                        f.set_result(versions.get(i))

    async def _read(self, ids: list[uuid.UUID]) -> dict[uuid.UUID, int | None]:
        """One statement; a connection the server dropped is replaced and tried once more (one
        that did not answer in time is replaced, and the waiting requests read elsewhere)."""
        for attempt in (1, 2):
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = await psycopg.AsyncConnection.connect(
                        self.dsn,
                        autocommit=True,
                        application_name="fenrun-auth",
                        connect_timeout=_CONNECT_SECONDS,
                    )
                return await asyncio.wait_for(self._statement(self._conn, ids), self.read_seconds)
            except (psycopg.OperationalError, TimeoutError) as exc:
                if self._conn is not None:
                    await self._conn.close()
                self._conn = None
                if attempt == 2 or isinstance(exc, TimeoutError):  # no second wait
                    raise
        raise AssertionError("not reached")

    async def _statement(
        self, conn: psycopg.AsyncConnection, ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, int | None]:
        cursor = await conn.execute(self.text, (ids,))  # type: ignore[arg-type]
        return {row[0]: row[1] for row in await cursor.fetchall()}
