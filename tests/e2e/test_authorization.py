"""Who may do what, over real HTTP with real tokens: 401 without one, FORBIDDEN outside one's
role or subtree, and maker-checker on unfreeze requests (decisions 0021 and 0022)."""

from datetime import datetime

import httpx

from tests.e2e.conftest import GraphQLClient
from tests.e2e.test_lifecycle import DAY1, DAY8, release, sell, setup, wallet

APPROVE = "requests { id status decidedBy awaitingSecondApproval approvals { approver actor } }"
BIG = "2026-03-02T12:00:00+08:00"


def forbidden(body: dict) -> list[str]:
    """The fields refused with FORBIDDEN."""
    return [
        e["path"][0] for e in body.get("errors", []) if e["extensions"].get("code") == "FORBIDDEN"
    ]


def tree(gql: GraphQLClient) -> None:
    """P1 (8% of its sales, held 7 days) with sub-agent P2; X elsewhere in the tree."""
    setup(gql)
    gql.ok("registerAgent", {"code": "P2", "name": "Sub", "parentCode": "P1"})
    gql.ok("registerAgent", {"code": "X", "name": "Other", "realNameVerified": True})
    gql.ok("setCostPrice", {"agentCode": "X", "packageCode": "PK", "costPrice": "100"})


def pending(gql: GraphQLClient, agent: str = "P1") -> list[dict]:
    body = gql(
        "query($a: String!) { unfreezeRequests(agentCode: $a, status: PENDING) {"
        " edges { node { id requestedAmount awaitingSecondApproval } } } }",
        {"a": agent},
    )
    return [e["node"] for e in body["data"]["unfreezeRequests"]["edges"]]


def test_no_token_or_a_bad_one_is_401_with_a_challenge(gql: GraphQLClient) -> None:
    setup(gql)
    sell(gql, "O-1", "customer", DAY1)
    [request] = release(gql, DAY8)
    approve = (
        "mutation($i: [String!]!) { approveUnfreezeRequests(input: {ids: $i}) { requests { id } } }"
    )
    anonymous = gql.anonymous().raw(approve, {"i": [request["id"]]})
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == 'Bearer realm="fenrun"'
    assert anonymous.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    forged = gql.anonymous().raw(approve, {"i": [request["id"]]}, {"authorization": "Bearer x.y.z"})
    assert forged.status_code == 401
    assert forged.headers["www-authenticate"].startswith(
        'Bearer realm="fenrun", error="invalid_token"'
    )
    # The actor header means nothing with authentication on.
    named = gql.anonymous().raw(approve, {"i": [request["id"]]}, {"x-fenrun-actor": "finance-1"})
    assert named.status_code == 401
    assert [r["id"] for r in pending(gql)] == [request["id"]]  # nothing changed


def test_a_disabled_users_token_stops_working(gql: GraphQLClient, fenrun) -> None:
    from domain.common import Audit
    from tests.e2e.test_lifecycle import DAY9

    auditor = gql.as_user("aud-1", ("auditor",))
    assert auditor("{ me { subject roles agentCode authenticated } }")["data"]["me"] == {
        "subject": "aud-1",
        "roles": ["AUDITOR"],
        "agentCode": None,
        "authenticated": True,
    }
    gql.clock.move_to_at_least(datetime.fromisoformat(DAY9))
    fenrun.ledger.disable_user("aud-1", Audit("admin-1", datetime.fromisoformat(DAY9)))
    refused = auditor.raw("{ me { subject } }")
    assert refused.status_code == 401
    assert "disabled" in refused.headers["www-authenticate"]


def test_a_role_change_or_a_disabling_applies_on_the_very_next_request(
    gql: GraphQLClient, fenrun
) -> None:
    """The user's record is kept between requests (decision 0035): each change to it is still
    seen by the next request, whichever answer was kept."""
    from domain.common import Audit
    from tests.e2e.test_lifecycle import DAY9

    me = "{ me { roles } }"
    user = gql.as_user("aud-2", ("auditor",))
    audit = Audit("admin-1", datetime.fromisoformat(DAY9))
    gql.clock.move_to_at_least(audit.effective_at)
    assert user(me)["data"]["me"]["roles"] == ["AUDITOR"]
    assert user(me)["data"]["me"]["roles"] == ["AUDITOR"]  # answered from what was kept
    fenrun.ledger.set_user_roles("aud-2", ("finance",), None, audit)
    assert user(me)["data"]["me"]["roles"] == ["FINANCE"]
    fenrun.ledger.disable_user("aud-2", audit)
    assert user.raw(me).status_code == 401
    assert user.raw(me).status_code == 401  # a refusal kept is a refusal still
    fenrun.ledger.enable_user("aud-2", audit)
    assert user(me)["data"]["me"]["roles"] == ["FINANCE"]
    fenrun.ledger.disable_user("aud-2", audit)
    refused = user.raw(me)
    assert refused.status_code == 401
    assert "disabled" in refused.headers["www-authenticate"]


