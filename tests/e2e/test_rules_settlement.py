"""Number-card settlement over HTTP GraphQL: recordCarrierSettlement splits the carrier's total
commission by the LONG_TERM rules, straight to "unfreeze requested"; the platform keeps the rest."""

from tests.e2e.conftest import GraphQLClient

JAN = "2026-01-01T00:00:00+08:00"
MAR1 = "2026-03-01T10:00:00+08:00"
APR1 = "2026-04-05T10:00:00+08:00"
SHARE = "agentShare platformShare"


def setup(gql: GraphQLClient, rules: list[dict]) -> None:
    gql.ok(
        "definePackage", {"code": "NC", "name": "Number", "kind": "NUMBER", "purchasePrice": "0"}
    )
    gql.ok("registerAgent", {"code": "A", "name": "A"})
    gql.ok("assignCard", {"iccid": "89860001", "agentCode": "A", "packageCode": "NC"})
    gql.ok("activateCard", {"iccid": "89860001", "occurredAt": MAR1})
    gql.ok("recordRecharge", {"iccid": "89860001", "amount": "100", "occurredAt": MAR1})
    gql.ok("defineCommissionPlan", {"code": "lt", "effectiveFrom": JAN, "rules": rules})


def row(row_id: str, total: str = "30.00", **overrides: object) -> dict:
    return {
        "rowId": row_id,
        "iccid": "89860001",
        "period": "2026-03",
        "totalCommission": total,
        "networkStatus": "NORMAL",
        "noArrears": True,
        "noSuspension": True,
        "noComplaint": True,
        "occurredAt": APR1,
        **overrides,
    }


def card_lines(gql: GraphQLClient) -> list[tuple]:
    body = gql(
        '{ commissions(agentCode: "A") { edges { node { kind amount status rate facts } } } }'
    )
    return [
        (n["kind"], n["amount"], n["status"], n["facts"].get("rowId"))
        for e in body["data"]["commissions"]["edges"]
        if (n := e["node"])
    ]


LONG = {"code": "lt40", "kind": "LONG_TERM", "rate": "40%", "rechargeThreshold": "50.00"}


def test_split_straight_to_unfreeze_requested_and_idempotent_per_row(gql: GraphQLClient) -> None:
    setup(gql, [LONG])
    paid = gql.ok("recordCarrierSettlement", row("R-1"), SHARE)
    assert (paid["agentShare"], paid["platformShare"]) == ("12.00", "18.00")
    assert card_lines(gql) == [("LONG_TERM", "12.00", "UNFREEZE_REQUESTED", "R-1")]
    again = gql.ok("recordCarrierSettlement", row("R-1"), SHARE)  # the same row: same answer
    assert (again["agentShare"], again["platformShare"]) == ("12.00", "18.00")
    assert len(card_lines(gql)) == 1
    changed = gql.mutate("recordCarrierSettlement", row("R-1", total="31.00"))
    assert changed["userErrors"][0]["code"] == "IDEMPOTENCY_KEY_REUSED"
    [request] = gql("{ unfreezeRequests(status: PENDING) { edges { node { id } } } }")["data"][
        "unfreezeRequests"
    ]["edges"]
    gql.ok("approveUnfreezeRequests", {"ids": [request["node"]["id"]]})
    wallet = gql('{ wallet(agentCode: "A") { available } }')["data"]["wallet"]
    assert wallet == {"available": "12.00"}


def test_conditions_not_met_pay_nothing(gql: GraphQLClient) -> None:
    setup(gql, [LONG])
    for row_id, flags in [
        ("R-1", {"networkStatus": "SUSPENDED"}),
        ("R-2", {"noArrears": False}),
        ("R-3", {"noComplaint": False}),
    ]:
        paid = gql.ok("recordCarrierSettlement", row(row_id, **flags), SHARE)
        assert (paid["agentShare"], paid["platformShare"]) == ("0.00", "30.00")
    assert card_lines(gql) == []


def test_overflow_refused_or_capped_as_the_plan_says(gql: GraphQLClient) -> None:
    setup(gql, [{"code": "fixed", "kind": "LONG_TERM", "amount": "50.00"}])
    refused = gql.mutate("recordCarrierSettlement", row("R-1"))
    assert refused["userErrors"][0]["code"] == "PLAN_REFUSED"
    assert card_lines(gql) == []
    gql.ok(
        "defineCommissionPlan",
        {
            "code": "lt",
            "effectiveFrom": "2026-02-01T00:00:00+08:00",
            "rules": [{"code": "fixed", "kind": "LONG_TERM", "amount": "50.00", "overflow": "CAP"}],
        },
    )
    paid = gql.ok("recordCarrierSettlement", row("R-2"), SHARE)
    assert (paid["agentShare"], paid["platformShare"]) == ("30.00", "0.00")
    assert card_lines(gql) == [("LONG_TERM", "30.00", "UNFREEZE_REQUESTED", "R-2")]


def test_combined_starts_after_n_periods(gql: GraphQLClient) -> None:
    setup(gql, [{**LONG, "afterPeriods": 3}])
    early = gql.ok("recordCarrierSettlement", row("R-1", periodsUsed=2), SHARE)
    assert early["agentShare"] == "0.00"
    late = gql.ok("recordCarrierSettlement", row("R-2", period="2026-04", periodsUsed=3), SHARE)
    assert late["agentShare"] == "12.00"


def test_bad_rows_are_refused(gql: GraphQLClient) -> None:
    setup(gql, [LONG])
    assert (
        gql.mutate("recordCarrierSettlement", row("R-1", period="2026-13"))["userErrors"][0]["code"]
        == "INVALID_INPUT"
    )
    assert (
        gql.mutate("recordCarrierSettlement", row("R-1", iccid="nope"))["userErrors"][0]["code"]
        == "CARD_NOT_FOUND"
    )
    assert (
        gql.mutate("recordCarrierSettlement", row("R-1", total="-1"))["userErrors"][0]["code"]
        == "INVALID_MONEY"
    )
