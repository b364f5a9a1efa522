"""SPEC §5 example 3 (seed 004) over HTTP GraphQL: both flows, price differences, commissions,
platform net, and the 2x price cap."""

import pytest

from tests.e2e.conftest import GraphQLClient

T0 = "2026-01-05T10:00:00+08:00"


def setup_menu(gql: GraphQLClient, plan_rules: list[dict]) -> None:
    gql.ok("registerAgent", {"code": "A", "name": "Agent A", "realNameVerified": True})
    gql.ok(
        "definePackage",
        {
            "code": "TC-50",
            "name": "Traffic 50",
            "kind": "TRAFFIC",
            "purchasePrice": "50",
            "periodMonths": 1,
        },
    )
    gql.ok("setCostPrice", {"agentCode": "A", "packageCode": "TC-50", "costPrice": "60"})
    gql.ok("setRetailPrice", {"agentCode": "A", "packageCode": "TC-50", "retailPrice": "90"})
    gql.ok(
        "defineCommissionPlan",
        {"code": "traffic", "effectiveFrom": "2026-01-01T00:00:00Z", "rules": plan_rules},
    )


def totals(gql: GraphQLClient) -> dict:
    return gql("{ platformTotals { income refunded agentCredits net } }")["data"]["platformTotals"]


def wallet(gql: GraphQLClient, code: str) -> dict:
    return gql(
        "query($c: String!) { wallet(agentCode: $c) { frozen unfreezing available debt deposit } }",
        {"c": code},
    )["data"]["wallet"]


@pytest.mark.parametrize(
    ("rule", "commission", "net"),
    [
        (
            {"code": "pct5", "kind": "PERCENTAGE", "rate": "5%", "base": "COST_PRICE"},
            "3.00",
            "57.00",
        ),
        ({"code": "fixed5", "kind": "FIXED", "amount": "5"}, "5.00", "55.00"),
    ],
)
def test_flow1_customer_pays(gql: GraphQLClient, rule: dict, commission: str, net: str) -> None:
    setup_menu(gql, [rule])
    placed = gql.ok(
        "placeOrder",
        {
            "orderId": "O-1",
            "packageCode": "TC-50",
            "agentCode": "A",
            "buyerCode": "customer-1",
            "iccid": "8986001",
            "flow": "CUSTOMER_PAYS",
            "occurredAt": T0,
        },
        "paidAmount",
    )
    assert placed["paidAmount"] == "90.00"
    gql.ok("completeOrder", {"orderId": "O-1", "occurredAt": T0})

    lines = gql(
        '{ commissions(agentCode: "A") { edges { node { kind amount status ruleCode'
        " planCode ruleVersion orderId } } } }"
    )["data"]["commissions"]["edges"]
    by_kind = {e["node"]["kind"]: e["node"] for e in lines}
    assert by_kind["PRICE_DIFFERENCE"]["amount"] == "30.00"
    assert by_kind[rule["kind"]]["amount"] == commission
    assert by_kind[rule["kind"]]["planCode"] == "traffic"
    assert by_kind[rule["kind"]]["ruleVersion"] == 1
    assert {n["node"]["status"] for n in lines} == {"FROZEN"}
    assert totals(gql) == {
        "income": "90.00",
        "refunded": "0.00",
        "agentCredits": f"{30 + float(commission):.2f}",
        "net": net,
    }