def test_an_agent_reads_only_itself_and_its_downline(gql: GraphQLClient) -> None:
    tree(gql)
    sell(gql, "O-1", "customer", DAY1)
    agent = gql.as_user("agent-p1", ("agent",), agent="P1")
    assert agent('{ wallet(agentCode: "P2") { agentCode } }')["data"]["wallet"] == {
        "agentCode": "P2"
    }
    mine = agent('{ wallet(agentCode: "P1") { frozen } }')["data"]["wallet"]
    assert mine == {"frozen": "8.00"}
    outside = agent.raw('{ wallet(agentCode: "X") { frozen } }').json()
    assert forbidden(outside) == ["wallet"]
    assert outside["data"] is None or outside["data"].get("wallet") is None
    everyone = agent.raw("{ commissions { edges { node { id } } } }").json()
    assert forbidden(everyone) == ["commissions"]
    [line] = [
        e["node"]
        for e in agent('{ commissions(agentCode: "P1") { edges { node { id } } } }')["data"][
            "commissions"
        ]["edges"]
    ]
    assert agent(f'{{ commission(id: "{line["id"]}") {{ amount }} }}')["data"]["commission"] == {
        "amount": "8.00"
    }
    gql.ok("setRetailPrice", {"agentCode": "X", "packageCode": "PK", "retailPrice": "100"})
    gql.ok(
        "placeOrder",
        {
            "orderId": "O-X",
            "packageCode": "PK",
            "agentCode": "X",
            "buyerCode": "c",
            "flow": "CUSTOMER_PAYS",
            "occurredAt": DAY1,
        },
    )
    gql.ok("completeOrder", {"orderId": "O-X", "occurredAt": DAY1})
    others = gql('{ commissions(agentCode: "X") { edges { node { id } } } }')["data"]
    other_line = others["commissions"]["edges"][0]["node"]["id"]
    assert forbidden(agent.raw(f'{{ commission(id: "{other_line}") {{ amount }} }}').json()) == [
        "commission"
    ]
    # Rankings: only its own subtree's entries; platform figures are not an agent's.
    ranked = agent('{ ranking(month: "2026-03") { agentCode } }')["data"]["ranking"]
    assert {r["agentCode"] for r in ranked} == {"P1"}
    assert forbidden(agent.raw("{ platformTotals { net } }").json()) == ["platformTotals"]
    assert forbidden(
        agent.raw('{ teamPerformance(agentCode: "X", month: "2026-03") { teamAmount } }').json()
    ) == ["teamPerformance"]
    assert forbidden(agent.raw('{ replay(aggregate: ORDER, code: "O-1") { version } }').json()) == [
        "replay"
    ]
    assert agent('{ replay(aggregate: WALLET, code: "P1") { version } }')["data"]["replay"]


def test_agents_price_their_own_downline_only(gql: GraphQLClient) -> None:
    tree(gql)
    agent = gql.as_user("agent-p1", ("agent",), agent="P1")
    assert (
        agent.ok(
            "setCostPrice",
            {"agentCode": "P2", "packageCode": "PK", "costPrice": "120"},
            "costPrice",
        )["costPrice"]
        == "120.00"
    )
    assert (
        agent.ok(
            "setRetailPrice",
            {"agentCode": "P1", "packageCode": "PK", "retailPrice": "150"},
            "retailPrice",
        )["retailPrice"]
        == "150.00"
    )
    for name, given in (
        ("setCostPrice", {"agentCode": "P1", "packageCode": "PK", "costPrice": "1"}),  # its own
        ("setCostPrice", {"agentCode": "X", "packageCode": "PK", "costPrice": "200"}),
        ("setRetailPrice", {"agentCode": "P2", "packageCode": "PK", "retailPrice": "130"}),
    ):
        body = agent.raw(
            f"mutation($i: {name[0].upper()}{name[1:]}Input!) {{ {name}(input: $i) {{ userErrors {{ code }} }} }}",
            {"i": given},
        ).json()
        assert forbidden(body) == [name]
    state = gql('{ replay(aggregate: AGENT, code: "P1") { state } }')["data"]["replay"]["state"]
    assert state["costPrices"] == {"PK": "100.00"}  # refused: P1 kept the cost its upline set


def test_auditors_read_any_time_and_change_nothing(gql: GraphQLClient) -> None:
    tree(gql)
    auditor = gql.as_user("aud-1", ("auditor",))
    before = gql('{ wallet(agentCode: "P1") { frozen } }')["extensions"]["position"]
    sell(gql, "O-1", "customer", DAY1)
    then = auditor(f'{{ wallet(agentCode: "P1", position: "{before}") {{ frozen }} }}')
    assert then["data"]["wallet"] == {"frozen": "0.00"}
    refused = auditor.raw(
        'mutation { registerAgent(input: {code: "Z", name: "Z"}) { agentCode } }'
    ).json()
    assert forbidden(refused) == ["registerAgent"]
    assert refused["data"] is None
    assert gql('{ agent(code: "Z") { code } }')["data"]["agent"] is None


