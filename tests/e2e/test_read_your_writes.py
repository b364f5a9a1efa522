"""Read-your-writes over HTTP without catching up in the request (decision 0036).

A mutation answers with its position (extensions.position) at once: the policies and views run
in the background. A read sent with X-Fenrun-Min-Position waits, bounded, until the policies and
the views it reads have processed that write, then answers; past the bound it answers
POSITION_NOT_READY. Idempotency keys still give exactly once when clients race.
"""

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest

from api.bootstrap import bootstrap
from api.graphql.context import MIN_POSITION_HEADER
from application.settings import Settings
from tests.e2e.conftest import GraphQLClient
from tests.e2e.test_lifecycle import DAY1, setup

LINES = "query($o: String!) { commissions(orderId: $o) { edges { node { amount status } } } }"


@pytest.fixture
def fenrun(dsn: str, tmp_path: Any, clock: Any) -> Iterator[Any]:
    """The service with a short wait for reads, so the timeout is quick to see."""
    settings = Settings(database_url=dsn, data_dir=tmp_path, min_position_wait_seconds=1)
    app = bootstrap(settings, run_migrations=False, clock=clock)
    yield app
    app.close()


def place(gql: GraphQLClient, order_id: str, key: str | None = None) -> Any:
    extra = {"idempotencyKey": key} if key else {}
    order = {"orderId": order_id, "packageCode": "PK", "agentCode": "P1", "buyerCode": "b1"}
    gql._report_at({"occurredAt": DAY1})  # the server's clock at the sale's time
    return gql.raw(
        "mutation($input: PlaceOrderInput!) { placeOrder(input: $input) {"
        " orderId paidAmount userErrors { code } } }",
        {"input": {**order, "flow": "CUSTOMER_PAYS", "occurredAt": DAY1, **extra}},
    ).json()


def complete(gql: GraphQLClient, order_id: str, key: str | None = None) -> Any:
    extra = {"idempotencyKey": key} if key else {}
    return gql.raw(
        "mutation($input: CompleteOrderInput!) { completeOrder(input: $input) {"
        " orderId userErrors { code } } }",
        {"input": {"orderId": order_id, "occurredAt": DAY1, **extra}},
    ).json()


def lines(gql: GraphQLClient, order_id: str, at_least: int | None) -> Any:
    headers = {MIN_POSITION_HEADER: str(at_least)} if at_least is not None else {}
    return gql.raw(LINES, {"o": order_id}, headers).json()


def test_a_read_at_least_at_the_writes_position_sees_the_commission_lines(
    gql: GraphQLClient, fenrun: Any
) -> None:
    """The round lock held by the test: nothing can catch up, yet the mutations answer (they
    do not catch up in the request); the read waits for the background once it is let go."""
    setup(gql)
    gql.session = False  # this test sends the header itself
    held = fenrun.workflows._lock
    held.acquire()
    released = False
    try:
        assert place(gql, "O1")["data"]["placeOrder"]["userErrors"] == []
        done = complete(gql, "O1")
        assert done["data"]["completeOrder"] == {"orderId": "O1", "userErrors": []}
        position = int(done["extensions"]["position"])
        assert "caughtUp" not in done["extensions"]  # nothing was waited for
        assert fenrun.policy.position() < position  # answered before the policy ran
        # released while the read waits: the background catches up and the read answers
        timer = threading.Timer(0.3, held.release)
        timer.start()
        released = True
        found = lines(gql, "O1", position)
        timer.join()
    finally:
        if not released:
            held.release()
    assert "errors" not in found, found
    assert [e["node"] for e in found["data"]["commissions"]["edges"]] == [
        {"amount": "8.00", "status": "FROZEN"}
    ]
    assert int(found["extensions"]["position"]) > position  # the policy's line came after


def test_the_wait_is_bounded_and_answers_position_not_ready(
    gql: GraphQLClient, fenrun: Any
) -> None:
    setup(gql)
    gql.session = False
    with fenrun.workflows._lock:  # the background cannot catch up meanwhile
        place(gql, "O1")
        position = int(complete(gql, "O1")["extensions"]["position"])
        found = lines(gql, "O1", position)
    assert found["data"] is None
    [error] = found["errors"]
    assert error["extensions"]["code"] == "POSITION_NOT_READY"
    assert error["extensions"]["position"] == str(position)
    assert "commission-policy" in error["extensions"]["views"]  # named: what it waits for
    # without the header the read answers at once, from what the views hold (no line yet)
    assert lines(gql, "O1", None)["data"]["commissions"]["edges"] == []
    # once caught up, the same read succeeds
    fenrun.catch_up()
    assert len(lines(gql, "O1", position)["data"]["commissions"]["edges"]) == 1


def test_a_position_that_is_not_a_number_is_refused(gql: GraphQLClient) -> None:
    setup(gql)
    found = gql.raw(LINES, {"o": "O1"}, {MIN_POSITION_HEADER: "soon"}).json()
    assert found["data"] is None
    assert "not a log position" in found["errors"][0]["message"]


def test_idempotency_keys_give_exactly_once_when_clients_race(gql: GraphQLClient, dsn: str) -> None:
    """Eight clients send the same two mutations under the same keys at once: one order, one
    completion, one line; every client is answered the same, with the same position."""
    setup(gql)
    gql.session = False

    def client(_: int) -> tuple[Any, Any]:
        return place(gql, "R1", "place-R1"), complete(gql, "R1", "complete-R1")

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(client, range(8)))
    placed = {a[0]["extensions"]["position"] for a in answers}
    completed = {a[1]["extensions"]["position"] for a in answers}
    assert len(placed) == 1
    assert len(completed) == 1
    assert all(a[0]["data"]["placeOrder"]["userErrors"] == [] for a in answers)
    assert all(a[1]["data"]["completeOrder"]["userErrors"] == [] for a in answers)
    found = lines(gql, "R1", int(completed.pop()))
    assert len(found["data"]["commissions"]["edges"]) == 1
    with psycopg.connect(dsn) as conn:
        topics = conn.execute(
            "SELECT topic, count(*) FROM ledger_events WHERE topic LIKE 'domain.order:Order.%'"
            " GROUP BY topic ORDER BY topic"
        ).fetchall()
    assert [n for _, n in topics] == [1, 1], topics