@pytest.mark.parametrize(
    ("rule", "net"),
    [
        ({"code": "pct5", "kind": "PERCENTAGE", "rate": "0.05"}, "57.00"),
        ({"code": "fixed5", "kind": "FIXED", "amount": "5.00"}, "55.00"),
    ],
)
def test_flow2_agent_prepaid(gql: GraphQLClient, rule: dict, net: str) -> None:
    setup_menu(gql, [rule])
    topped = gql.ok("topUpDeposit", {"agentCode": "A", "amount": "100"}, "wallet { deposit }")
    assert topped["wallet"]["deposit"] == "100.00"
    gql.ok(
        "placeOrder",
        {
            "orderId": "O-2",
            "packageCode": "TC-50",
            "agentCode": "A",
            "buyerCode": "customer-2",
            "flow": "AGENT_PREPAID",
            "occurredAt": T0,
        },
    )
    gql.ok("completeOrder", {"orderId": "O-2", "occurredAt": T0})
    assert wallet(gql, "A")["deposit"] == "40.00"  # the cost 60 was debited
    t = totals(gql)
    assert t["income"] == "60.00"
    assert t["net"] == net  # the 30 the agent collects never passes through the ledger


def test_price_chain_two_levels(gql: GraphQLClient) -> None:
    setup_menu(gql, [{"code": "none", "kind": "FIXED", "amount": "0.00", "packages": ["X"]}])
    gql.ok("registerAgent", {"code": "B", "name": "Agent B", "parentCode": "A"})
    gql.ok("setCostPrice", {"agentCode": "B", "packageCode": "TC-50", "costPrice": "70"})
    gql.ok("setRetailPrice", {"agentCode": "B", "packageCode": "TC-50", "retailPrice": "100"})
    gql.ok(
        "placeOrder",
        {
            "orderId": "O-3",
            "packageCode": "TC-50",
            "agentCode": "B",
            "buyerCode": "c",
            "flow": "CUSTOMER_PAYS",
            "occurredAt": T0,
        },
    )
    gql.ok("completeOrder", {"orderId": "O-3", "occurredAt": T0})
    assert wallet(gql, "A")["frozen"] == "10.00"
    assert wallet(gql, "B")["frozen"] == "30.00"
    assert totals(gql)["net"] == "60.00"  # the platform keeps A's cost


def test_retail_price_cap(gql: GraphQLClient) -> None:
    setup_menu(gql, [{"code": "pct5", "kind": "PERCENTAGE", "rate": "5%"}])
    gql.ok("setRetailPrice", {"agentCode": "A", "packageCode": "TC-50", "retailPrice": "120"})
    head = gql("{ platformTotals { net } }")["extensions"]["position"]
    refused = gql.mutate(
        "setRetailPrice", {"agentCode": "A", "packageCode": "TC-50", "retailPrice": "130"}
    )
    assert refused["userErrors"][0]["code"] == "PRICE_ABOVE_LIMIT"
    assert refused["userErrors"][0]["field"] == ["input", "retailPrice"]
    assert "120.00" in refused["userErrors"][0]["message"]
    assert gql("{ platformTotals { net } }")["extensions"]["position"] == head


def test_commission_explanation(gql: GraphQLClient) -> None:
    setup_menu(gql, [{"code": "pct5", "kind": "PERCENTAGE", "rate": "5%", "base": "COST_PRICE"}])
    gql.ok(
        "placeOrder",
        {
            "orderId": "O-9",
            "packageCode": "TC-50",
            "agentCode": "A",
            "buyerCode": "c",
            "flow": "CUSTOMER_PAYS",
            "occurredAt": T0,
        },
    )
    gql.ok("completeOrder", {"orderId": "O-9", "occurredAt": T0})
    lines = gql('{ commissions(orderId: "O-9") { edges { node { kind explanation } } } }')
    text = {
        e["node"]["kind"]: e["node"]["explanation"] for e in lines["data"]["commissions"]["edges"]
    }
    assert text["PERCENTAGE"].startswith("percentage 3.00 = 5% x 60.00 for order O-9, to A")
    assert "rule pct5 of plan traffic version 1" in text["PERCENTAGE"]
    assert "now FROZEN at 3.00" in text["PERCENTAGE"]
    assert text["PRICE_DIFFERENCE"].startswith(
        "price difference 30.00 = sold at 90.00 - cost price 60.00 for order O-9"
    )