def test_an_agent_never_approves_its_own_line(gql: GraphQLClient) -> None:
    setup(gql)
    sell(gql, "O-1", "customer", DAY1)
    [request] = release(gql, DAY8)
    agent = gql.as_user("agent-p1", ("agent",), agent="P1")
    body = agent.raw(
        "mutation($i: [String!]!) { approveUnfreezeRequests(input: {ids: $i}) { requests { id } } }",
        {"i": [request["id"]]},
    ).json()
    assert forbidden(body) == ["approveUnfreezeRequests"]
    # Someone in finance who is also agent P1 is still its beneficiary.
    both = gql.as_user("fin-p1", ("finance", "agent"), agent="P1")
    refused = both.mutate("approveUnfreezeRequests", {"ids": [request["id"]]}, "requests { id }")
    assert [e["code"] for e in refused["userErrors"]] == ["SELF_APPROVAL"]
    assert wallet(gql)["unfreezing"] == "8.00"


def _big_line(gql: GraphQLClient) -> str:
    """One sale whose 8% commission is exactly 10,000.00, released."""
    gql.ok(
        "definePackage", {"code": "PKB", "name": "Big", "kind": "TRAFFIC", "purchasePrice": "50"}
    )
    gql.ok("setCostPrice", {"agentCode": "P1", "packageCode": "PKB", "costPrice": "125000"})
    gql.ok("setRetailPrice", {"agentCode": "P1", "packageCode": "PKB", "retailPrice": "125000"})
    order = {"orderId": "O-BIG", "packageCode": "PKB", "agentCode": "P1", "buyerCode": "c"}
    gql.ok("placeOrder", {**order, "flow": "CUSTOMER_PAYS", "occurredAt": BIG})
    gql.ok("completeOrder", {"orderId": "O-BIG", "occurredAt": BIG})
    requests = release(gql, "2026-03-10T12:00:00+08:00")
    [big] = [r["id"] for r in requests if r["requestedAmount"] == "10000.00"]
    return big


def test_ten_thousand_needs_two_different_finance_approvers(gql: GraphQLClient) -> None:
    setup(gql)
    sell(gql, "O-1", "customer", DAY1)  # 8.00: one approver is enough
    big = _big_line(gql)
    [small] = [r["id"] for r in pending(gql) if r["id"] != big]
    first = gql.ok("approveUnfreezeRequests", {"ids": [small, big]}, APPROVE)["requests"]
    by_id = {r["id"]: r for r in first}
    assert by_id[small]["status"] == "APPROVED"
    assert by_id[big] == {
        "id": big,
        "status": "PENDING",
        "decidedBy": None,
        "awaitingSecondApproval": True,
        "approvals": [{"approver": "finance-1", "actor": "finance-1"}],
    }
    assert wallet(gql) == {
        "frozen": "0.00",
        "unfreezing": "10000.00",
        "available": "8.00",
        "debt": "0.00",
    }
    waiting = gql("{ unfreezeRequests(awaitingSecondApproval: true) { edges { node { id } } } }")[
        "data"
    ]["unfreezeRequests"]["edges"]
    assert [e["node"]["id"] for e in waiting] == [big]

    again = gql.mutate("approveUnfreezeRequests", {"ids": [big]}, "requests { id }")
    assert [e["code"] for e in again["userErrors"]] == ["SAME_APPROVER"]
    assert wallet(gql)["unfreezing"] == "10000.00"

    second = gql.as_user("finance-2", ("finance",))
    done = second.ok("approveUnfreezeRequests", {"ids": [big]}, APPROVE)["requests"]
    assert done[0]["status"] == "APPROVED"
    assert done[0]["decidedBy"] == "finance-2"
    assert done[0]["awaitingSecondApproval"] is False
    assert wallet(gql)["available"] == "10008.00"


def test_a_rejection_by_either_approver_ends_it(gql: GraphQLClient) -> None:
    setup(gql)
    big = _big_line(gql)
    gql.ok("approveUnfreezeRequests", {"ids": [big]})
    second = gql.as_user("finance-2", ("finance",))
    ended = second.ok(
        "rejectUnfreezeRequests", {"ids": [big], "reason": "documents missing"}, APPROVE
    )["requests"]
    assert ended[0]["status"] == "REJECTED"
    assert ended[0]["awaitingSecondApproval"] is False
    assert wallet(gql)["frozen"] == "10000.00"


def test_the_embedded_issuer_publishes_its_public_key(server: str, gql: GraphQLClient) -> None:
    import jwt

    keys = httpx.get(f"{server}/.well-known/jwks.json").json()["keys"]
    [key] = keys
    assert (key["kty"], key["crv"], key["alg"], key["use"]) == ("OKP", "Ed25519", "EdDSA", "sig")
    assert "d" not in key  # the public half only
    public = jwt.PyJWK(key)
    claims = jwt.decode(gql.token, public, algorithms=["EdDSA"], audience="fenrun")
    assert claims["sub"] == "finance-1"
