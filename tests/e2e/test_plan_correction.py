"""simulatePlan and applyPlanCorrection over HTTP GraphQL, on the seed 002 chain (10% / 5%)."""

from tests.e2e.conftest import GraphQLClient
from tests.e2e.test_rules_multilevel import plan, sell, tree

MAR = "2026-03-01T00:00:00+08:00"
APR = "2026-04-01T00:00:00+08:00"
DAY1 = "2026-03-01T12:00:00+08:00"
DAY9 = "2026-03-09T12:00:00+08:00"
DAY15 = "2026-03-15T12:00:00+08:00"
APR10 = "2026-04-10T12:00:00+08:00"

SIMULATE = """query($code: String!, $rules: JSON!, $from: DateTime!, $to: DateTime) {
  simulatePlan(code: $code, rules: $rules, from: $from, to: $to) {
    userErrors { code field message }
    simulation {
      planCode version sales recorded simulated difference commissionCount
      agents { agentCode recorded simulated difference }
      commissions(first: 50) { edges { node {
        agentCode orderId ruleCode recorded simulated difference recordedVersion simulatedVersion
      } } }
    }
  }
}"""


def rates(level1: str, level2: str = "5%") -> list[dict]:
    return [{"code": "ml", "kind": "MULTI_LEVEL", "levels": [level1, level2]}]


def simulate(gql: GraphQLClient, rules: list[dict], start: str = MAR, end: str | None = APR):
    body = gql(SIMULATE, {"code": "ml", "rules": rules, "from": start, "to": end})
    return body["data"]["simulatePlan"]


def history(gql: GraphQLClient) -> None:
    """A > B > C. B sells 100 and C sells 50 on Mar 1; A's 10.00 on B's sale is approved; C's
    sale is half refunded; B sells again on Apr 10 (outside the corrected period)."""
    tree(gql, [("A", None), ("B", "A"), ("C", "B")])
    gql.ok("setRetailPrice", {"agentCode": "C", "packageCode": "PK", "retailPrice": "50"})
    plan(gql, rates("10%"))
    sell(gql, "O-B", "B", at=DAY1)
    sell(gql, "O-C", "C", at=DAY1)
    released = gql.ok(
        "releaseDueCommissions", {"now": DAY9}, "requests { id commission { agentCode amount } }"
    )["requests"]
    a_line = [r["id"] for r in released if r["commission"] == {"agentCode": "A", "amount": "10.00"}]
    gql.ok("approveUnfreezeRequests", {"ids": a_line, "note": "ok"})
    gql.ok("refundOrder", {"orderId": "O-C", "amount": "25", "reason": "half", "occurredAt": DAY9})
    sell(gql, "O-late", "B", at=APR10)


def wallet(gql: GraphQLClient, code: str) -> dict:
    return gql(
        "query($a: String!) { wallet(agentCode: $a) { frozen unfreezing available debt } }",
        {"a": code},
    )["data"]["wallet"]


def order_lines(gql: GraphQLClient, order_id: str) -> list[tuple]:
    body = gql(
        "query($o: String!) { commissions(orderId: $o, first: 50) { edges { node {"
        " agentCode kind amount status ruleVersion } } } }",
        {"o": order_id},
    )
    return sorted(
        (n["agentCode"], n["amount"], n["status"], n["ruleVersion"])
        for e in body["data"]["commissions"]["edges"]
        if (n := e["node"])["kind"] == "MULTI_LEVEL"
    )


def test_simulate_reports_differences_and_writes_nothing(gql: GraphQLClient) -> None:
    history(gql)
    before = gql("{ commissions(first: 100) { edges { cursor } } }")
    result = simulate(gql, rates("8%"))
    assert result["userErrors"] == []
    sim = result["simulation"]
    assert (sim["planCode"], sim["version"], sim["sales"]) == ("ml", 2, 2)
    # O-B: A 10.00 -> 8.00. O-C (50, half refunded): B 2.50 -> 2.00; A's 5% part is unchanged.
    # Totals are every commission of the period, B's 50.00 price difference on O-B included.
    assert (sim["recorded"], sim["simulated"], sim["difference"]) == ("63.75", "61.25", "-2.50")
    assert sim["agents"] == [
        {"agentCode": "A", "recorded": "11.25", "simulated": "9.25", "difference": "-2.00"},
        {"agentCode": "B", "recorded": "52.50", "simulated": "52.00", "difference": "-0.50"},
    ]
    changed = sorted(
        (n["agentCode"], n["orderId"], n["recorded"], n["simulated"], n["simulatedVersion"])
        for e in sim["commissions"]["edges"]
        if (n := e["node"])
    )
    assert changed == [("A", "O-B", "10.00", "8.00", 2), ("B", "O-C", "2.50", "2.00", 2)]
    assert gql("{ commissions(first: 100) { edges { cursor } } }") == before
    assert gql("{ commissionPlans { version } }")["data"]["commissionPlans"] == [{"version": 1}]
    # The rules as recorded replay to no difference at all.
    assert simulate(gql, rates("10%"))["simulation"]["commissionCount"] == 0


