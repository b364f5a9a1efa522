"""The latest version of a user's record, read on the event loop (decision 0041).

Every request with an embedded token reads it (api/auth/authenticator.py), so that a disabled
user or a changed role applies on the very next request. Read through the event store from a
worker thread it cost a thread hop and the library's statement building on each request (about
half of `{ __typename }`'s CPU); here it is one indexed statement, text built once, on a small
async pool of its own. The pool's connections autocommit: a read-only statement leaves nothing
to roll back when the connection goes back.
"""

import uuid

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool


class UserVersions:
    """Latest versions of aggregates in the ledger's events table."""

    def __init__(self, dsn: str, schema: str, table: str, max_size: int = 4) -> None:
        self.statement = sql.SQL(
            "SELECT originator_version FROM {}.{} WHERE originator_id = %s"
            " ORDER BY originator_version DESC LIMIT 1"
        ).format(sql.Identifier(schema), sql.Identifier(table))
        self.text = self.statement.as_string()
        self.pool = AsyncConnectionPool(
            dsn,
            min_size=1,
            max_size=max_size,
            open=False,
            kwargs={"autocommit": True, "application_name": "fenrun-auth"},
        )

    @classmethod
    def of(cls, dsn: str, recorder: object) -> "UserVersions":
        """For the ledger's own recorder (its schema and events table)."""
        schema = recorder.datastore.schema  # type: ignore[attr-defined]
        return cls(dsn, schema, recorder.events_table_name)  # type: ignore[attr-defined]

    async def open(self) -> None:
        await self.pool.open(wait=False)

    async def close(self) -> None:
        await self.pool.close()

    async def version_of(self, originator_id: uuid.UUID) -> int | None:
        """None: no such aggregate. A connection the server dropped is tried once more on
        another (the pool discards the broken one); a second failure is raised."""
        for attempt in (1, 2):
            try:
                async with self.pool.connection() as conn:
                    cursor = await conn.execute(self.text, (originator_id,))  # type: ignore[arg-type]
                    row = await cursor.fetchone()
                return int(row[0]) if row else None
            except psycopg.OperationalError:
                if attempt == 2:
                    raise
        raise AssertionError("not reached")
