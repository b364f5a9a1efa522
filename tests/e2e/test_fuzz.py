"""Fuzzing the API over HTTP (issue 9): generated queries and mutations, with our generators
for Money, DateTime, rules documents and nasty strings (bench/fuzz.py), a bounded number of
examples (always derandomized: the same ones every run), and per request: no HTTP 5xx, no
"Unexpected error.", and a refused mutation moves no log position. `make fuzz` runs longer.

Documents that found bugs once (NUL, times past year 9999, overflowing amounts) are sent first,
every run (bench/fuzz.py KNOWN).
"""

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from api.bootstrap import bootstrap
from api.graphql.schema import schema
from application.settings import Settings
from bench.fuzz import KNOWN, Fuzzer, Report, operations, seed
from bench.fuzz import SETTINGS as FUZZ_SETTINGS
from tests.e2e.conftest import GraphQLClient

QUERIES = 150
MUTATIONS = 150


@pytest.fixture
def fenrun(dsn: str, tmp_path: Any, clock: Any) -> Iterator[Any]:
    settings = Settings(database_url=dsn, data_dir=tmp_path, **FUZZ_SETTINGS)
    app = bootstrap(settings, run_migrations=False, clock=clock)
    yield app
    app.close()


@pytest.fixture
def fuzzer(gql: GraphQLClient, dsn: str) -> Iterator[Fuzzer]:
    gql.http.headers.update(gql.auth())  # as the test user with every staff role but auditor
    assert gql.clock is not None
    gql.clock.set(datetime.now(UTC))  # the seed's facts and the fuzzer's times, against today
    seed(gql.http)
    with psycopg.connect(dsn, autocommit=True) as conn:

        def head() -> int:
            # Once the policies have reacted to every earlier write: mutations answer before
            # they run (decision 0036), and their reactions to an accepted mutation landing
            # while a refused one is sent are not the refused one's writes.
            gql.fenrun.catch_up()
            row = conn.execute("SELECT coalesce(max(notification_id), 0) FROM ledger_events")
            return row.fetchone()[0]  # type: ignore[index]

        yield Fuzzer(gql.http, head)


def problems(report: Report) -> dict[str, Any]:
    found = report.summary()
    return {k: v for k, v in found.items() if k not in ("requests", "statuses")}


def clean(report: Report) -> bool:
    return not (
        report.counts["http_5xx"]
        or report.counts["unexpected_errors"]
        or report.counts["position_moved_on_refusal"]
    )


def test_fuzzed_requests_never_fail_the_server_nor_move_the_log_when_refused(
    fuzzer: Fuzzer,
) -> None:
    for document in KNOWN:
        fuzzer.send(document, "application/json")
    for kind, examples in (("query", QUERIES), ("mutation", MUTATIONS)):
        fuzzer.run(operations(schema._schema, kind, with_nul=True), examples, explore=False)
    report = fuzzer.report
    assert report.requests >= QUERIES + MUTATIONS
    assert report.mutations["ok"] > 0  # the generated mutations do reach the ledger
    assert clean(report), problems(report)
