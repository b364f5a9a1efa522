"""Cards over HTTP GraphQL (issue 14, decision 0030): carrier states as of a time, duplicated and
out-of-order reports, usage over quota -> stop decision, pool top-up -> resume decision, a
cancelled prepaid order returning the deposit, and agents seeing only their downline's cards."""

import time
from datetime import UTC, datetime

from tests.e2e.conftest import GraphQLClient

T0 = "2026-01-05T10:00:00+08:00"
MB = 1 << 20
CARD = (
    "iccid agentCode state realNameVerified carrier carrierState carrierStateName mappingVersion"
    " arrears complaint threeNo networkNormal periodsUsed enterpriseCode"
    " lastCommand { command commandId cause }"
)


def setup(gql: GraphQLClient, quota_mb: int = 100) -> None:
    gql.ok("registerAgent", {"code": "A", "name": "Agent A", "realNameVerified": True})
    gql.ok("registerAgent", {"code": "B", "name": "Agent B", "parentCode": "A"})
    gql.ok("registerAgent", {"code": "X", "name": "Agent X"})
    gql.ok(
        "definePackage",
        {"code": "P", "name": "P", "kind": "TRAFFIC", "purchasePrice": "50", "periodMonths": 1},
    )
    gql.ok("setPackageQuota", {"packageCode": "P", "quotaMb": quota_mb})
    for iccid, agent in (("C-A", "A"), ("C-B", "B"), ("C-X", "X")):
        gql.ok(
            "assignCard",
            {"iccid": iccid, "agentCode": agent, "packageCode": "P", "occurredAt": T0},
        )


def report(gql: GraphQLClient, iccid: str, raw: str, at: str, rid: str, carrier: str = "CMCC"):
    gql.clock.move_to_at_least(datetime.fromisoformat(at))
    return gql.ok(
        "recordCarrierCardState",
        {"iccid": iccid, "carrier": carrier, "rawState": raw, "reportedAt": at, "reportId": rid},
        "state outcome carrierState",
    )


def card(gql: GraphQLClient, iccid: str, as_of: str | None = None) -> dict:
    return gql(
        f"query($i: String!, $t: DateTime) {{ card(iccid: $i, asOf: $t) {{ {CARD} }} }}",
        {"i": iccid, "t": as_of},
    )["data"]["card"]


def usage(gql: GraphQLClient, reports: list[tuple[str, str, int, str]]) -> dict:
    return gql.ok(
        "recordUsageReports",
        {
            "reports": [
                {
                    "iccid": iccid,
                    "reportId": rid,
                    "bytesUsed": str(mb * MB),
                    "reportedAt": f"{day}T23:00:00+08:00",
                    "day": day,
                }
                for iccid, rid, mb, day in reports
            ]
        },
        "accepted duplicates commandsDecided",
    )


def test_card_states_as_of_a_time_with_duplicated_and_out_of_order_reports(
    gql: GraphQLClient,
) -> None:
    setup(gql)
    assert report(gql, "C-A", "6", "2026-01-06T10:00:00+08:00", "r1")["state"] == "TEST"
    time.sleep(0.05)
    between = datetime.now(UTC).isoformat()
    time.sleep(0.05)
    applied = report(gql, "C-A", "2", "2026-01-08T10:00:00+08:00", "r2")
    assert (applied["state"], applied["outcome"]) == ("ACTIVATED", "APPLIED")
    # The same report again: nothing new.
    again = report(gql, "C-A", "2", "2026-01-08T10:00:00+08:00", "r2")
    assert again["outcome"] == "DUPLICATE"
    # An older report arriving late never overrides the newer one (kept, raw state and all).
    late = report(gql, "C-A", "7", "2026-01-07T10:00:00+08:00", "r0")
    assert (late["state"], late["outcome"]) == ("ACTIVATED", "OLDER")
    # A move our lifecycle refuses is kept, but changes nothing.
    cancelled = report(gql, "C-A", "9", "2026-01-09T10:00:00+08:00", "r3")
    assert cancelled["state"] == "CANCELLED"
    back = report(gql, "C-A", "2", "2026-01-10T10:00:00+08:00", "r4")
    assert (back["state"], back["outcome"]) == ("CANCELLED", "REFUSED")

    now = card(gql, "C-A")
    assert (now["state"], now["carrierState"], now["carrierStateName"]) == (
        "CANCELLED",
        "2",
        "已激活",
    )
    assert now["mappingVersion"] == "cmcc-onelink-ec-v5/1"
    then = card(gql, "C-A", between)
    assert (then["state"], then["carrierState"], then["carrier"]) == ("TEST", "6", "CMCC")
    # Unicom's and Telecom's words for the same moves.
    assert report(gql, "C-B", "ACTIVATED", "2026-01-06T10:00:00+08:00", "u1", "CUCC")["state"] == (
        "ACTIVATED"
    )
    assert report(gql, "C-X", "5", "2026-01-06T10:00:00+08:00", "t1", "CTCC")["state"] == (
        "SUSPENDED"
    )
    unknown = gql.mutate(
        "recordCarrierCardState",
        {
            "iccid": "C-B",
            "carrier": "CUCC",
            "rawState": "SLEEPING",
            "reportedAt": "2026-01-06T11:00:00+08:00",
            "reportId": "u2",
        },
    )
    assert unknown["userErrors"][0]["field"] == ["input", "rawState"]


