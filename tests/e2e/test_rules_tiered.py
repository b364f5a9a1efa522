"""SPEC §5 example 4 (seed 000) over HTTP GraphQL: TIERED on the agent's monthly sales amount,
0-100,000 at 8% and above at 12%, in Stripe's `volume` and `graduated` modes."""

import pytest

from tests.e2e.conftest import GraphQLClient

JAN = "2026-01-01T00:00:00+08:00"
MAR1 = "2026-03-01T10:00:00+08:00"
MAR2 = "2026-03-02T10:00:00+08:00"
MAR31_LATE = "2026-03-31T23:30:00+08:00"  # still March in the business time zone (UTC+8)
APR1 = "2026-04-01T00:30:00+08:00"  # April in Beijing, still March 31 in UTC

TIERS = [{"upTo": "100000.00", "rate": "8%"}, {"upTo": None, "rate": "12%"}]


def setup(gql: GraphQLClient, mode: str) -> None:
    gql.ok("definePackage", {"code": "BIG", "name": "Big", "kind": "TRAFFIC", "purchasePrice": "1"})
    gql.ok("registerAgent", {"code": "A", "name": "A"})
    gql.ok("setCostPrice", {"agentCode": "A", "packageCode": "BIG", "costPrice": "1000"})
    plan = [
        {"code": "tiers", "kind": "TIERED", "metric": "SALES_AMOUNT", "mode": mode, "tiers": TIERS}
    ]
    gql.ok("defineCommissionPlan", {"code": "t", "effectiveFrom": JAN, "rules": plan})


def sell(gql: GraphQLClient, order_id: str, amount: str, at: str) -> None:
    """A flow-2 sale: paid = A's cost, set to the amount first (no price difference)."""
    gql.ok("setCostPrice", {"agentCode": "A", "packageCode": "BIG", "costPrice": amount})
    gql.ok("topUpDeposit", {"agentCode": "A", "amount": amount})
    gql.ok(
        "placeOrder",
        {
            "orderId": order_id,
            "packageCode": "BIG",
            "agentCode": "A",
            "buyerCode": "c",
            "flow": "AGENT_PREPAID",
            "occurredAt": at,
        },
    )
    gql.ok("completeOrder", {"orderId": order_id, "occurredAt": at})


def tiered(gql: GraphQLClient, order_id: str) -> tuple:
    body = gql(
        "query($o: String!) { commissions(orderId: $o) { edges { node {"
        " kind amount base rate facts } } } }",
        {"o": order_id},
    )
    [node] = [e["node"] for e in body["data"]["commissions"]["edges"]]
    assert node["kind"] == "TIERED"
    return node["amount"], node["rate"], node["facts"]


@pytest.mark.parametrize(("mode", "expected"), [("volume", "18000.00"), ("graduated", "14000.00")])
def test_seed000_150000_in_one_month(gql: GraphQLClient, mode: str, expected: str) -> None:
    setup(gql, mode)
    sell(gql, "O-1", "150000", MAR1)
    amount, rate, facts = tiered(gql, "O-1")
    assert amount == expected
    assert facts["monthVolumeBefore"] == "0.00"
    assert facts["monthVolumeAfter"] == "150000.00"
    if mode == "volume":
        assert (rate, facts["tier"]) == ("0.12", 2)
    else:
        assert rate is None
        assert facts["segments"] == [
            {"from": "0.00", "to": "100000.00", "rate": "0.08"},
            {"from": "100000.00", "to": "150000.00", "rate": "0.12"},
        ]


def test_graduated_over_two_sales_and_the_month_boundary(gql: GraphQLClient) -> None:
    setup(gql, "graduated")
    sell(gql, "O-1", "90000", MAR1)
    sell(gql, "O-2", "60000", MAR31_LATE)
    assert tiered(gql, "O-1")[0] == "7200.00"  # 90,000 x 8%
    assert tiered(gql, "O-2")[0] == "6800.00"  # 10,000 x 8% + 50,000 x 12%: 14,000 in all
    sell(gql, "O-3", "1000", APR1)  # a new month in Beijing: the volume starts again
    amount, rate, facts = tiered(gql, "O-3")
    assert (amount, rate, facts["monthVolumeBefore"]) == ("80.00", "0.08", "0.00")


def test_volume_tier_change_takes_effect_from_the_next_commission(gql: GraphQLClient) -> None:
    setup(gql, "volume")
    sell(gql, "O-1", "100000", MAR1)
    sell(gql, "O-2", "50000", MAR2)
    assert tiered(gql, "O-1")[:2] == ("8000.00", "0.08")  # not re-rated when the tier changes
    assert tiered(gql, "O-2")[:2] == ("6000.00", "0.12")


