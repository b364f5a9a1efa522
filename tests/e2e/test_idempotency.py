"""Idempotency keys over HTTP: the digest covers every field of the request (decision 0014).

topUpDeposit and assignCard used to leave occurredAt out of their hand-written payloads, so a
retry under the same key at another time was answered as if it were the first request.
"""

from tests.e2e.conftest import GraphQLClient

JAN = "2026-01-05T09:00:00+08:00"
LATER = "2026-01-05T10:00:00+08:00"


def head(gql: GraphQLClient) -> int:
    return int(gql("{ platformTotals { net } }")["extensions"]["position"])


def test_top_up_under_a_used_key_at_another_time_is_refused(gql: GraphQLClient) -> None:
    gql.ok("registerAgent", {"code": "A", "name": "A"})
    top_up = {"agentCode": "A", "amount": "100", "occurredAt": JAN, "idempotencyKey": "t1"}
    assert gql.ok("topUpDeposit", top_up, "wallet { deposit }")["wallet"]["deposit"] == "100.00"
    before = head(gql)
    again = gql.ok("topUpDeposit", top_up, "wallet { deposit }")
    assert again["wallet"]["deposit"] == "100.00"
    other = gql.mutate("topUpDeposit", {**top_up, "occurredAt": LATER}, "wallet { deposit }")
    assert other["wallet"] is None
    assert [e["code"] for e in other["userErrors"]] == ["IDEMPOTENCY_KEY_REUSED"]
    assert other["userErrors"][0]["field"] == ["input", "idempotencyKey"]
    assert head(gql) == before


def test_assign_card_under_a_used_key_at_another_time_is_refused(gql: GraphQLClient) -> None:
    gql.ok("registerAgent", {"code": "A", "name": "A"})
    assign = {"iccid": "ICC1", "agentCode": "A", "occurredAt": JAN, "idempotencyKey": "c1"}
    assert gql.ok("assignCard", assign, "iccid")["iccid"] == "ICC1"
    before = head(gql)
    assert gql.ok("assignCard", assign, "iccid")["iccid"] == "ICC1"  # a retry: same answer
    other = gql.mutate("assignCard", {**assign, "occurredAt": LATER}, "iccid")
    assert other["iccid"] is None
    assert [e["code"] for e in other["userErrors"]] == ["IDEMPOTENCY_KEY_REUSED"]
    assert head(gql) == before


def test_a_retry_without_a_time_is_the_same_request(gql: GraphQLClient) -> None:
    """No occurredAt: "now" is assumed, and a retry's other "now" is not another request."""
    gql.ok("registerAgent", {"code": "A", "name": "A"})
    assign = {"iccid": "ICC2", "agentCode": "A", "idempotencyKey": "c2"}
    assert gql.ok("assignCard", assign, "iccid")["iccid"] == "ICC2"
    before = head(gql)
    assert gql.ok("assignCard", assign, "iccid")["iccid"] == "ICC2"
    assert head(gql) == before
