"""Withdrawals over HTTP: finance's review (single and batch, maker-checker above the threshold),
each limit, the fee (rate with minimum and maximum), each 劳务报酬 tax vector, a failed payout
giving back its tax, a frozen account, flow-2 funding, and who sees which withdrawals."""

from datetime import datetime
from typing import Any

from application.clock import SetClock
from tests.e2e.conftest import GraphQLClient

MARCH = "2026-03-01T10:00:00+08:00"
W_FIELDS = "id agentCode status amount fee tax net large approvers reason"


def fund(gql: GraphQLClient, agent: str, amount: str, at: str, order: str) -> None:
    """Gives the agent `amount` available: an order of that price (a package of its own) paying
    it 100% commission, released at once and approved (by two approvers when needed)."""
    found = gql("query($a: String!) { agent(code: $a) { code } }", {"a": agent})
    if not found["data"]["agent"]:
        gql.ok("registerAgent", {"code": agent, "name": agent, "realNameVerified": True})
    if not gql("{ commissionPlans { code } }")["data"]["commissionPlans"]:
        gql.ok(
            "defineCommissionPlan",
            {
                "code": "all",
                "effectiveFrom": "2026-01-01T00:00:00+08:00",
                "rules": [{"code": "all", "kind": "PERCENTAGE", "rate": "100%",
                           "base": "PAID_AMOUNT", "holdDays": 0}],
            },
        )  # fmt: skip
    package = f"PK-{order}"
    gql.ok("definePackage", {"code": package, "name": "Plan", "kind": "TRAFFIC",
                             "purchasePrice": "0.01"})  # fmt: skip
    gql.ok("setCostPrice", {"agentCode": agent, "packageCode": package, "costPrice": amount})
    gql.ok("setRetailPrice", {"agentCode": agent, "packageCode": package, "retailPrice": amount})
    gql.ok("placeOrder", {"orderId": order, "packageCode": package, "agentCode": agent,
                          "buyerCode": "someone", "flow": "CUSTOMER_PAYS", "occurredAt": at})  # fmt: skip
    gql.ok("completeOrder", {"orderId": order, "occurredAt": at})
    ids = [
        r["id"] for r in gql.ok("releaseDueCommissions", {"now": at}, "requests { id }")["requests"]
    ]
    first = gql.ok("approveUnfreezeRequests", {"ids": ids}, "requests { id status }")
    waiting = [r["id"] for r in first["requests"] if r["status"] == "PENDING"]
    if waiting:
        gql.as_user("finance-2").ok("approveUnfreezeRequests", {"ids": waiting})


def request(gql: GraphQLClient, agent: str, wid: str, amount: str) -> dict[str, Any]:
    return gql.mutate("requestWithdrawal", {"agentCode": agent, "withdrawalId": wid,
                                            "amount": amount})  # fmt: skip


def withdrawal(gql: GraphQLClient, agent: str, wid: str) -> dict[str, Any]:
    body = gql(
        "query($a: String!, $w: String!) { withdrawal(agentCode: $a, id: $w) { "
        + W_FIELDS
        + " } }",
        {"a": agent, "w": wid},
    )
    return body["data"]["withdrawal"]


def approve(gql: GraphQLClient, agent: str, *wids: str) -> dict[str, Any]:
    refs = [{"agentCode": agent, "withdrawalId": w} for w in wids]
    return gql.mutate(
        "approveWithdrawals",
        {"withdrawals": refs},
        "withdrawals { withdrawalId } awaitingSecondApproval { withdrawalId }",
    )


def available(gql: GraphQLClient, agent: str) -> str:
    body = gql("query($a: String!) { wallet(agentCode: $a) { available } }", {"a": agent})
    return body["data"]["wallet"]["available"]


def code(payload: dict[str, Any]) -> str:
    return payload["userErrors"][0]["code"]


