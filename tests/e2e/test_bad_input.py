"""Bad input over HTTP GraphQL: a clear error, and nothing changes (the log head stays put)."""

import pytest

from tests.e2e.conftest import GraphQLClient


def head(gql: GraphQLClient) -> int:
    return int(gql("{ platformTotals { net } }")["extensions"]["position"])


@pytest.fixture
def seeded(gql: GraphQLClient) -> GraphQLClient:
    gql.ok("registerAgent", {"code": "A", "name": "A", "realNameVerified": True})
    gql.ok("registerAgent", {"code": "B", "name": "B", "parentCode": "A"})
    gql.ok("registerAgent", {"code": "C", "name": "C", "parentCode": "B"})
    gql.ok("registerAgent", {"code": "X", "name": "X (no upline yet)"})
    gql.ok("definePackage", {"code": "P", "name": "P", "kind": "TRAFFIC", "purchasePrice": "50"})
    gql.ok("setCostPrice", {"agentCode": "A", "packageCode": "P", "costPrice": "60"})
    gql.ok("setRetailPrice", {"agentCode": "A", "packageCode": "P", "retailPrice": "90"})
    return gql


BAD = [
    ("setCostPrice", {"agentCode": "A", "packageCode": "P", "costPrice": "-1"}, "INVALID_MONEY"),
    (
        "setCostPrice",
        {"agentCode": "A", "packageCode": "P", "costPrice": "60.505"},
        "INVALID_MONEY",
    ),
    ("setCostPrice", {"agentCode": "A", "packageCode": "P", "costPrice": "1e3"}, "INVALID_MONEY"),
    ("setCostPrice", {"agentCode": "A", "packageCode": "P", "costPrice": "abc"}, "INVALID_MONEY"),
    ("setCostPrice", {"agentCode": "A", "packageCode": "P", "costPrice": "0"}, "INVALID_MONEY"),
    (
        "setCostPrice",
        {"agentCode": "NOPE", "packageCode": "P", "costPrice": "60"},
        "AGENT_NOT_FOUND",
    ),
    (
        "setCostPrice",
        {"agentCode": "A", "packageCode": "NOPE", "costPrice": "60"},
        "PACKAGE_NOT_FOUND",
    ),
    ("setCostPrice", {"agentCode": "B", "packageCode": "P", "costPrice": "50"}, "PRICE_REFUSED"),
    (
        "setCostPrice",
        {"agentCode": "B", "packageCode": "P", "costPrice": "120.01"},
        "PRICE_ABOVE_LIMIT",
    ),
    (
        "setRetailPrice",
        {"agentCode": "A", "packageCode": "P", "retailPrice": "120.01"},
        "PRICE_ABOVE_LIMIT",
    ),
    (
        "setRetailPrice",
        {"agentCode": "A", "packageCode": "P", "retailPrice": "59.99"},
        "PRICE_REFUSED",
    ),
    ("registerAgent", {"code": "A", "name": "again"}, "ALREADY_EXISTS"),
    ("registerAgent", {"code": "Z", "name": "Z", "parentCode": "Z"}, "CYCLE_IN_AGENT_TREE"),
    ("registerAgent", {"code": "Z", "name": "Z", "parentCode": "NOPE"}, "AGENT_NOT_FOUND"),
    ("registerAgent", {"code": "", "name": "empty"}, "INVALID_INPUT"),
    ("bindUpline", {"agentCode": "B", "parentCode": "X"}, "UPLINE_ALREADY_BOUND"),
    (
        "definePackage",
        {"code": "Q", "name": "Q", "kind": "TRAFFIC", "purchasePrice": "-5"},
        "INVALID_MONEY",
    ),
    (
        "definePackage",
        {"code": "P", "name": "P", "kind": "TRAFFIC", "purchasePrice": "5"},
        "ALREADY_EXISTS",
    ),
    ("topUpDeposit", {"agentCode": "A", "amount": "0.001"}, "INVALID_MONEY"),
    ("topUpDeposit", {"agentCode": "NOPE", "amount": "1"}, "AGENT_NOT_FOUND"),
    (
        "placeOrder",
        {"orderId": "O", "packageCode": "P", "agentCode": "A", "flow": "AGENT_PREPAID"},
        "INSUFFICIENT_DEPOSIT",
    ),
    (
        "placeOrder",
        {"orderId": "O", "packageCode": "P", "agentCode": "B", "flow": "CUSTOMER_PAYS"},
        "PRICE_REFUSED",
    ),
    (
        "placeOrder",
        {"orderId": "O", "packageCode": "NOPE", "agentCode": "A", "flow": "CUSTOMER_PAYS"},
        "PACKAGE_NOT_FOUND",
    ),
    ("completeOrder", {"orderId": "NOPE"}, "ORDER_NOT_FOUND"),
    ("refundOrder", {"orderId": "NOPE", "amount": "1", "reason": "r"}, "ORDER_NOT_FOUND"),
    ("activateCard", {"iccid": "NOPE"}, "CARD_NOT_FOUND"),
    ("recordRecharge", {"iccid": "NOPE", "amount": "1"}, "CARD_NOT_FOUND"),
    ("approveUnfreezeRequests", {"ids": ["nope"]}, "UNFREEZE_REQUEST_NOT_FOUND"),
    ("approveUnfreezeRequests", {"ids": []}, "INVALID_INPUT"),
    ("rejectUnfreezeRequests", {"ids": ["nope"], "reason": "r"}, "UNFREEZE_REQUEST_NOT_FOUND"),
    (
        "defineCommissionPlan",
        {
            "code": "bad",
            "effectiveFrom": "2026-01-01T00:00:00Z",
            "rules": [{"code": "r", "kind": "PERCENTAGE", "rate": "150%"}],
        },
        "INVALID_RATE",
    ),
    (
        "defineCommissionPlan",
        {
            "code": "bad",
            "effectiveFrom": "2026-01-01T00:00:00Z",
            "rules": [{"code": "r", "kind": "FIXED", "amount": 5.5}],
        },
        "PLAN_REFUSED",
    ),
    (
        "defineCommissionPlan",
        {
            "code": "bad",
            "effectiveFrom": "2026-01-01T00:00:00Z",
            "rules": [{"code": "r", "kind": "ENTRY_FEE", "amount": "5"}],
        },
        "PLAN_REFUSED",
    ),
    ("requestWithdrawal", {"agentCode": "B", "withdrawalId": "W", "amount": "1"}, "INVALID_STATE"),
]