def test_apply_correction_tops_up_then_takes_back(gql: GraphQLClient) -> None:
    history(gql)
    raised = gql.ok(
        "applyPlanCorrection",
        {"code": "ml", "rules": rates("12%"), "from": MAR, "to": APR, "reason": "rate was 12%"},
        "planCode version preview { difference commissionCount }",
    )
    assert (raised["version"], raised["preview"]["difference"]) == (2, "2.50")
    # A keeps its approved 10.00 and gets a 2.00 adjustment line (frozen, through approval).
    assert order_lines(gql, "O-B") == [("A", "10.00", "APPROVED", 1), ("A", "2.00", "FROZEN", 2)]
    assert order_lines(gql, "O-C") == [
        ("A", "1.25", "UNFREEZE_REQUESTED", 1),
        ("B", "0.50", "FROZEN", 2),
        ("B", "2.50", "UNFREEZE_REQUESTED", 1),
    ]
    assert order_lines(gql, "O-late") == [("A", "10.00", "FROZEN", 1)]  # outside the period
    body = gql('{ commissions(orderId: "O-B") { edges { node { ruleVersion explanation } } } }')
    [adjustment] = [
        e["node"]["explanation"]
        for e in body["data"]["commissions"]["edges"]
        if e["node"]["ruleVersion"] == 2
    ]
    assert "multi_level adjustment 2.00 = 12.00 now due at 12% x 100.00 - 10.00 recorded" in (
        adjustment
    )
    assert "rule ml of plan ml version 2" in adjustment
    plans = gql("{ commissionPlans { version effectiveTo correctionReason } }")
    assert plans["data"]["commissionPlans"][1] == {
        "version": 2,
        "effectiveTo": "2026-03-31T16:00:00+00:00",
        "correctionReason": "rate was 12%",
    }
    assert simulate(gql, rates("12%"))["simulation"]["commissionCount"] == 0

    # Lowering it to 8% takes back 4.00 from A: the 2.00 adjustment is voided, then 2.00 of
    # the released line is clawed back from available.
    gql.ok(
        "applyPlanCorrection",
        {"code": "ml", "rules": rates("8%"), "from": MAR, "to": APR, "reason": "rate was 8%"},
    )
    assert wallet(gql, "A")["available"] == "8.00"
    assert order_lines(gql, "O-B") == [("A", "0.00", "VOIDED", 2), ("A", "8.00", "APPROVED", 1)]
    assert order_lines(gql, "O-C") == [
        ("A", "1.25", "UNFREEZE_REQUESTED", 1),
        ("B", "0.00", "VOIDED", 2),
        ("B", "2.00", "UNFREEZE_REQUESTED", 1),
    ]
    # A fact of the period recorded after the correction is paid by it directly.
    sell(gql, "O-new", "B", at=DAY15)
    assert order_lines(gql, "O-new") == [("A", "8.00", "FROZEN", 3)]
    # The same correction once more changes nothing.
    assert simulate(gql, rates("8%"))["simulation"]["commissionCount"] == 0


def test_correction_refusals_change_nothing(gql: GraphQLClient) -> None:
    history(gql)
    cases = [
        ({"reason": ""}, "reason"),
        ({"to": MAR}, "to"),
        ({"rules": [{"code": "x", "kind": "MULTI_LEVEL", "levels": ["1%"] * 4}]}, "rules"),
        ({"from": "2026-03-01T00:00:00"}, None),  # no offset: a malformed DateTime
    ]
    for change, field in cases:
        data = {"code": "ml", "rules": rates("9%"), "from": MAR, "to": APR, "reason": "why"}
        body = gql.raw(
            "mutation($i: ApplyPlanCorrectionInput!) { applyPlanCorrection(input: $i) {"
            " version userErrors { code field } } }",
            {"i": {**data, **change}},
        ).json()
        if field is None:
            assert body.get("errors"), body
            continue
        payload = body["data"]["applyPlanCorrection"]
        assert payload["version"] is None
        assert payload["userErrors"][0]["field"][-1] == field
    assert gql("{ commissionPlans { version } }")["data"]["commissionPlans"] == [{"version": 1}]
    assert order_lines(gql, "O-B") == [("A", "10.00", "APPROVED", 1)]


def test_overlapping_plans_for_the_same_scope_are_refused(gql: GraphQLClient) -> None:
    tree(gql, [("A", None), ("B", "A")])
    plan(gql, rates("10%"))
    overlap = gql.mutate(
        "defineCommissionPlan",
        {"code": "other", "effectiveFrom": MAR, "rules": rates("3%")},
    )
    assert overlap["userErrors"][0]["code"] == "PLAN_REFUSED"
    assert "overlaps rule 'ml' of plan ml version 1" in overlap["userErrors"][0]["message"]
    # Another kind, or a disjoint package scope, is fine.
    gql.ok(
        "defineCommissionPlan",
        {
            "code": "bonus",
            "effectiveFrom": MAR,
            "rules": [{"code": "f", "kind": "FIXED", "amount": "1.00"}],
        },
    )


def test_an_unknown_plan_is_neither_corrected_nor_simulated(gql: GraphQLClient) -> None:
    """A correction names a plan that exists: a typo must not start a new plan by the back door."""
    history(gql)
    payload = gql.mutate(
        "applyPlanCorrection",
        {"code": "m1", "rules": rates("12%"), "from": MAR, "to": APR, "reason": "typo in code"},
        "planCode version",
    )
    assert (payload["planCode"], payload["version"]) == (None, None)
    [error] = payload["userErrors"]
    assert (error["code"], error["field"][-1]) == ("PLAN_NOT_FOUND", "code")
    assert "no commission plan with code 'm1'" in error["message"]
    plans = gql("{ commissionPlans { code version } }")["data"]["commissionPlans"]
    assert plans == [{"code": "ml", "version": 1}]
    replayed = gql('{ replay(aggregate: PLAN, code: "m1") { version } }')["data"]["replay"]
    assert replayed is None
    assert order_lines(gql, "O-B") == [("A", "10.00", "APPROVED", 1)]

    body = gql(SIMULATE, {"code": "m1", "rules": rates("12%"), "from": MAR, "to": APR})
    result = body["data"]["simulatePlan"]
    assert result["simulation"] is None
    assert [(e["code"], e["field"][-1]) for e in result["userErrors"]] == [
        ("PLAN_NOT_FOUND", "code")
    ]
