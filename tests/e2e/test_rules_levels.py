"""SPEC §5 example 5 (seed 003) over HTTP GraphQL: an agent level ladder, setAgentLevel, level
difference (级差) and peer level (平级奖); level scopes and a holiday multiplier."""

from tests.e2e.conftest import GraphQLClient

JAN = "2026-01-01T00:00:00+08:00"
MAR1 = "2026-03-01T10:00:00+08:00"
MAY1 = "2026-05-01T10:00:00+08:00"

LADDER = [
    {"code": "G1", "name": "Grade 1", "rank": 1},
    {"code": "G2", "name": "Grade 2", "rank": 2, "conditions": {"teamSales": "100000"}},
]


def setup(gql: GraphQLClient, agents: list[tuple[str, str | None, str | None]]) -> None:
    gql.ok("definePackage", {"code": "PK", "name": "Plan", "kind": "TRAFFIC", "purchasePrice": "1"})
    assert gql.ok("defineAgentLevels", {"levels": LADDER}, "levelCodes")["levelCodes"] == [
        "G1",
        "G2",
    ]
    for code, parent, level in agents:
        gql.ok("registerAgent", {"code": code, "name": code, "parentCode": parent})
        gql.ok("setCostPrice", {"agentCode": code, "packageCode": "PK", "costPrice": "10000"})
        gql.ok("setRetailPrice", {"agentCode": code, "packageCode": "PK", "retailPrice": "10000"})
        if level:
            gql.ok("setAgentLevel", {"agentCode": code, "levelCode": level})


def plan(gql: GraphQLClient, rules: list[dict]) -> None:
    gql.ok("defineCommissionPlan", {"code": "lv", "effectiveFrom": JAN, "rules": rules})


def sell(gql: GraphQLClient, order_id: str, seller: str, at: str = MAR1) -> dict[str, tuple]:
    gql.ok(
        "placeOrder",
        {
            "orderId": order_id,
            "packageCode": "PK",
            "agentCode": seller,
            "buyerCode": "c",
            "flow": "CUSTOMER_PAYS",
            "occurredAt": at,
        },
    )
    gql.ok("completeOrder", {"orderId": order_id, "occurredAt": at})
    body = gql(
        "query($o: String!) { commissions(orderId: $o) { edges { node {"
        " agentCode kind amount rate } } } }",
        {"o": order_id},
    )
    return {
        (n["agentCode"], n["kind"]): (n["amount"], n["rate"])
        for e in body["data"]["commissions"]["edges"]
        if (n := e["node"])
    }


DIFF = {"code": "diff", "kind": "LEVEL_DIFFERENCE", "rates": {"G1": "0.5%", "G2": "1.0%"}}


def test_seed003_level_difference(gql: GraphQLClient) -> None:
    setup(gql, [("U", None, "G2"), ("S", "U", "G1")])
    plan(gql, [DIFF])
    # A grade-1 agent sells 10,000; its grade-2 upline earns (1.0% - 0.5%) x 10,000.
    assert sell(gql, "O-1", "S") == {("U", "LEVEL_DIFFERENCE"): ("50.00", "0.005")}


def test_level_difference_walks_up_and_pays_only_the_difference(gql: GraphQLClient) -> None:
    setup(gql, [("T", None, "G2"), ("U", "T", "G2"), ("M", "U", "G1"), ("S", "M", None)])
    plan(gql, [{**DIFF, "includeSeller": True}])
    # S has no level: M earns 0.5% of 10,000, U the remaining 0.5%, T (same grade) nothing.
    assert sell(gql, "O-1", "S") == {
        ("M", "LEVEL_DIFFERENCE"): ("50.00", "0.005"),
        ("U", "LEVEL_DIFFERENCE"): ("50.00", "0.005"),
    }


def test_peer_level_pays_only_the_first_same_grade_upline(gql: GraphQLClient) -> None:
    setup(gql, [("T", None, "G2"), ("U", "T", "G2"), ("S", "U", "G2")])
    plan(gql, [{"code": "peer", "kind": "PEER_LEVEL", "rate": "0.2%"}])
    assert sell(gql, "O-1", "S") == {("U", "PEER_LEVEL"): ("20.00", "0.002")}


def test_level_set_later_counts_from_then_on(gql: GraphQLClient) -> None:
    setup(gql, [("U", None, None), ("S", "U", "G1")])
    plan(gql, [DIFF])
    assert sell(gql, "O-1", "S") == {}
    gql.ok("setAgentLevel", {"agentCode": "U", "levelCode": "G2", "reason": "promoted"})
    assert sell(gql, "O-2", "S") == {("U", "LEVEL_DIFFERENCE"): ("50.00", "0.005")}
    refused = gql.mutate("setAgentLevel", {"agentCode": "U", "levelCode": "G9"})
    assert refused["userErrors"][0]["code"] == "INVALID_INPUT"


def test_level_scope_and_holiday_multiplier(gql: GraphQLClient) -> None:
    setup(gql, [("U", None, "G2"), ("S", "U", "G1"), ("R", "U", None)])
    plan(
        gql,
        [
            {"code": "g1-bonus", "kind": "PERCENTAGE", "rate": "1%", "agentLevels": ["G1"]},
            {
                "code": "may-day",
                "kind": "FIXED",
                "amount": "10.00",
                "packages": ["PK"],
                "multiplier": "1.2",
                "from": "2026-05-01T00:00:00+08:00",
                "to": "2026-05-06T00:00:00+08:00",
            },
        ],
    )
    assert sell(gql, "O-1", "S") == {
        ("S", "PERCENTAGE"): ("100.00", "0.01"),
        ("S", "FIXED"): ("10.00", None),
    }
    assert sell(gql, "O-2", "R") == {("R", "FIXED"): ("10.00", None)}  # R has no level
    assert sell(gql, "O-3", "R", MAY1) == {("R", "FIXED"): ("12.00", None)}  # holiday x 1.2


def test_agent_level_is_served_as_of(gql: GraphQLClient) -> None:
    setup(gql, [("U", None, None)])
    before = gql('{ agent(code: "U") { level } }')
    assert before["data"]["agent"]["level"] is None
    gql.ok("setAgentLevel", {"agentCode": "U", "levelCode": "G2"})
    assert gql('{ agent(code: "U") { level } }')["data"]["agent"]["level"] == "G2"
    position = before["extensions"]["position"]
    past = gql('query($p: String) { agent(code: "U", position: $p) { level } }', {"p": position})
    assert past["data"]["agent"]["level"] is None
