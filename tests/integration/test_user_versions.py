"""A user's latest version read on the event loop (api/auth/versions.py) answers what the event
store's read of the same record answers, and moves with every change (decision 0041)."""

import asyncio
from datetime import UTC, datetime

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
