"""GraphQL `replay` speaks the API's vocabulary: camelCase names, amounts as Money strings; the
codes and ids that key a map are data and stay as they are."""

from tests.e2e.conftest import GraphQLClient
from tests.e2e.test_lifecycle import DAY1, setup

REPLAY = (
    "query($a: AggregateKind!, $c: String!) {"
    " replay(aggregate: $a, code: $c) { kind code version position state } }"
)


def replay(gql: GraphQLClient, kind: str, code: str) -> dict:
    return gql(REPLAY, {"a": kind, "c": code})["data"]["replay"]


def history(gql: GraphQLClient) -> None:
    setup(gql)  # P1 buys PK at 100, 8% of the paid amount held 7 days
    gql.ok(
        "definePackage",
        {"code": "pk_basic", "name": "Basic", "kind": "NUMBER", "purchasePrice": "20"},
    )
    gql.ok("setCostPrice", {"agentCode": "P1", "packageCode": "pk_basic", "costPrice": "30.5"})
    gql.ok("topUpDeposit", {"agentCode": "P1", "amount": "12.34"})
    order = {
        "orderId": "O-1",
        "packageCode": "PK",
        "agentCode": "P1",
        "iccid": "8986-0001",
        "buyerCode": "customer",
        "flow": "CUSTOMER_PAYS",
        "occurredAt": DAY1,
    }
    gql.ok("placeOrder", order)
    gql.ok("completeOrder", {"orderId": "O-1", "occurredAt": DAY1})
    gql.ok("recordRecharge", {"iccid": "8986-0001", "amount": "25", "occurredAt": DAY1})


def test_replay_shows_money_and_camel_case(gql: GraphQLClient) -> None:
    history(gql)

    agent = replay(gql, "AGENT", "P1")
    assert (agent["kind"], agent["code"]) == ("AGENT", "P1")
    assert agent["state"]["costPrices"] == {"PK": "100.00", "pk_basic": "30.50"}
    assert agent["state"]["retailPrices"] == {"PK": "100.00"}
    assert (agent["state"]["realNameVerified"], agent["state"]["parentCode"]) == (True, None)

    wallet = replay(gql, "WALLET", "P1")["state"]
    assert wallet["agentCode"] == "P1"
    assert wallet["balances"] == {
        "frozen": "8.00",
        "unfreezing": "0.00",
        "available": "0.00",
        "withdrawing": "0.00",
        "debt": "0.00",
        "deposit": "12.34",
    }
    [(line_id, line)] = wallet["book"]["lines"].items()
    assert (line["amount"], line["original"], line["orderId"], line["holdDays"]) == (
        "8.00",
        "8.00",
        "O-1",
        7,
    )
    assert (line["status"], line["requestId"], line["requests"]) == ("FROZEN", None, 0)
    assert wallet["book"]["byOrder"] == {"O-1": [line_id]}
    assert (wallet["withdrawals"], wallet["settledWithdrawals"]) == ({}, [])

    order = replay(gql, "ORDER", "O-1")["state"]
    assert order["chain"] == [{"agentCode": "P1", "costPrice": "100.00"}]
    assert (order["retail"], order["paid"], order["refunded"]) == ("100.00", "100.00", "0.00")
    assert (order["orderId"], order["packageKind"], order["status"]) == (
        "O-1",
        "TRAFFIC",
        "COMPLETED",
    )

    card = replay(gql, "CARD", "8986-0001")["state"]
    assert (card["firstRecharge"], card["totalRecharge"]) == ("25.00", "25.00")

    package = replay(gql, "PACKAGE", "pk_basic")["state"]
    assert package == {
        "code": "pk_basic",
        "name": "Basic",
        "kind": "NUMBER",
        "purchasePrice": "20.00",
        "periodMonths": package["periodMonths"],
        "quotaMb": None,  # no data quota set (decision 0030)
    }

    plan = replay(gql, "PLAN", "level1")["state"]
    [version] = plan["versions"]
    assert version["effectiveFrom"] == "2026-01-01T00:00:00+08:00"
    assert version["rules"][0]["holdDays"] == 7  # the rules document, as written
    assert "effective_from" not in version