def test_refund_lowers_the_month_volume(gql: GraphQLClient) -> None:
    setup(gql, "volume")
    sell(gql, "O-1", "100000", MAR1)
    gql.ok("refundOrder", {"orderId": "O-1", "amount": "40000", "reason": "r", "occurredAt": MAR2})
    sell(gql, "O-2", "40000", MAR2)
    amount, rate, facts = tiered(gql, "O-2")
    assert (facts["monthVolumeBefore"], amount, rate) == ("60000.00", "3200.00", "0.08")


def test_malformed_tiers_are_refused(gql: GraphQLClient) -> None:
    for tiers, message in [
        ([{"upTo": "100", "rate": "8%"}], "last has upTo null"),
        (
            [{"upTo": "100", "rate": "8%"}, {"upTo": "50", "rate": "9%"}, {"rate": "1%"}],
            "ascending",
        ),
        ([{"upTo": None, "rate": "180%"}], "outside 0-100%"),
    ]:
        refused = gql.mutate(
            "defineCommissionPlan",
            {
                "code": "t",
                "effectiveFrom": JAN,
                "rules": [{"code": "x", "kind": "TIERED", "tiers": tiers}],
            },
        )
        assert message in refused["userErrors"][0]["message"], refused
    refused = gql.mutate(
        "defineCommissionPlan",
        {
            "code": "t",
            "effectiveFrom": JAN,
            "rules": [{"code": "x", "kind": "TIERED", "effect": "EVERY_YEAR", "tiers": TIERS}],
        },
    )
    assert "RERATE_MONTH" in refused["userErrors"][0]["message"], refused


def tiered_lines(gql: GraphQLClient, order_id: str) -> list[tuple[str, str]]:
    body = gql(
        "query($o: String!) { commissions(orderId: $o) { edges { node { kind amount status } } } }",
        {"o": order_id},
    )
    return sorted(
        (n["amount"], n["status"]) for e in body["data"]["commissions"]["edges"] if (n := e["node"])
    )


def month_total(gql: GraphQLClient) -> str:
    return gql('{ wallet(agentCode: "A") { frozen } }')["data"]["wallet"]["frozen"]


def test_rerate_month_pays_the_whole_month_at_the_tier_reached(gql: GraphQLClient) -> None:
    """effect RERATE_MONTH: 0-10,000 at 1%, above at 2%. Crossing the tier re-rates the month's
    earlier sales with adjustment lines; a refund falling back re-rates them down again."""
    gql.ok("definePackage", {"code": "BIG", "name": "Big", "kind": "TRAFFIC", "purchasePrice": "1"})
    gql.ok("registerAgent", {"code": "A", "name": "A"})
    tiers = [{"upTo": "10000.00", "rate": "1%"}, {"upTo": None, "rate": "2%"}]
    rule = {"code": "tiers", "kind": "TIERED", "mode": "volume", "tiers": tiers}
    gql.ok(
        "defineCommissionPlan",
        {"code": "t", "effectiveFrom": JAN, "rules": [{**rule, "effect": "RERATE_MONTH"}]},
    )
    sell(gql, "O-1", "6000", MAR1)
    assert tiered_lines(gql, "O-1") == [("60.00", "FROZEN")]
    sell(gql, "O-2", "6000", MAR2)  # the month reaches 12,000: tier 2 for both sales
    assert tiered_lines(gql, "O-2") == [("120.00", "FROZEN")]
    assert tiered_lines(gql, "O-1") == [("60.00", "FROZEN"), ("60.00", "FROZEN")]
    assert month_total(gql) == "240.00"  # 2% of 12,000
    gql.ok(
        "refundOrder", {"orderId": "O-2", "amount": "3000", "reason": "part", "occurredAt": MAR2}
    )
    # 9,000 left: back to 1% for the month, 90.00 in all.
    assert month_total(gql) == "90.00"
    assert tiered_lines(gql, "O-1") == [("0.00", "VOIDED"), ("60.00", "FROZEN")]
    assert tiered_lines(gql, "O-2") == [("30.00", "FROZEN")]


def test_rerate_month_needs_volume_mode(gql: GraphQLClient) -> None:
    tiers = [{"upTo": "10000.00", "rate": "1%"}, {"upTo": None, "rate": "2%"}]
    rule = {"code": "x", "kind": "TIERED", "mode": "graduated", "tiers": tiers}
    refused = gql.mutate(
        "defineCommissionPlan",
        {"code": "t", "effectiveFrom": JAN, "rules": [{**rule, "effect": "RERATE_MONTH"}]},
    )
    assert "mode 'volume'" in refused["userErrors"][0]["message"]
