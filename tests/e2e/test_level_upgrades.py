"""SPEC §2 over HTTP GraphQL: an agent's level (grade) rises on its own once its sales meet the
ladder's conditions, and the read side serves it (as of any position)."""

from tests.e2e.conftest import GraphQLClient

LADDER = [
    {"code": "G1", "name": "Grade 1", "rank": 1},
    {"code": "G2", "name": "Grade 2", "rank": 2, "conditions": {"ownSales": "150"}},
    {
        "code": "G3",
        "name": "Grade 3",
        "rank": 3,
        "conditions": {"teamSales": "100", "directAgents": 1},
    },
]
LEVEL = 'query($p: String) { agent(code: "S", position: $p) { level } }'


def sell(gql: GraphQLClient, order_id: str, day: int) -> None:
    at = f"2026-03-{day:02d}T10:00:00+08:00"
    gql.ok(
        "placeOrder",
        {
            "orderId": order_id,
            "packageCode": "PK",
            "agentCode": "S",
            "buyerCode": "c",
            "flow": "CUSTOMER_PAYS",
            "occurredAt": at,
        },
    )
    gql.ok("completeOrder", {"orderId": order_id, "occurredAt": at})


def test_sales_upgrade_the_agent_automatically(gql: GraphQLClient) -> None:
    gql.ok(
        "definePackage", {"code": "PK", "name": "Plan", "kind": "TRAFFIC", "purchasePrice": "50"}
    )
    gql.ok("defineAgentLevels", {"levels": LADDER}, "levelCodes")
    for code, parent in (("U", None), ("S", "U")):
        gql.ok("registerAgent", {"code": code, "name": code, "parentCode": parent})
        gql.ok("setCostPrice", {"agentCode": code, "packageCode": "PK", "costPrice": "60"})
        gql.ok("setRetailPrice", {"agentCode": code, "packageCode": "PK", "retailPrice": "90"})

    sell(gql, "O-1", 2)
    before = gql(LEVEL)
    assert before["data"]["agent"]["level"] is None  # own sales 90.00 of 150.00

    sell(gql, "O-2", 3)  # 180.00: S reaches G2; its upline U reaches G3 (team 180.00, 1 agent)
    assert gql(LEVEL)["data"]["agent"]["level"] == "G2"
    assert gql('{ agent(code: "U") { level } }')["data"]["agent"]["level"] == "G3"
    past = gql(LEVEL, {"p": before["extensions"]["position"]})
    assert past["data"]["agent"]["level"] is None
