"""Statements over HTTP (issue 11): they add up (closing = opening + movements, to the fen) and
stay fixed after approval when a late event arrives; adjustments through maker-checker; the
movement ledger's running balances; agents read only their own subtree's statements; the
对账凭证 PDF says in Chinese what the statement says."""

from datetime import datetime
from io import BytesIO

import httpx
from pypdf import PdfReader

from tests.e2e.conftest import GraphQLClient, user_token

NOV = "2026-11-10T12:00:00+08:00"
NOV_LATE = "2026-11-20T12:00:00+08:00"
DEC = "2026-12-02T12:00:00+08:00"
JAN = "2027-01-02T12:00:00+08:00"
BUCKETS = "frozen unfreezing available withdrawing debt deposit"
STATEMENT = (
    f"id agentCode cycle status supplementary throughPosition opening {{ {BUCKETS} }}"
    f" closing {{ {BUCKETS} }} lines {{ movement category late count amount deltas {{ {BUCKETS} }} }}"
    " categories { category labelZh amount } commissionsApproved adjustments depositChange"
)


def money(text: str) -> int:
    return round(float(text) * 100)


def statements(gql: GraphQLClient, cycle: str, agent: str = "A") -> list[dict]:
    body = gql(
        "query($a: String!, $c: String!) { statements(agentCode: $a, cycle: $c, first: 5) {"
        f" edges {{ node {{ {STATEMENT} }} }} }} }}",
        {"a": agent, "c": cycle},
    )
    return [e["node"] for e in body["data"]["statements"]["edges"]]


def adds_up(statement: dict) -> None:
    for bucket in BUCKETS.split():
        moved = sum(money(line["deltas"][bucket]) for line in statement["lines"])
        assert money(statement["opening"][bucket]) + moved == money(statement["closing"][bucket])


def setup(gql: GraphQLClient) -> None:
    gql.ok("registerAgent", {"code": "A", "name": "A", "realNameVerified": True})
    gql.ok("registerAgent", {"code": "A1", "name": "A1", "realNameVerified": True,
                             "parentCode": "A"})  # fmt: skip
    gql.ok("registerAgent", {"code": "B", "name": "B", "realNameVerified": True})
    gql.ok("topUpDeposit", {"agentCode": "A", "amount": "100.00", "occurredAt": NOV})
    gql.ok("topUpDeposit", {"agentCode": "B", "amount": "7.00", "occurredAt": NOV})


def adjust(gql: GraphQLClient, adjustment_id: str, amount: str, direction: str) -> None:
    operator = gql.as_user("op-1", roles=("operator",))
    operator.ok("proposeCommissionAdjustment", {"agentCode": "A", "adjustmentId": adjustment_id,
                "amount": amount, "direction": direction, "reason": "missed sale"})  # fmt: skip
    gql.ok("approveCommissionAdjustment", {"agentCode": "A", "adjustmentId": adjustment_id})


def test_statements_add_up_and_stay_fixed_after_approval(gql: GraphQLClient) -> None:
    setup(gql)
    adjust(gql, "adj-1", "30.00", "INCREASE")
    gql.fenrun.clock.move_to_at_least(datetime.fromisoformat(DEC))
    done = gql.ok("generateStatements", {"cycle": "2026-11"}, "generated throughPosition")
    assert done["generated"] == 2
    [nov] = statements(gql, "2026-11")
    adds_up(nov)
    assert nov["closing"]["deposit"] == "100.00"
    assert nov["closing"]["available"] == "30.00"
    assert nov["adjustments"] == "30.00"
    assert nov["depositChange"] == "100.00"
    assert {c["labelZh"] for c in nov["categories"]} == {"预存款", "佣金调整"}
    approved = gql.ok("approveStatement", {"id": nov["id"]}, "statement { status }")
    assert approved["statement"]["status"] == "APPROVED"
    # A late event: effective in November, recorded after November's approval.
    gql.ok("topUpDeposit", {"agentCode": "A", "amount": "5.00", "occurredAt": NOV_LATE})
    [still] = statements(gql, "2026-11")
    assert still == {**nov, "status": "APPROVED"}
    refused = gql.mutate("voidStatement", {"id": nov["id"], "reason": "no"})
    assert refused["userErrors"][0]["code"] == "INVALID_STATE"
    gql.fenrun.clock.move_to_at_least(datetime.fromisoformat(JAN))
    gql.ok("generateStatements", {"cycle": "2026-12"})
    [dec] = statements(gql, "2026-12")
    adds_up(dec)
    assert dec["opening"] == nov["closing"]
    assert [(x["movement"], x["late"], x["amount"]) for x in dec["lines"]] == [
        ("deposit_top_up", True, "5.00")
    ]
    assert dec["closing"]["deposit"] == "105.00"