@pytest.mark.parametrize(
    ("mutation", "input", "code"), BAD, ids=[f"{m}-{c}-{i}" for i, (m, _, c) in enumerate(BAD)]
)
def test_refused_and_nothing_changed(
    seeded: GraphQLClient, mutation: str, input: dict, code: str
) -> None:
    before = head(seeded)
    payload = seeded.mutate(mutation, input)
    assert [e["code"] for e in payload["userErrors"]] == [code], payload
    assert payload["userErrors"][0]["message"]
    assert head(seeded) == before


def test_cycle_through_bind_upline(seeded: GraphQLClient) -> None:
    seeded.ok("bindUpline", {"agentCode": "X", "parentCode": "C"})  # A > B > C > X
    seeded.ok("registerAgent", {"code": "Y", "name": "Y"})
    before = head(seeded)
    # Y is free, but binding A (root of the tree) under X would close a loop: A > ... > X > A.
    refused = seeded.mutate("registerAgent", {"code": "A", "name": "dup"})
    assert refused["userErrors"][0]["code"] == "ALREADY_EXISTS"
    seeded.ok("bindUpline", {"agentCode": "Y", "parentCode": "X"})
    # Only agents without an upline can be bound; A is a root: A under Y is a cycle.
    cycle = seeded.mutate("bindUpline", {"agentCode": "A", "parentCode": "Y"})
    assert cycle["userErrors"][0]["code"] == "CYCLE_IN_AGENT_TREE"
    assert head(seeded) == before + 2  # the bind and its idempotency key (decision 0019)


def test_idempotency_keys(seeded: GraphQLClient) -> None:
    first = seeded.ok(
        "topUpDeposit",
        {"agentCode": "A", "amount": "100", "idempotencyKey": "k1"},
        "wallet { deposit }",
    )
    assert first["wallet"]["deposit"] == "100.00"
    before = head(seeded)
    again = seeded.ok(
        "topUpDeposit",
        {"agentCode": "A", "amount": "100", "idempotencyKey": "k1"},
        "wallet { deposit }",
    )
    assert again["wallet"]["deposit"] == "100.00"  # applied once
    assert head(seeded) == before
    other = seeded.mutate(
        "topUpDeposit", {"agentCode": "A", "amount": "200", "idempotencyKey": "k1"}
    )
    assert other["userErrors"][0]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert head(seeded) == before
    # Commands keyed without an explicit time are still the same request when retried.
    order = {
        "orderId": "O-k",
        "packageCode": "P",
        "agentCode": "A",
        "flow": "CUSTOMER_PAYS",
        "idempotencyKey": "k2",
    }
    assert seeded.ok("placeOrder", order, "orderId")["orderId"] == "O-k"
    assert seeded.ok("placeOrder", order, "orderId")["orderId"] == "O-k"


def test_refund_more_than_paid(seeded: GraphQLClient) -> None:
    seeded.ok(
        "placeOrder",
        {"orderId": "O", "packageCode": "P", "agentCode": "A", "flow": "CUSTOMER_PAYS"},
    )
    refused = seeded.mutate("refundOrder", {"orderId": "O", "amount": "1", "reason": "r"})
    assert refused["userErrors"][0]["code"] == "INVALID_STATE"  # not completed yet
    seeded.ok("completeOrder", {"orderId": "O"})
    before = head(seeded)
    refused = seeded.mutate("refundOrder", {"orderId": "O", "amount": "90.01", "reason": "r"})
    assert refused["userErrors"][0]["code"] == "INVALID_INPUT"
    assert head(seeded) == before
