"""SPEC §5 example 2 with one level, over HTTP GraphQL: a 7-day hold, release, approval; a refund
inside the hold voids; a self-purchase earns nothing; a refund after approval claws back (into
debt), and a later commission pays the debt first. Also: time travel with asOf and position."""

from tests.e2e.conftest import GraphQLClient

DAY1 = "2026-03-01T12:00:00+08:00"
DAY5 = "2026-03-05T12:00:00+08:00"
DAY8 = "2026-03-08T12:00:01+08:00"
DAY9 = "2026-03-09T12:00:00+08:00"
DAY20 = "2026-03-20T12:00:00+08:00"

COMMISSION_FIELDS = "edges { node { id kind amount status history { status actor reason } } }"


def setup(gql: GraphQLClient) -> None:
    gql.ok("registerAgent", {"code": "P1", "name": "Promoter", "realNameVerified": True})
    gql.ok(
        "definePackage", {"code": "PK", "name": "Plan", "kind": "TRAFFIC", "purchasePrice": "50.00"}
    )
    gql.ok("setCostPrice", {"agentCode": "P1", "packageCode": "PK", "costPrice": "100"})
    gql.ok("setRetailPrice", {"agentCode": "P1", "packageCode": "PK", "retailPrice": "100"})
    gql.ok(
        "defineCommissionPlan",
        {
            "code": "level1",
            "effectiveFrom": "2026-01-01T00:00:00+08:00",
            "rules": [
                {
                    "code": "l1-8pct",
                    "kind": "PERCENTAGE",
                    "rate": "8%",
                    "base": "PAID_AMOUNT",
                    "holdDays": 7,
                }
            ],
        },
    )


def sell(gql: GraphQLClient, order_id: str, buyer: str, at: str) -> None:
    gql.ok(
        "placeOrder",
        {
            "orderId": order_id,
            "packageCode": "PK",
            "agentCode": "P1",
            "buyerCode": buyer,
            "flow": "CUSTOMER_PAYS",
            "occurredAt": at,
        },
    )
    gql.ok("completeOrder", {"orderId": order_id, "occurredAt": at})


def order_lines(gql: GraphQLClient, order_id: str) -> list[dict]:
    body = gql(
        "query($o: String!) { commissions(orderId: $o) { " + COMMISSION_FIELDS + " } }",
        {"o": order_id},
    )
    return [e["node"] for e in body["data"]["commissions"]["edges"]]


def wallet(gql: GraphQLClient) -> dict:
    return gql('{ wallet(agentCode: "P1") { frozen unfreezing available debt } }')["data"]["wallet"]


def release(gql: GraphQLClient, now: str) -> list[dict]:
    return gql.ok(
        "releaseDueCommissions",
        {"now": now},
        "requests { id status requestedAmount commission { id amount } }",
    )["requests"]


def test_hold_release_approve(gql: GraphQLClient) -> None:
    setup(gql)
    sell(gql, "O-1", "customer", DAY1)
    [line] = order_lines(gql, "O-1")
    assert (line["kind"], line["amount"], line["status"]) == ("PERCENTAGE", "8.00", "FROZEN")
    assert release(gql, DAY5) == []  # still inside the 7-day hold
    [request] = release(gql, DAY8)
    assert request["status"] == "PENDING"
    assert request["commission"] == {"id": line["id"], "amount": "8.00"}
    assert wallet(gql) == {
        "frozen": "0.00",
        "unfreezing": "8.00",
        "available": "0.00",
        "debt": "0.00",
    }
    approved = gql.ok(
        "approveUnfreezeRequests",
        {"ids": [request["id"]], "note": "ok"},
        "requests { id status decidedBy }",
    )["requests"]
    assert approved == [{"id": request["id"], "status": "APPROVED", "decidedBy": "finance-1"}]
    assert wallet(gql)["available"] == "8.00"
    [line] = order_lines(gql, "O-1")
    assert [h["status"] for h in line["history"]] == ["FROZEN", "UNFREEZE_REQUESTED", "APPROVED"]
    again = gql.mutate("approveUnfreezeRequests", {"ids": [request["id"]]})
    assert again["userErrors"][0]["code"] == "INVALID_STATE"


def test_refund_inside_hold_voids(gql: GraphQLClient) -> None:
    setup(gql)
    sell(gql, "O-2", "customer", DAY1)
    gql.ok(
        "refundOrder",
        {"orderId": "O-2", "amount": "100", "reason": "after-sale return", "occurredAt": DAY5},
    )
    [line] = order_lines(gql, "O-2")
    assert (line["status"], line["amount"]) == ("VOIDED", "0.00")
    assert line["history"][-1]["reason"].endswith("after-sale return")
    assert wallet(gql)["frozen"] == "0.00"
    assert release(gql, DAY20) == []


def test_self_purchase_earns_nothing(gql: GraphQLClient) -> None:
    setup(gql)
    sell(gql, "O-3", "P1", DAY1)
    assert order_lines(gql, "O-3") == []
    assert wallet(gql)["frozen"] == "0.00"


def approve_all(gql: GraphQLClient, now: str) -> None:
    ids = [r["id"] for r in release(gql, now)]
    gql.ok("approveUnfreezeRequests", {"ids": ids})


