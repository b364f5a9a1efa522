"""Issue 9 over HTTP (decision 0018): the fuzzer's findings, each refused as a userError with
nothing saved, and time taken from the server's clock."""

import json
from datetime import datetime, timedelta

import httpx
import pytest

from domain.common import aggregate_id
from tests.e2e.conftest import GraphQLClient

DAY1 = "2026-03-01T12:00:00+08:00"
AGENT_FIELDS = "agentCode"


def head(gql: GraphQLClient) -> int:
    """The log's head once the policies have reacted to every earlier write: a refused write
    must not move it. (Mutations answer before the policies run, decision 0036, so without the
    catch-up the policies' reactions to the test's set-up would move it meanwhile.)"""
    gql.fenrun.catch_up()
    return int(gql.fenrun.read.log_head())


def refused(gql: GraphQLClient, mutation: str, input: dict, code: str) -> dict:
    before = head(gql)
    payload = gql.mutate(mutation, input)
    assert [e["code"] for e in payload["userErrors"]] == [code], payload
    assert head(gql) == before
    return payload["userErrors"][0]


def seller(gql: GraphQLClient) -> None:
    gql.ok("registerAgent", {"code": "A", "name": "Agent A", "realNameVerified": True})
    gql.ok("definePackage", {"code": "P", "name": "P", "kind": "TRAFFIC", "purchasePrice": "50"})
    gql.ok("setCostPrice", {"agentCode": "A", "packageCode": "P", "costPrice": "60"})
    gql.ok("setRetailPrice", {"agentCode": "A", "packageCode": "P", "retailPrice": "90"})


@pytest.mark.parametrize(
    "name", ["a\u0000b", "a\u0007b", "a\u009bb", "\ud800", "line\nbreak"], ids=repr
)
def test_a_name_the_views_cannot_hold_is_refused_and_nothing_breaks(
    gql: GraphQLClient, name: str
) -> None:
    """Finding 1: the NUL name was saved, then every view, every later mutation and the next
    start-up failed on it. Now it is INVALID_TEXT, and the ledger carries on. (The body is
    JSON with escapes, as a client sends a lone surrogate: "\\ud800".)"""
    before = head(gql)
    mutation = (
        'mutation($name: String!) { registerAgent(input: {code: "P", name: $name})'
        " { userErrors { code field } } }"
    )
    body = json.dumps({"query": mutation, "variables": {"name": name}})  # ASCII, escaped
    headers = {"content-type": "application/json", **gql.auth()}
    response = gql.http.post("/graphql", content=body, headers=headers)
    errors = response.json()["data"]["registerAgent"]["userErrors"]
    assert errors == [{"code": "INVALID_TEXT", "field": ["input", "name"]}]
    assert head(gql) == before
    gql.ok("registerAgent", {"code": "P", "name": "a b"}, AGENT_FIELDS)
    assert gql('{ agent(code: "P") { name } }')["data"]["agent"] == {"name": "a b"}


def test_codes_reasons_and_keys_are_checked_too(gql: GraphQLClient) -> None:
    seller(gql)
    refused(gql, "registerAgent", {"code": "Q\u0000", "name": "q"}, "INVALID_TEXT")
    refused(gql, "registerAgent", {"code": "Q" * 65, "name": "q"}, "TEXT_TOO_LONG")
    key = {"code": "Q", "name": "q", "idempotencyKey": "k\u0000"}
    assert refused(gql, "registerAgent", key, "INVALID_TEXT")["field"] == [
        "input",
        "idempotencyKey",
    ]
    rules = [{"code": "r\u0000", "kind": "FIXED", "amount": "5"}]
    plan = {"code": "p", "effectiveFrom": DAY1, "rules": rules}
    assert refused(gql, "defineCommissionPlan", plan, "INVALID_TEXT")["field"] == [
        "input",
        "rules",
    ]


def test_a_900000_character_reason_is_refused(gql: GraphQLClient) -> None:
    """Finding 6: it was stored as a 900 KB event."""
    seller(gql)
    gql.ok(
        "placeOrder",
        {"orderId": "O", "packageCode": "P", "agentCode": "A", "flow": "CUSTOMER_PAYS"},
    )
    gql.ok("completeOrder", {"orderId": "O"})
    refund = {"orderId": "O", "amount": "1", "reason": "r" * 900_000}
    assert refused(gql, "refundOrder", refund, "TEXT_TOO_LONG")["field"] == ["input", "reason"]


def test_amounts_beyond_the_largest_are_refused_before_any_overflow(gql: GraphQLClient) -> None:
    """Finding 2: 93 top-ups of 999999999999999.99 overflowed the wallet view's bigint."""
    seller(gql)
    top_up = {"agentCode": "A", "amount": "999999999999999.99"}
    error = refused(gql, "topUpDeposit", top_up, "AMOUNT_TOO_LARGE")
    assert error["field"] == ["input", "amount"]
    largest = gql.ok(
        "topUpDeposit", {"agentCode": "A", "amount": "9999999999.99"}, "wallet { deposit }"
    )
    assert largest["wallet"]["deposit"] == "9999999999.99"
    refused(
        gql,
        "setCostPrice",
        {"agentCode": "A", "packageCode": "P", "costPrice": "1" * 11},
        "AMOUNT_TOO_LARGE",
    )