def test_review_reject_approve_and_maker_checker(gql: GraphQLClient) -> None:
    fund(gql, "P1", "60000", MARCH, "O-1")
    assert request(gql, "P1", "W-1", "5000")["userErrors"] == []
    assert withdrawal(gql, "P1", "W-1")["status"] == "PENDING_REVIEW"
    assert available(gql, "P1") == "55000.00"
    refused = gql.mutate("rejectWithdrawals", {"withdrawals": [{"agentCode": "P1",
                         "withdrawalId": "W-1"}], "reason": ""})  # fmt: skip
    assert code(refused) == "INVALID_INPUT"
    gql.ok("rejectWithdrawals", {"withdrawals": [{"agentCode": "P1", "withdrawalId": "W-1"}],
                                 "reason": "bank card name mismatch"})  # fmt: skip
    rejected = withdrawal(gql, "P1", "W-1")
    assert (rejected["status"], rejected["reason"]) == ("REJECTED", "bank card name mismatch")
    assert available(gql, "P1") == "60000.00"
    assert code(approve(gql, "P1", "W-1")) == "INVALID_STATE"  # decided once

    # 20,000.00 is above the maker-checker threshold (10,000.00): two different approvers.
    request(gql, "P1", "W-2", "20000")
    first = approve(gql, "P1", "W-2")
    assert first["awaitingSecondApproval"] == [{"withdrawalId": "W-2"}]
    assert withdrawal(gql, "P1", "W-2")["status"] == "AWAITING_SECOND_APPROVAL"
    assert code(approve(gql, "P1", "W-2")) == "SAME_APPROVER"
    the_agent = gql.as_user("p1-finance", roles=("finance", "agent"), agent="P1")
    assert code(approve(the_agent, "P1", "W-2")) == "SELF_APPROVAL"
    second = approve(gql.as_user("finance-2"), "P1", "W-2")
    assert second["userErrors"] == []
    assert second["awaitingSecondApproval"] == []
    done = withdrawal(gql, "P1", "W-2")
    # An individual's first payout of the month: 20,000 x 80% x 20% = 3,200.00 withheld.
    assert (done["status"], done["fee"], done["tax"], done["net"]) == (
        "APPROVED",
        "0.00",
        "3200.00",
        "16800.00",
    )
    assert done["approvers"] == ["finance-1", "finance-2"]

    # A batch: all or nothing.
    request(gql, "P1", "W-3", "100")
    request(gql, "P1", "W-4", "200")
    assert code(approve(gql, "P1", "W-3", "W-4", "W-1")) == "INVALID_STATE"
    assert withdrawal(gql, "P1", "W-3")["status"] == "PENDING_REVIEW"
    assert approve(gql, "P1", "W-3", "W-4")["withdrawals"] == [
        {"withdrawalId": "W-3"}, {"withdrawalId": "W-4"}
    ]  # fmt: skip
    pending = gql("{ withdrawals(status: APPROVED) { edges { node { id } } } }")
    assert [e["node"]["id"] for e in pending["data"]["withdrawals"]["edges"]] == [
        "W-2", "W-3", "W-4"
    ]  # fmt: skip
    # Only an approved withdrawal is paid out.
    request(gql, "P1", "W-5", "100")
    unpaid = gql.mutate("settleWithdrawal", {"agentCode": "P1", "withdrawalId": "W-5",
                                             "paid": True})  # fmt: skip
    assert code(unpaid) == "INVALID_STATE"


def test_each_tax_vector_and_a_failed_payout(gql: GraphQLClient, clock: SetClock) -> None:
    fund(gql, "P1", "60000", MARCH, "O-1")
    cases = [
        ("2026-03-10T10:00:00+08:00", "W-3000", "3000", "440.00"),
        ("2026-04-10T10:00:00+08:00", "W-10000", "10000", "1600.00"),
        ("2026-05-10T10:00:00+08:00", "W-30000", "30000", "5200.00"),
        ("2026-06-10T10:00:00+08:00", "W-2000a", "2000", "240.00"),
        ("2026-06-20T10:00:00+08:00", "W-2000b", "2000", "400.00"),  # the month: 640.00
    ]
    for at, wid, amount, tax in cases:
        clock.move_to_at_least(datetime.fromisoformat(at))
        assert request(gql, "P1", wid, amount)["userErrors"] == []
        if approve(gql, "P1", wid)["awaitingSecondApproval"]:
            approve(gql.as_user("finance-2"), "P1", wid)
        assert withdrawal(gql, "P1", wid)["tax"] == tax, wid
        gql.ok("settleWithdrawal", {"agentCode": "P1", "withdrawalId": wid, "paid": True})
        assert withdrawal(gql, "P1", wid)["status"] == "PAID"
    # Paid: 47,000.00 left the wallet in all (net, fee and tax).
    assert available(gql, "P1") == "13000.00"
    # A failed payout returns the gross and its tax stops counting in the month.
    clock.move_to_at_least(datetime.fromisoformat("2026-07-10T10:00:00+08:00"))
    request(gql, "P1", "W-f", "2000")
    approve(gql, "P1", "W-f")
    assert withdrawal(gql, "P1", "W-f")["tax"] == "240.00"
    gql.ok("settleWithdrawal", {"agentCode": "P1", "withdrawalId": "W-f", "paid": False,
                                "reason": "account closed"})  # fmt: skip
    assert withdrawal(gql, "P1", "W-f")["status"] == "FAILED"
    assert available(gql, "P1") == "13000.00"
    request(gql, "P1", "W-g", "2000")
    approve(gql, "P1", "W-g")
    assert withdrawal(gql, "P1", "W-g")["tax"] == "240.00"  # not 400.00


