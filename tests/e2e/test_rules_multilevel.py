"""SPEC §5 examples 1 and 2 over HTTP GraphQL: MULTI_LEVEL commissions (seed 002, seed 001)."""

from tests.e2e.conftest import GraphQLClient

JAN = "2026-01-01T00:00:00+08:00"
DAY1 = "2026-03-01T12:00:00+08:00"
DAY5 = "2026-03-05T12:00:00+08:00"
DAY8 = "2026-03-08T12:00:01+08:00"
DAY20 = "2026-03-20T12:00:00+08:00"


def tree(
    gql: GraphQLClient, agents: list[tuple[str, str | None]], retail: str = "100", cost: str = "50"
) -> None:
    """agents: (code, parent) from the top down; every agent buys PK at `cost`, sells at `retail`."""
    gql.ok(
        "definePackage", {"code": "PK", "name": "Plan", "kind": "TRAFFIC", "purchasePrice": "10"}
    )
    for code, parent in agents:
        gql.ok("registerAgent", {"code": code, "name": code, "parentCode": parent})
        gql.ok("setCostPrice", {"agentCode": code, "packageCode": "PK", "costPrice": cost})
        gql.ok("setRetailPrice", {"agentCode": code, "packageCode": "PK", "retailPrice": retail})


def plan(gql: GraphQLClient, rules: list[dict]) -> None:
    gql.ok("defineCommissionPlan", {"code": "ml", "effectiveFrom": JAN, "rules": rules})


def sell(gql: GraphQLClient, order_id: str, seller: str, at: str = DAY1, buyer: str = "c") -> None:
    gql.ok(
        "placeOrder",
        {
            "orderId": order_id,
            "packageCode": "PK",
            "agentCode": seller,
            "buyerCode": buyer,
            "flow": "CUSTOMER_PAYS",
            "occurredAt": at,
        },
    )
    gql.ok("completeOrder", {"orderId": order_id, "occurredAt": at})


def lines(gql: GraphQLClient, order_id: str, kind: str = "MULTI_LEVEL") -> dict[str, tuple]:
    body = gql(
        "query($o: String!) { commissions(orderId: $o) { edges { node {"
        " agentCode kind amount status rate base ruleCode facts } } } }",
        {"o": order_id},
    )
    return {
        n["agentCode"]: (n["amount"], n["status"], n["rate"], n["facts"]["level"])
        for e in body["data"]["commissions"]["edges"]
        if (n := e["node"])["kind"] == kind
    }


def test_seed002_two_levels(gql: GraphQLClient) -> None:
    tree(gql, [("A", None), ("B", "A"), ("C", "B")])
    plan(gql, [{"code": "ml", "kind": "MULTI_LEVEL", "levels": ["10%", "5%"]}])
    sell(gql, "O-B", "B")  # B (direct of A) sells 100
    assert lines(gql, "O-B") == {"A": ("10.00", "FROZEN", "0.1", 1)}
    gql.ok("setRetailPrice", {"agentCode": "C", "packageCode": "PK", "retailPrice": "50"})
    sell(gql, "O-C", "C")  # C (direct of B) sells 50
    assert lines(gql, "O-C") == {
        "B": ("5.00", "FROZEN", "0.1", 1),
        "A": ("2.50", "FROZEN", "0.05", 2),
    }


def test_more_than_three_levels_refused(gql: GraphQLClient) -> None:
    refused = gql.mutate(
        "defineCommissionPlan",
        {
            "code": "ml",
            "effectiveFrom": JAN,
            "rules": [{"code": "ml", "kind": "MULTI_LEVEL", "levels": ["4%", "3%", "2%", "1%"]}],
        },
    )
    assert refused["userErrors"][0]["code"] == "PLAN_REFUSED"
    assert "more than 3" in refused["userErrors"][0]["message"]


def wallet(gql: GraphQLClient, code: str) -> dict:
    return gql(
        "query($a: String!) { wallet(agentCode: $a) { frozen unfreezing available } }", {"a": code}
    )["data"]["wallet"]


def test_seed001_hold_refund_and_self_purchase(gql: GraphQLClient) -> None:
    """8% / 3% of the paid amount, releasable after completion + 7 days."""
    tree(gql, [("G", None), ("P", "G"), ("S", "P")], cost="100")  # no price differences
    plan(gql, [{"code": "ml", "kind": "MULTI_LEVEL", "levels": ["8%", "3%"], "holdDays": 7}])
    sell(gql, "O-1", "S")
    assert lines(gql, "O-1") == {
        "P": ("8.00", "FROZEN", "0.08", 1),
        "G": ("3.00", "FROZEN", "0.03", 2),
    }
    # Inside the after-sale period nothing is releasable.
    assert gql.ok("releaseDueCommissions", {"now": DAY5}, "requests { id }")["requests"] == []
    # A refund inside the period voids both levels.
    sell(gql, "O-2", "S")
    gql.ok(
        "refundOrder", {"orderId": "O-2", "amount": "100", "reason": "return", "occurredAt": DAY5}
    )
    assert lines(gql, "O-2") == {
        "P": ("0.00", "VOIDED", "0.08", 1),
        "G": ("0.00", "VOIDED", "0.03", 2),
    }
    # The promoter buying through its own downline earns nothing on it; G still earns level 2.
    sell(gql, "O-3", "S", buyer="P")
    assert lines(gql, "O-3") == {"G": ("3.00", "FROZEN", "0.03", 2)}
    # After the 7 days, O-1's and O-3's lines are requested and approved.
    requests = gql.ok(
        "releaseDueCommissions", {"now": DAY8}, "requests { id commission { agentCode amount } }"
    )["requests"]
    assert sorted((r["commission"]["agentCode"], r["commission"]["amount"]) for r in requests) == [
        ("G", "3.00"),
        ("G", "3.00"),
        ("P", "8.00"),
    ]
    gql.ok("approveUnfreezeRequests", {"ids": [r["id"] for r in requests]})
    assert wallet(gql, "P") == {"frozen": "0.00", "unfreezing": "0.00", "available": "8.00"}
    assert wallet(gql, "G") == {"frozen": "0.00", "unfreezing": "0.00", "available": "6.00"}
    assert gql.ok("releaseDueCommissions", {"now": DAY20}, "requests { id }")["requests"] == []


def test_upline_is_the_one_recorded_when_the_order_was_placed(gql: GraphQLClient) -> None:
    tree(gql, [("A", None), ("X", None)])
    gql.ok("registerAgent", {"code": "B", "name": "B"})
    gql.ok("setCostPrice", {"agentCode": "B", "packageCode": "PK", "costPrice": "50"})
    gql.ok("setRetailPrice", {"agentCode": "B", "packageCode": "PK", "retailPrice": "100"})
    plan(gql, [{"code": "ml", "kind": "MULTI_LEVEL", "levels": ["10%"]}])
    sell(gql, "O-1", "B")  # no upline yet: nobody earns
    assert lines(gql, "O-1") == {}
    gql.ok("bindUpline", {"agentCode": "B", "parentCode": "A"})
    sell(gql, "O-2", "B")
    assert lines(gql, "O-2") == {"A": ("10.00", "FROZEN", "0.1", 1)}
    # Re-running the policy over everything adds nothing.
    assert lines(gql, "O-1") == {}