def test_conditions_make_the_three_no_flags(gql: GraphQLClient) -> None:
    setup(gql)
    report(gql, "C-A", "2", "2026-01-06T10:00:00+08:00", "r1")
    gql.clock.move_to_at_least(datetime.fromisoformat("2026-01-07T10:00:00+08:00"))
    gql.ok(
        "recordCardConditions",
        {
            "iccid": "C-A",
            "carrier": "CMCC",
            "arrears": True,
            "complaint": False,
            "reportedAt": "2026-01-07T10:00:00+08:00",
            "reportId": "c1",
        },
    )
    now = card(gql, "C-A")
    assert (now["arrears"], now["threeNo"], now["networkNormal"]) == (True, False, False)


def test_usage_over_quota_records_a_stop_decision_and_the_carrier_confirms(
    gql: GraphQLClient,
) -> None:
    setup(gql)
    report(gql, "C-A", "2", "2026-01-06T10:00:00+08:00", "r1")
    first = usage(gql, [("C-A", "u1", 80, "2026-01-06"), ("C-B", "u2", 10, "2026-01-06")])
    assert (first["accepted"], first["commandsDecided"]) == (2, 0)
    over = usage(gql, [("C-A", "u1", 80, "2026-01-06"), ("C-A", "u3", 30, "2026-01-07")])
    assert (over["accepted"], over["duplicates"], over["commandsDecided"]) == (1, 1, 1)
    decided = card(gql, "C-A")
    assert decided["lastCommand"]["command"] == "STOP"
    assert decided["lastCommand"]["cause"] == "PACKAGE_QUOTA"
    assert decided["state"] == "ACTIVATED"  # ours changes when the carrier says so
    report(gql, "C-A", "4", "2026-01-08T10:00:00+08:00", "r2")
    assert card(gql, "C-A")["state"] == "SUSPENDED"


def test_pool_top_up_decides_resume(gql: GraphQLClient) -> None:
    setup(gql, quota_mb=100_000)
    gql.ok(
        "createEnterprise",
        {"code": "E", "name": "Acme", "poolQuotaMb": 100, "stopMode": "STOP_ALL"},
    )
    gql.ok("assignEnterpriseCards", {"enterpriseCode": "E", "iccids": ["C-A", "C-B"]})
    stopped = usage(gql, [("C-A", "e1", 60, "2026-01-06"), ("C-B", "e2", 60, "2026-01-06")])
    assert stopped["commandsDecided"] == 2
    pool = gql('{ enterprise(code: "E") { poolQuotaMb cards stoppedCards } }')["data"]
    assert pool["enterprise"] == {"poolQuotaMb": 100, "cards": 2, "stoppedCards": 2}
    stop = card(gql, "C-A")["lastCommand"]
    assert (stop["command"], stop["cause"]) == ("STOP", "POOL_QUOTA")
    topped = gql.ok(
        "topUpEnterprisePool",
        {"enterpriseCode": "E", "amountMb": 100},
        "poolQuotaMb commandsDecided",
    )
    assert (topped["poolQuotaMb"], topped["commandsDecided"]) == (200, 2)
    pool = gql('{ enterprise(code: "E") { stoppedCards } }')["data"]["enterprise"]
    assert pool["stoppedCards"] == 0
    resume = card(gql, "C-A")["lastCommand"]
    assert (resume["command"], resume["cause"]) == ("RESUME", "WITHIN_QUOTA")
    assert resume["commandId"] != stop["commandId"]


