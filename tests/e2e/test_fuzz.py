"""Fuzzing the API over HTTP (issue 9): generated queries and mutations, with our generators
for Money, DateTime, rules documents and nasty strings (bench/fuzz.py), a bounded number of
examples (derandomized under CI), and per request: no HTTP 5xx, no "Unexpected error.", and a
refused mutation moves no log position. `python -m bench.fuzz --requests N` runs longer.
"""

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from api.bootstrap import bootstrap
from api.graphql.schema import schema
from application.settings import Settings
from bench.fuzz import KNOWN, Fuzzer, Report, operations, seed
from tests.e2e.conftest import GraphQLClient

QUERIES = 200
MUTATIONS = 150


@pytest.fixture
def fenrun(dsn: str) -> Iterator[Any]:
    # Expensive operations are not rate limited here: a 429 would hide what lies behind it.
    settings = Settings(database_url=dsn, expensive_burst=1000, expensive_per_minute=10_000)
    app = bootstrap(settings, run_migrations=False)
    yield app
    app.close()


@pytest.fixture
def fuzzer(gql: GraphQLClient, dsn: str) -> Iterator[Fuzzer]:
    seed(gql.http)
    with psycopg.connect(dsn, autocommit=True) as conn:

        def head() -> int:
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


def test_fuzzed_queries_never_fail_the_server(fuzzer: Fuzzer) -> None:
    for document in KNOWN:
        if not document.startswith("mutation"):
            fuzzer.send(document, "application/json")
    report = fuzzer.run(operations(schema._schema, "query"), QUERIES, explore=False)
    assert report.requests >= QUERIES
    assert clean(report), problems(report)


def test_fuzzed_mutations_without_nul_never_fail_the_server_nor_move_the_log_when_refused(
    fuzzer: Fuzzer,
) -> None:
    """What lies behind the NUL finding (below) while it is open: everything else."""
    for document in KNOWN[:-1]:
        fuzzer.send(document, "application/json")
    mutations = operations(schema._schema, "mutation", with_nul=False)
    report = fuzzer.run(mutations, MUTATIONS, explore=False)
    assert report.requests >= MUTATIONS
    assert clean(report), problems(report)


@pytest.mark.xfail(
    strict=True,
    reason="open finding fixed by other helpers (issue 9): an input with NUL is recorded and"
    " then breaks the views, so the request answers 'Unexpected error.' though its write"
    " committed, and the log position moves on a request answered as refused (helper 'inputs':"
    " refuse NUL/control characters at the boundary; helper 'truth': report a committed write"
    " as what it is). Remove this mark when both have landed.",
)
def test_fuzzed_mutations_never_fail_the_server_nor_move_the_log_when_refused(
    fuzzer: Fuzzer,
) -> None:
    for document in KNOWN:
        fuzzer.send(document, "application/json")
    report = fuzzer.run(operations(schema._schema, "mutation"), MUTATIONS, explore=False)
    assert report.requests >= MUTATIONS
    assert clean(report), problems(report)
