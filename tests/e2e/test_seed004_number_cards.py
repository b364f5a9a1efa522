"""Seed 004's number-card flow (号卡) over HTTP GraphQL, with the figures docs/rules.md gives
("Seed 004: the number-card flow"): value tiers raising one-time and long-term commissions at
seed 004's own activation count, the uplines' shares of the settlement, and a carrier stop voiding
what is still frozen."""

from tests.e2e.conftest import GraphQLClient

JAN = "2026-01-01T00:00:00+08:00"
MAR = ["2026-03-02T10:00:00+08:00", "2026-03-03T10:00:00+08:00", "2026-03-04T10:00:00+08:00"]
MAR5 = "2026-03-05T10:00:00+08:00"
APR5 = "2026-04-05T10:00:00+08:00"
APR6 = "2026-04-06T10:00:00+08:00"

ONE_TIME = {
    "code": "first100",
    "kind": "ONE_TIME",
    "amount": "10.00",
    "rechargeThreshold": "100.00",
    "tiers": [{"upTo": 2, "amount": "10.00"}, {"upTo": None, "amount": "15.00"}],
}
LONG_TERM = {
    "code": "lt",
    "kind": "LONG_TERM",
    "rate": "40%",
    "rechargeThreshold": "100.00",
    "recharge": "FIRST",
    "tiers": [{"upTo": 2, "rate": "40%"}, {"upTo": None, "rate": "50%"}],
}
UPLINES = {"code": "up", "kind": "MULTI_LEVEL", "base": "SETTLEMENT", "levels": ["10%"]}
CONDITIONS = {"stopped": False, "arrears": False, "cancelled": False, "complaint": False}


def setup(gql: GraphQLClient, rules: list[dict]) -> None:
    gql.ok(
        "definePackage", {"code": "NC", "name": "Number", "kind": "NUMBER", "purchasePrice": "0"}
    )
    gql.ok("registerAgent", {"code": "P", "name": "P"})
    gql.ok("registerAgent", {"code": "A", "name": "A", "parentCode": "P"})
    gql.ok("defineCommissionPlan", {"code": "number-card", "effectiveFrom": JAN, "rules": rules})


def card(gql: GraphQLClient, iccid: str, at: str, recharge: str = "100") -> None:
    gql.ok("assignCard", {"iccid": iccid, "agentCode": "A", "packageCode": "NC", "occurredAt": at})
    gql.ok("activateCard", {"iccid": iccid, "occurredAt": at})
    gql.ok("recordRecharge", {"iccid": iccid, "amount": recharge, "occurredAt": at})


def settle(gql: GraphQLClient, iccid: str) -> dict:
    return gql.ok(
        "recordCarrierSettlement",
        {
            "rowId": f"2026-03-{iccid}",
            "iccid": iccid,
            "period": "2026-03",
            "totalCommission": "30.00",
            "networkStatus": "NORMAL",
            "noArrears": True,
            "noSuspension": True,
            "noComplaint": True,
            "occurredAt": APR5,
        },
        "agentShare platformShare",
    )


def lines(gql: GraphQLClient) -> dict[tuple[str, str, str], tuple]:
    body = gql(
        "{ commissions(first: 50) { edges { node { agentCode kind iccid amount status facts } } } }"
    )
    return {
        (n["agentCode"], n["kind"], n["iccid"]): (n["amount"], n["status"], n["facts"].get("tier"))
        for e in body["data"]["commissions"]["edges"]
        if (n := e["node"])
    }


def wallet(gql: GraphQLClient, code: str) -> dict:
    return gql(
        "query($a: String!) { wallet(agentCode: $a) { frozen unfreezing available } }", {"a": code}
    )["data"]["wallet"]