def test_a_cancelled_prepaid_order_returns_the_deposit(gql: GraphQLClient) -> None:
    setup(gql)
    gql.ok("setCostPrice", {"agentCode": "A", "packageCode": "P", "costPrice": "60"})
    gql.ok("topUpDeposit", {"agentCode": "A", "amount": "100", "occurredAt": T0})
    gql.ok(
        "placeOrder",
        {
            "orderId": "O-1",
            "packageCode": "P",
            "agentCode": "A",
            "flow": "AGENT_PREPAID",
            "occurredAt": T0,
        },
    )
    deposit = 'query { wallet(agentCode: "A") { deposit } }'
    assert gql(deposit)["data"]["wallet"]["deposit"] == "40.00"
    cancelled = gql.ok(
        "cancelOrder",
        {"orderId": "O-1", "reason": "never paid", "occurredAt": T0},
        "depositReturned",
    )
    assert cancelled["depositReturned"] == "60.00"
    assert gql(deposit)["data"]["wallet"]["deposit"] == "100.00"
    twice = gql.mutate("cancelOrder", {"orderId": "O-1", "reason": "again", "occurredAt": T0})
    assert twice["userErrors"][0]["code"] == "INVALID_STATE"
    completed = gql.mutate("completeOrder", {"orderId": "O-1", "occurredAt": T0})
    assert completed["userErrors"][0]["code"] == "INVALID_STATE"


def test_a_paid_order_decides_activation_and_counts_a_package_period(gql: GraphQLClient) -> None:
    setup(gql)
    gql.ok("setCostPrice", {"agentCode": "A", "packageCode": "P", "costPrice": "60"})
    gql.ok("setRetailPrice", {"agentCode": "A", "packageCode": "P", "retailPrice": "90"})
    gql.ok(
        "placeOrder",
        {
            "orderId": "O-2",
            "packageCode": "P",
            "agentCode": "A",
            "iccid": "C-A",
            "flow": "CUSTOMER_PAYS",
            "occurredAt": T0,
        },
    )
    gql.ok("completeOrder", {"orderId": "O-2", "occurredAt": T0})
    paid = card(gql, "C-A")
    assert paid["lastCommand"]["command"] == "ACTIVATE"
    assert (paid["periodsUsed"], paid["state"]) == (1, "ASSIGNED")


def test_agents_see_their_downline_cards_only(gql: GraphQLClient) -> None:
    setup(gql)
    agent = gql.as_user("agent-a", roles=("agent",), agent="A")
    listed = agent('{ cards(agentCode: "B") { edges { node { iccid } } } }')
    assert [e["node"]["iccid"] for e in listed["data"]["cards"]["edges"]] == ["C-B"]
    assert agent('{ card(iccid: "C-B") { iccid } }')["data"]["card"]["iccid"] == "C-B"
    mine = agent('{ cards(agentCode: "A", downline: true) { edges { node { iccid } } } }')
    assert [e["node"]["iccid"] for e in mine["data"]["cards"]["edges"]] == ["C-A", "C-B"]
    outside = agent.raw('{ card(iccid: "C-X") { iccid } }').json()
    assert outside["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    other = agent.raw('{ cards(agentCode: "X") { edges { node { iccid } } } }').json()
    assert other["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    everyone = agent.raw("{ cards { edges { node { iccid } } } }").json()
    assert everyone["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    staff = gql(
        "{ cards(state: ASSIGNED, first: 2) { edges { node { iccid } } pageInfo { hasNextPage } } }"
    )
    assert staff["data"]["cards"]["pageInfo"]["hasNextPage"] is True