def test_releases_take_the_servers_clock(gql: GraphQLClient) -> None:
    """Finding 5: `now: 2099-01-01` released 15,072 lines at once."""
    seller(gql)
    gql.ok(
        "defineCommissionPlan",
        {
            "code": "fixed",
            "effectiveFrom": "2026-01-01T00:00:00+08:00",
            "rules": [{"code": "f", "kind": "FIXED", "amount": "5", "holdDays": 7}],
        },
    )
    sale = {"orderId": "O", "packageCode": "P", "agentCode": "A", "flow": "CUSTOMER_PAYS"}
    gql.ok("placeOrder", {**sale, "occurredAt": DAY1})
    gql.ok("completeOrder", {"orderId": "O", "occurredAt": DAY1})
    gql.follow_facts = False  # the server's clock stays on DAY1 from here
    error = refused(gql, "releaseDueCommissions", {"now": "2099-01-01T00:00:00Z"}, "FUTURE_TIME")
    assert error["field"] == ["input", "now"]
    assert gql.ok("releaseDueCommissions", {}, "requests { id }")["requests"] == []  # held
    assert gql.clock is not None
    gql.clock.advance(timedelta(days=8))
    released = gql.ok("releaseDueCommissions", {}, "requests { id }")["requests"]
    assert len(released) == 2  # the 30.00 price difference and the fixed 5.00


def test_facts_ahead_of_the_clock_or_before_their_subject_are_refused(gql: GraphQLClient) -> None:
    seller(gql)
    sale = {"orderId": "O", "packageCode": "P", "agentCode": "A", "flow": "CUSTOMER_PAYS"}
    gql.ok("placeOrder", {**sale, "iccid": "ICC1", "occurredAt": DAY1})
    gql.follow_facts = False
    later = (datetime.fromisoformat(DAY1) + timedelta(days=45)).isoformat()
    refused(gql, "completeOrder", {"orderId": "O", "occurredAt": later}, "FUTURE_TIME")
    earlier = (datetime.fromisoformat(DAY1) - timedelta(days=1)).isoformat()
    refused(gql, "activateCard", {"iccid": "ICC1", "occurredAt": earlier}, "BEFORE_SUBJECT_EXISTED")
    refused(
        gql,
        "placeOrder",
        {**sale, "orderId": "O2", "occurredAt": "2025-12-01T00:00:00+08:00"},
        "BEFORE_SUBJECT_EXISTED",
    )
    gql.ok("activateCard", {"iccid": "ICC1", "occurredAt": DAY1})


def test_as_of_a_time_to_come_reads_the_head_and_reports_when(gql: GraphQLClient) -> None:
    seller(gql)
    now = gql("{ platformTotals { net } }")["extensions"]
    future = gql('{ platformTotals(asOf: "2999-01-01T00:00:00Z") { net } }')["extensions"]
    assert future["position"] == now["position"]
    read_at = datetime.fromisoformat(future["asOf"])
    assert read_at.year < 2999
    assert read_at >= datetime.fromisoformat(now["asOf"])


def test_a_non_ascii_actor_is_recorded_exactly(gql: GraphQLClient) -> None:
    """Finding 6: a non-ASCII actor was stored garbled (read as latin-1). The actor is now the
    authenticated subject: a user named in Chinese is recorded as named."""
    seller(gql)
    sale = {"orderId": "O", "packageCode": "P", "agentCode": "A", "flow": "CUSTOMER_PAYS"}
    gql.ok("placeOrder", {**sale, "occurredAt": DAY1})
    gql.ok("completeOrder", {"orderId": "O", "occurredAt": DAY1})
    [request] = gql.ok(
        "releaseDueCommissions", {"now": "2026-03-09T12:00:00+08:00"}, "requests { id }"
    )["requests"]
    finance = gql.as_user("财务-1Zoë", roles=("finance",))
    payload = finance.ok(
        "approveUnfreezeRequests", {"ids": [request["id"]]}, "requests { decidedBy }"
    )
    assert payload["requests"] == [{"decidedBy": "财务-1Zoë"}]
    lines = gql('{ commissions(orderId: "O") { edges { node { history { actor } } } } }')
    [line] = lines["data"]["commissions"]["edges"]
    assert line["node"]["history"][-1]["actor"] == "财务-1Zoë"


def test_without_authentication_the_actor_header_is_read_as_utf8(dsn: str, tmp_path, clock) -> None:
    """FENRUN_AUTH=off (loopback): the header names the actor, read as the UTF-8 the client
    sent; bytes that are not UTF-8 are refused (HTTP 400), never recorded garbled."""
    from api.app import create_app
    from api.bootstrap import bootstrap
    from application.settings import Settings
    from tests.e2e.conftest import TESTS_BEGIN, running

    clock.set(TESTS_BEGIN)
    app = bootstrap(Settings(database_url=dsn, data_dir=tmp_path, auth="off"), clock=clock)
    register = 'mutation { registerAgent(input: {code: "Z", name: "Z"}) { userErrors { code } } }'
    try:
        with running(create_app(fenrun=app)) as url:
            named = httpx.post(
                url + "/graphql",
                json={"query": register},
                headers={"x-fenrun-actor": "财务-1 Zoë".encode()},
            )
            bad = httpx.post(
                url + "/graphql",
                json={"query": "{ platformTotals { net } }"},
                headers={"x-fenrun-actor": b"\xff\xfe"},
            )
        assert named.json()["data"]["registerAgent"] == {"userErrors": []}
        assert bad.status_code == 400
        [event] = list(app.ledger.events_of(aggregate_id("agent", "Z"), None))
        assert event.actor == "财务-1 Zoë"
    finally:
        app.close()
