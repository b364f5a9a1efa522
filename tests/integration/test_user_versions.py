"""A user's latest version read on the event loop (api/auth/versions.py) answers what the event
store's read of the same record answers, and moves with every change (decision 0041)."""

import asyncio
import time
from datetime import UTC, datetime

import psycopg
import pytest

from api.auth.versions import UserVersions
from domain.common import Audit, aggregate_id

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_the_loops_read_answers_as_the_event_store(fenrun, clock) -> None:
    clock.set(T0)
    audit = Audit("admin-1", T0)

    async def versions_of(codes: list[str]) -> list[int | None]:
        versions = UserVersions.of(fenrun.dsn, fenrun.ledger.recorder)
        try:
            one_by_one = [await versions.version_of(aggregate_id("user", c)) for c in codes]
            # Requests waiting at once share a statement: each gets its own user's answer.
            at_once = await asyncio.gather(
                *(versions.version_of(aggregate_id("user", c)) for c in codes * 3)
            )
            assert at_once == one_by_one * 3
            return one_by_one
        finally:
            await versions.close()

    def both() -> tuple[list[int | None], list[int | None]]:
        codes = ["u1", "nobody"]
        loop = asyncio.run(versions_of(codes))
        return loop, [fenrun.ledger.version_of("user", c) for c in codes]

    fenrun.ledger.add_user("u1", ("auditor",), None, audit)
    first, expected = both()
    assert first == expected
    assert first[0] is not None
    assert first[1] is None
    fenrun.ledger.disable_user("u1", audit)
    moved, expected = both()
    assert moved == expected
    assert moved[0] is not None
    assert moved[0] > first[0]


def test_a_read_that_gets_no_answer_fails_over_in_time(fenrun) -> None:
    """A lock held on the events table (or a connection dropped without a reset) must not hold
    every authenticated request behind the loop's read: it fails, and the caller reads through
    the event store (api/auth/authenticator.py); the next read uses a new connection."""
    schema = fenrun.ledger.recorder.datastore.schema
    table = fenrun.ledger.recorder.events_table_name

    async def read() -> float:
        versions = UserVersions(fenrun.dsn, schema, table, read_seconds=0.5)
        try:
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                await versions.version_of(aggregate_id("user", "u1"))
            return time.monotonic() - started
        finally:
            await versions.close()

    with psycopg.connect(fenrun.dsn) as holder:
        holder.execute(f'LOCK TABLE "{schema}"."{table}" IN ACCESS EXCLUSIVE MODE')
        waited = asyncio.run(read())
        holder.rollback()
    assert waited < 3