def test_adjustments_need_another_approver(gql: GraphQLClient) -> None:
    setup(gql)
    gql.ok("proposeCommissionAdjustment", {"agentCode": "A", "adjustmentId": "adj-1",
           "amount": "10.00", "direction": "DECREASE", "reason": "overpaid"})  # fmt: skip
    refused = gql.mutate("approveCommissionAdjustment", {"agentCode": "A", "adjustmentId": "adj-1"})
    assert refused["userErrors"][0]["code"] == "SELF_APPROVAL"
    other = gql.as_user("fin-2", roles=("finance",))
    done = other.ok("approveCommissionAdjustment", {"agentCode": "A", "adjustmentId": "adj-1"},
                    "status wallet { available debt }")  # fmt: skip
    assert done["status"] == "APPROVED"
    assert done["wallet"] == {"available": "0.00", "debt": "10.00"}
    agent = gql.as_user("a-user", roles=("agent",), agent="A")
    body = agent.raw('mutation { proposeCommissionAdjustment(input: {agentCode: "A",'
                     ' adjustmentId: "x", amount: "1", direction: INCREASE, reason: "me"})'
                     " { status } }").json()  # fmt: skip
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_movement_ledger_with_running_balances_as_of_any_time(gql: GraphQLClient) -> None:
    setup(gql)
    first = gql('{ walletMovements(agentCode: "A") { edges { node { position } } } }')
    position = first["data"]["walletMovements"]["edges"][-1]["node"]["position"]
    adjust(gql, "adj-1", "30.00", "INCREASE")
    adjust(gql, "adj-2", "40.00", "DECREASE")
    query = (
        'query($p: String) { walletMovements(agentCode: "A", position: $p) { edges { node {'
        f" movement category amount deltas {{ {BUCKETS} }} balances {{ {BUCKETS} }} }} }} }} }}"
    )
    nodes = [e["node"] for e in gql(query, {"p": None})["data"]["walletMovements"]["edges"]]
    assert [(n["movement"], n["amount"]) for n in nodes] == [
        ("deposit_top_up", "100.00"), ("commission_adjusted", "30.00"),
        ("commission_adjusted", "-40.00"),
    ]  # fmt: skip
    assert nodes[-1]["balances"]["available"] == "0.00"
    assert nodes[-1]["balances"]["debt"] == "10.00"
    wallet = gql('{ wallet(agentCode: "A") { available debt deposit } }')["data"]["wallet"]
    assert {k: nodes[-1]["balances"][k] for k in wallet} == wallet
    then = gql(query, {"p": position})["data"]["walletMovements"]["edges"]
    assert len(then) == 1

    def window(start: str, end: str) -> list[str]:
        body = gql(
            'query($f: DateTime, $t: DateTime) { walletMovements(agentCode: "A",'
            " from: $f, to: $t) { edges { node { amount } } } }",
            {"f": start, "t": end},
        )
        return [e["node"]["amount"] for e in body["data"]["walletMovements"]["edges"]]

    assert window("2026-11-01T00:00:00+08:00", "2026-12-01T00:00:00+08:00") == [
        "100.00",
        "30.00",
        "-40.00",
    ]
    assert window("2026-11-10T12:00:01+08:00", "2026-12-01T00:00:00+08:00") == []  # fmt: skip


def test_agents_read_only_their_own_subtree(gql: GraphQLClient) -> None:
    setup(gql)
    gql.fenrun.clock.move_to_at_least(datetime.fromisoformat(DEC))
    gql.ok("generateStatements", {"cycle": "2026-11"})
    [mine] = statements(gql, "2026-11", "A")
    [theirs] = statements(gql, "2026-11", "B")
    agent = gql.as_user("a-user", roles=("agent",), agent="A")
    assert statements(agent, "2026-11", "A")[0]["id"] == mine["id"]
    body = agent.raw('{ statements(agentCode: "B") { edges { node { id } } } }').json()
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = agent.raw("query($i: String!) { statement(id: $i) { id } }", {"i": theirs["id"]}).json()
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = agent.raw('{ walletMovements(agentCode: "B") { edges { node { amount } } } }').json()
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    http = httpx.Client(base_url=gql.base_url)
    assert http.get(f"/v1/statements/{mine['id']}.pdf", headers=agent.auth()).status_code == 200
    assert http.get(f"/v1/statements/{theirs['id']}.pdf", headers=agent.auth()).status_code == 403
    assert http.get(f"/v1/statements/{mine['id']}.pdf").status_code == 401


def test_the_pdf_says_it_in_chinese(gql: GraphQLClient) -> None:
    setup(gql)
    adjust(gql, "adj-1", "30.00", "INCREASE")
    gql.fenrun.clock.move_to_at_least(datetime.fromisoformat(DEC))
    gql.ok("generateStatements", {"cycle": "2026-11"})
    [nov] = statements(gql, "2026-11")
    token = user_token(gql.fenrun, "auditor-1", ("auditor",))
    response = httpx.get(f"{gql.base_url}/v1/statements/{nov['id']}.pdf",
                         headers={"authorization": f"Bearer {token}"})  # fmt: skip
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(BytesIO(response.content)).pages)
    position = response.headers["x-fenrun-position"]
    for expected in ("佣金结算对账凭证", "代理商: A", "2026-11", "期初余额", "期末余额", "预存款",
                     "佣金调整", "100.00", "30.00", f"本凭证生成于日志位置 {position}",
                     f"生成于日志位置 {nov['throughPosition']}"):  # fmt: skip
        assert expected in text, (expected, text)