def test_each_limit_and_the_fee(gql: GraphQLClient, clock: SetClock) -> None:
    fund(gql, "P1", "60000", MARCH, "O-1")
    limits = {"minimum": "100", "dailyMax": "500", "monthlyMax": "800", "dailyCount": 2,
              "feeRate": "0.6%", "feeMin": "1", "feeMax": "25", "reason": "policy 2026",
              "occurredAt": "2026-03-02T00:00:00+08:00"}  # fmt: skip
    gql.ok("setWithdrawalLimits", limits)
    before = gql('{ withdrawalLimits(asOf: "2026-03-01T12:00:00+08:00") { minimum dailyMax } }')
    assert before["data"]["withdrawalLimits"] == {"minimum": "0.01", "dailyMax": None}
    now = gql(
        "{ withdrawalLimits { minimum dailyMax monthlyMax dailyCount feeRate feeMin feeMax } }"
    )
    assert now["data"]["withdrawalLimits"] == {
        "minimum": "100.00", "dailyMax": "500.00", "monthlyMax": "800.00", "dailyCount": 2,
        "feeRate": "0.006", "feeMin": "1.00", "feeMax": "25.00",
    }  # fmt: skip
    clock.move_to_at_least(datetime.fromisoformat("2026-03-02T09:00:00+08:00"))
    below = request(gql, "P1", "W-0", "99.99")
    assert code(below) == "BELOW_MINIMUM"
    assert "99.99" in below["userErrors"][0]["message"]
    assert "100.00" in below["userErrors"][0]["message"]
    assert request(gql, "P1", "W-1", "300")["userErrors"] == []
    over_day = request(gql, "P1", "W-2", "300")
    assert code(over_day) == "DAILY_LIMIT_EXCEEDED"
    assert "500.00" in over_day["userErrors"][0]["message"]
    assert request(gql, "P1", "W-3", "100")["userErrors"] == []
    assert code(request(gql, "P1", "W-4", "100")) == "DAILY_COUNT_EXCEEDED"
    # A rejected withdrawal stops counting.
    gql.ok("rejectWithdrawals", {"withdrawals": [{"agentCode": "P1", "withdrawalId": "W-3"}],
                                 "reason": "duplicate"})  # fmt: skip
    assert request(gql, "P1", "W-5", "200")["userErrors"] == []
    clock.move_to_at_least(datetime.fromisoformat("2026-03-03T09:00:00+08:00"))
    assert request(gql, "P1", "W-6", "300")["userErrors"] == []  # the month: 800.00
    over_month = request(gql, "P1", "W-7", "100")
    assert code(over_month) == "MONTHLY_LIMIT_EXCEEDED"
    assert "800.00" in over_month["userErrors"][0]["message"]
    # The fee: 0.6%, at least 1.00, at most 25.00 (of the limits in force when requested).
    approve(gql, "P1", "W-1", "W-5", "W-6")
    assert withdrawal(gql, "P1", "W-1")["fee"] == "1.80"
    assert withdrawal(gql, "P1", "W-5")["fee"] == "1.20"
    clock.move_to_at_least(datetime.fromisoformat("2026-04-01T09:00:00+08:00"))
    assert request(gql, "P1", "W-8", "100")["userErrors"] == []
    approve(gql, "P1", "W-8")
    assert withdrawal(gql, "P1", "W-8")["fee"] == "1.00"  # 0.60 raised to the minimum
    gql.ok("setWithdrawalLimits", {**limits, "dailyMax": None, "monthlyMax": None,
                                   "occurredAt": "2026-04-02T00:00:00+08:00"})  # fmt: skip
    clock.move_to_at_least(datetime.fromisoformat("2026-04-02T09:00:00+08:00"))
    request(gql, "P1", "W-9", "10000")
    approve(gql, "P1", "W-9")
    approve(gql.as_user("finance-2"), "P1", "W-9")
    w9 = withdrawal(gql, "P1", "W-9")
    assert w9["fee"] == "25.00"  # 60.00 capped at the maximum
    # April's income 10,100.00 (W-8 too) is taxed 1,616.00, none withheld before: 10,000 - 25 - 1,616
    assert (w9["tax"], w9["net"]) == ("1616.00", "8359.00")
    refused = gql.mutate("setWithdrawalLimits", {**limits, "minimum": "600"})
    assert code(refused) == "INVALID_INPUT"  # the minimum above the daily maximum


