"""Uplines' shares of a number card's settlement over HTTP GraphQL: MULTI_LEVEL with base
SETTLEMENT pays the card agent's uplines their rates of the carrier's total for the row, inside the
split that never leaves the platform a negative share; a carrier stop voids them while frozen."""

from tests.e2e.conftest import GraphQLClient

JAN = "2026-01-01T00:00:00+08:00"
MAR1 = "2026-03-01T10:00:00+08:00"
APR5 = "2026-04-05T10:00:00+08:00"
APR6 = "2026-04-06T10:00:00+08:00"
SHARE = "agentShare platformShare"
ICCID = "89860001"
LONG = {"code": "lt40", "kind": "LONG_TERM", "rate": "40%", "rechargeThreshold": "50.00"}
UPLINES = {"code": "up", "kind": "MULTI_LEVEL", "base": "SETTLEMENT", "levels": ["10%", "5%"]}


def setup(gql: GraphQLClient, rules: list[dict]) -> None:
    """G -> P -> A; A's activated number card recharged 100."""
    gql.ok(
        "definePackage", {"code": "NC", "name": "Number", "kind": "NUMBER", "purchasePrice": "0"}
    )
    gql.ok("registerAgent", {"code": "G", "name": "G"})
    gql.ok("registerAgent", {"code": "P", "name": "P", "parentCode": "G"})
    gql.ok("registerAgent", {"code": "A", "name": "A", "parentCode": "P"})
    gql.ok("assignCard", {"iccid": ICCID, "agentCode": "A", "packageCode": "NC"})
    gql.ok("activateCard", {"iccid": ICCID, "occurredAt": MAR1})
    gql.ok("recordRecharge", {"iccid": ICCID, "amount": "100", "occurredAt": MAR1})
    gql.ok("defineCommissionPlan", {"code": "nc", "effectiveFrom": JAN, "rules": rules})


def row(row_id: str, total: str = "30.00", **overrides: object) -> dict:
    return {
        "rowId": row_id,
        "iccid": ICCID,
        "period": "2026-03",
        "totalCommission": total,
        "networkStatus": "NORMAL",
        "noArrears": True,
        "noSuspension": True,
        "noComplaint": True,
        "occurredAt": APR5,
        **overrides,
    }


def lines(gql: GraphQLClient) -> dict[str, tuple]:
    body = gql(
        "{ commissions { edges { node { agentCode kind amount status iccid rate facts } } } }"
    )
    return {
        n["agentCode"]: (n["kind"], n["amount"], n["status"], n["facts"].get("level"))
        for e in body["data"]["commissions"]["edges"]
        if (n := e["node"])["iccid"] == ICCID
    }


def test_uplines_share_the_settlement_base(gql: GraphQLClient) -> None:
    setup(gql, [LONG, UPLINES])
    paid = gql.ok("recordCarrierSettlement", row("R-1"), SHARE)
    # 30.00: A 40% = 12.00, P (level 1) 10% = 3.00, G (level 2) 5% = 1.50; platform 13.50.
    assert (paid["agentShare"], paid["platformShare"]) == ("16.50", "13.50")
    assert lines(gql) == {
        "A": ("LONG_TERM", "12.00", "UNFREEZE_REQUESTED", None),
        "P": ("MULTI_LEVEL", "3.00", "FROZEN", 1),
        "G": ("MULTI_LEVEL", "1.50", "FROZEN", 2),
    }
    # A row that fails the carrier's conditions pays the uplines nothing either.
    failed = gql.ok("recordCarrierSettlement", row("R-2", noArrears=False), SHARE)
    assert (failed["agentShare"], failed["platformShare"]) == ("0.00", "30.00")


def test_the_platform_share_is_never_negative(gql: GraphQLClient) -> None:
    greedy = {**UPLINES, "levels": ["50%", "30%"]}
    setup(gql, [LONG, greedy])  # 40% + 50% + 30% of the total: refused (overflow REFUSE)
    refused = gql.mutate("recordCarrierSettlement", row("R-1"))
    assert refused["userErrors"][0]["code"] == "PLAN_REFUSED"
    assert "negative" in refused["userErrors"][0]["message"]
    assert lines(gql) == {}
    gql.ok(
        "defineCommissionPlan",
        {
            "code": "nc",
            "effectiveFrom": "2026-02-01T00:00:00+08:00",
            "rules": [{**LONG, "overflow": "CAP"}, {**greedy, "overflow": "CAP"}],
        },
    )
    paid = gql.ok("recordCarrierSettlement", row("R-2"), SHARE)
    assert (paid["agentShare"], paid["platformShare"]) == ("30.00", "0.00")
    # 12.00 : 15.00 : 9.00 scaled to 30.00 by largest remainder.
    assert {code: line[1] for code, line in lines(gql).items()} == {
        "A": "10.00",
        "P": "12.50",
        "G": "7.50",
    }


def test_a_carrier_stop_voids_the_uplines_frozen_shares_too(gql: GraphQLClient) -> None:
    setup(gql, [LONG, UPLINES])
    gql.ok("recordCarrierSettlement", row("R-1"))
    flags = {"stopped": True, "arrears": False, "cancelled": False, "complaint": False}
    gql.ok("reportCardConditions", {"iccid": ICCID, **flags, "occurredAt": APR6})
    assert lines(gql) == {
        "A": ("LONG_TERM", "0.00", "VOIDED", None),
        "P": ("MULTI_LEVEL", "0.00", "VOIDED", 1),
        "G": ("MULTI_LEVEL", "0.00", "VOIDED", 2),
    }
    pending = gql("{ unfreezeRequests(status: PENDING) { edges { node { id } } } }")
    assert pending["data"]["unfreezeRequests"]["edges"] == []