def test_a_tier_raises_one_time_values_from_the_card_that_reaches_it(gql: GraphQLClient) -> None:
    setup(gql, [ONE_TIME])
    for i, at in enumerate(MAR, 1):
        card(gql, f"C{i}", at)
    # The third active card of the month reaches tier 2: it is paid 15.00; the first two keep
    # their 10.00 (lines accrued before the tier was reached are not re-valued).
    assert lines(gql) == {
        ("A", "ONE_TIME", "C1"): ("10.00", "FROZEN", 1),
        ("A", "ONE_TIME", "C2"): ("10.00", "FROZEN", 1),
        ("A", "ONE_TIME", "C3"): ("15.00", "FROZEN", 2),
    }
    # A card under the threshold, and one the carrier reported stopped before it qualified, do
    # not count: a fifth card that qualifies is the 4th active card (tier 2, 15.00).
    card(gql, "C4", MAR5, recharge="50")
    gql.ok("assignCard", {"iccid": "C5", "agentCode": "A", "packageCode": "NC", "occurredAt": MAR5})
    gql.ok(
        "reportCardConditions", {"iccid": "C5", **CONDITIONS, "stopped": True, "occurredAt": MAR5}
    )
    gql.ok("activateCard", {"iccid": "C5", "occurredAt": MAR5})
    gql.ok("recordRecharge", {"iccid": "C5", "amount": "100", "occurredAt": MAR5})
    card(gql, "C6", MAR5)
    found = gql(
        '{ commissions(agentCode: "A", first: 50) { edges { node { iccid amount facts } } } }'
    )["data"]["commissions"]["edges"]
    counts = {e["node"]["iccid"]: e["node"]["facts"]["activeCards"] for e in found}
    assert counts == {"C1": 1, "C2": 2, "C3": 3, "C5": 3, "C6": 4}
    explained = gql(
        '{ commissions(agentCode: "A", first: 50) { edges { node { iccid explanation } } } }'
    )["data"]["commissions"]["edges"]
    text = {e["node"]["iccid"]: e["node"]["explanation"] for e in explained}
    assert "tier 2 at 3 active cards" in text["C3"]


def test_seed004_number_card_acceptance_figures(gql: GraphQLClient) -> None:
    setup(gql, [ONE_TIME, LONG_TERM, UPLINES])
    for i, at in enumerate(MAR, 1):
        card(gql, f"C{i}", at)
    # April: the carrier settles March for C1 and C2, 30.00 each. March had 3 active cards:
    # long-term at tier 2 (50%) = 15.00 to A, 10% = 3.00 to P, the platform keeps 12.00.
    for iccid in ("C1", "C2"):
        assert settle(gql, iccid) == {
            "agentShare": "18.00",
            "platformShare": "12.00",
            "userErrors": [],
        }
    assert lines(gql) == {
        ("A", "ONE_TIME", "C1"): ("10.00", "FROZEN", 1),
        ("A", "ONE_TIME", "C2"): ("10.00", "FROZEN", 1),
        ("A", "ONE_TIME", "C3"): ("15.00", "FROZEN", 2),
        ("A", "LONG_TERM", "C1"): ("15.00", "UNFREEZE_REQUESTED", 2),
        ("A", "LONG_TERM", "C2"): ("15.00", "UNFREEZE_REQUESTED", 2),
        ("P", "MULTI_LEVEL", "C1"): ("3.00", "FROZEN", None),
        ("P", "MULTI_LEVEL", "C2"): ("3.00", "FROZEN", None),
    }
    assert wallet(gql, "A") == {"frozen": "35.00", "unfreezing": "30.00", "available": "0.00"}
    assert wallet(gql, "P") == {"frozen": "6.00", "unfreezing": "0.00", "available": "0.00"}
    # The carrier stops C2 (停机) before anything is released: its three lines are voided.
    gql.ok(
        "reportCardConditions",
        {"iccid": "C2", **CONDITIONS, "stopped": True, "source": "carrier", "occurredAt": APR6},
    )
    after = lines(gql)
    assert {key: after[key][:2] for key in after if key[2] == "C2"} == {
        ("A", "ONE_TIME", "C2"): ("0.00", "VOIDED"),
        ("A", "LONG_TERM", "C2"): ("0.00", "VOIDED"),
        ("P", "MULTI_LEVEL", "C2"): ("0.00", "VOIDED"),
    }
    assert wallet(gql, "A") == {"frozen": "25.00", "unfreezing": "15.00", "available": "0.00"}
    assert wallet(gql, "P") == {"frozen": "3.00", "unfreezing": "0.00", "available": "0.00"}