def test_refund_after_approval_claws_back(gql: GraphQLClient) -> None:
    setup(gql)
    sell(gql, "O-4", "customer", DAY1)
    approve_all(gql, DAY8)
    gql.ok(
        "refundOrder",
        {"orderId": "O-4", "amount": "50", "reason": "half returned", "occurredAt": DAY9},
    )
    assert wallet(gql) == {
        "frozen": "0.00",
        "unfreezing": "0.00",
        "available": "4.00",
        "debt": "0.00",
    }
    [line] = order_lines(gql, "O-4")
    assert (line["status"], line["amount"]) == ("APPROVED", "4.00")
    assert line["history"][-1]["status"] == "APPROVED"
    gql.ok(
        "refundOrder",
        {"orderId": "O-4", "amount": "50", "reason": "rest returned", "occurredAt": DAY9},
    )
    [line] = order_lines(gql, "O-4")
    assert (line["status"], line["amount"]) == ("CLAWED_BACK", "0.00")
    assert wallet(gql)["available"] == "0.00"


def test_clawback_into_debt_paid_first_by_later_commission(gql: GraphQLClient) -> None:
    setup(gql)
    sell(gql, "O-6", "customer", DAY1)
    approve_all(gql, DAY8)
    gql.ok("requestWithdrawal", {"agentCode": "P1", "withdrawalId": "W-1", "amount": "8"})
    gql.ok("approveWithdrawals", {"withdrawals": [{"agentCode": "P1", "withdrawalId": "W-1"}]})
    paid = gql.ok(
        "settleWithdrawal",
        {"agentCode": "P1", "withdrawalId": "W-1", "paid": True},
        "wallet { available withdrawing }",
    )
    assert paid["wallet"] == {"available": "0.00", "withdrawing": "0.00"}
    # The money is gone, then the order is refunded: the clawback becomes debt.
    gql.ok(
        "refundOrder", {"orderId": "O-6", "amount": "100", "reason": "returned", "occurredAt": DAY9}
    )
    assert wallet(gql) == {
        "frozen": "0.00",
        "unfreezing": "0.00",
        "available": "0.00",
        "debt": "8.00",
    }
    refused = gql.mutate(
        "requestWithdrawal", {"agentCode": "P1", "withdrawalId": "W-2", "amount": "0.01"}
    )
    assert refused["userErrors"][0]["code"] == "INSUFFICIENT_FUNDS"
    # The next commission, once approved, pays the debt first.
    sell(gql, "O-7", "customer", DAY9)
    gql.ok(
        "placeOrder",
        {
            "orderId": "O-8",
            "packageCode": "PK",
            "agentCode": "P1",
            "buyerCode": "c2",
            "flow": "CUSTOMER_PAYS",
            "occurredAt": DAY9,
        },
    )
    gql.ok("completeOrder", {"orderId": "O-8", "occurredAt": DAY9})
    approve_all(gql, DAY20)
    assert wallet(gql) == {
        "frozen": "0.00",
        "unfreezing": "0.00",
        "available": "8.00",
        "debt": "0.00",
    }
    totals = gql("{ platformTotals { income refunded agentCredits paidOut net } }")
    assert totals["data"]["platformTotals"] == {
        "income": "300.00",
        "refunded": "100.00",
        "agentCredits": "16.00",
        "paidOut": "8.00",
        "net": "184.00",
    }


def test_time_travel(gql: GraphQLClient) -> None:
    setup(gql)
    sell(gql, "O-8", "customer", DAY1)
    before = gql('{ wallet(agentCode: "P1") { frozen available } }')
    position, as_of = before["extensions"]["position"], before["extensions"]["asOf"]
    [request] = release(gql, DAY8)
    gql.ok("approveUnfreezeRequests", {"ids": [request["id"]]})
    now = gql('{ wallet(agentCode: "P1") { frozen available } }')["data"]["wallet"]
    assert now == {"frozen": "0.00", "available": "8.00"}
    by_position = gql(
        'query($p: String) { wallet(agentCode: "P1", position: $p) { frozen available } }',
        {"p": position},
    )
    assert by_position["data"]["wallet"] == {"frozen": "8.00", "available": "0.00"}
    assert by_position["extensions"]["position"] == position
    by_time = gql(
        'query($t: DateTime) { wallet(agentCode: "P1", asOf: $t) { frozen available }'
        ' commissions(agentCode: "P1", asOf: $t) { edges { node { status } } } }',
        {"t": as_of},
    )
    assert by_time["data"]["wallet"] == {"frozen": "8.00", "available": "0.00"}
    assert by_time["data"]["commissions"]["edges"] == [{"node": {"status": "FROZEN"}}]
    assert by_time["extensions"]["position"] == position
    before_anything = gql('{ wallet(agentCode: "P1", asOf: "2020-01-01T00:00:00Z") { frozen } }')
    assert before_anything["data"]["wallet"] is None
    replayed = gql(
        'query($t: DateTime) { replay(aggregate: WALLET, code: "P1", at: $t) { version state } }',
        {"t": as_of},
    )["data"]["replay"]
    assert replayed["state"]["balances"]["frozen"] == "8.00"