def test_a_frozen_account_accrues_but_cannot_withdraw(gql: GraphQLClient) -> None:
    fund(gql, "P1", "1000", MARCH, "O-1")
    operator = gql.as_user("ops-1", roles=("operator",))
    admin = gql.as_user("adm-1", roles=("admin",))
    freeze = {"agentCode": "P1", "action": "FREEZE", "reason": "suspected fraud #4711"}
    assert operator.mutate("requestAccountFreeze", freeze, "pending")["pending"] == "FREEZE"
    assert request(gql, "P1", "W-1", "10")["userErrors"] == []  # not frozen until approved
    forbidden = operator.raw(
        'mutation { decideAccountFreeze(input: {agentCode: "P1", approved: true}) { frozen } }'
    ).json()
    assert forbidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert admin.mutate("decideAccountFreeze", {"agentCode": "P1", "approved": True},
                        "frozen")["frozen"] is True  # fmt: skip
    refused = request(gql, "P1", "W-2", "10")
    assert code(refused) == "ACCOUNT_FROZEN"
    assert "suspected fraud #4711" in refused["userErrors"][0]["message"]
    fund(gql, "P1", "500", "2026-03-02T10:00:00+08:00", "O-2")  # still accrues
    assert available(gql, "P1") == "1490.00"
    # Whoever asked does not approve (finance-1 is operator and admin both).
    gql.ok("requestAccountFreeze", {"agentCode": "P1", "action": "UNFREEZE", "reason": "cleared"})
    assert code(gql.mutate("decideAccountFreeze", {"agentCode": "P1", "approved": True})) == (
        "SELF_APPROVAL"
    )
    admin.ok("decideAccountFreeze", {"agentCode": "P1", "approved": True})
    assert request(gql, "P1", "W-2", "10")["userErrors"] == []


def test_flow2_funding_and_who_sees_withdrawals(gql: GraphQLClient) -> None:
    fund(gql, "P1", "1000", MARCH, "O-1")
    gql.ok("registerAgent", {"code": "P2", "name": "Other", "realNameVerified": True})
    agent = gql.as_user("agent-p1", roles=("agent",), agent="P1")
    moved = agent.mutate("moveCommissionToDeposit", {"agentCode": "P1", "transferId": "T-1",
                                                     "amount": "400"}, "deposit")  # fmt: skip
    assert moved == {"deposit": "400.00", "userErrors": []}
    assert available(gql, "P1") == "600.00"
    over = agent.mutate("moveCommissionToDeposit", {"agentCode": "P1", "transferId": "T-2",
                                                    "amount": "600.01"})  # fmt: skip
    assert code(over) == "INSUFFICIENT_FUNDS"
    assert agent.mutate("requestWithdrawal", {"agentCode": "P1", "withdrawalId": "W-1",
                                              "amount": "100"})["userErrors"] == []  # fmt: skip
    mine = agent('{ withdrawals(agentCode: "P1") { edges { node { id status } } } }')
    assert mine["data"]["withdrawals"]["edges"] == [
        {"node": {"id": "W-1", "status": "PENDING_REVIEW"}}
    ]
    theirs = agent.raw('{ withdrawals(agentCode: "P2") { edges { node { id } } } }').json()
    assert theirs["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    everyone = agent.raw("{ withdrawals { edges { node { id } } } }").json()
    assert everyone["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    refused = agent.raw(
        'mutation { approveWithdrawals(input: {withdrawals: [{agentCode: "P1", '
        'withdrawalId: "W-1"}]}) { userErrors { code } } }'
    ).json()
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_the_large_withdrawal_alert_and_unknown_ids(gql: GraphQLClient) -> None:
    from api.observability.metrics import LARGE_WITHDRAWALS

    fund(gql, "P1", "60000", MARCH, "O-1")
    before = LARGE_WITHDRAWALS._value.get()
    request(gql, "P1", "W-1", "49999.99")
    request(gql, "P1", "W-2", "10.00")  # what is left
    assert withdrawal(gql, "P1", "W-1")["large"] is False
    gql.ok("rejectWithdrawals", {"withdrawals": [{"agentCode": "P1", "withdrawalId": "W-1"}],
                                 "reason": "split it"})  # fmt: skip
    request(gql, "P1", "W-3", "50000")  # the default alert amount
    assert withdrawal(gql, "P1", "W-3")["large"] is True
    assert LARGE_WITHDRAWALS._value.get() == before + 1
    assert code(approve(gql, "P1", "W-none")) == "WITHDRAWAL_NOT_FOUND"
