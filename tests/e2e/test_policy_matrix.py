"""The policy table, proved field by field: every Query and Mutation field has an entry, and for
every role x field a real HTTP request with that role's token is allowed or refused
(FORBIDDEN) as the table says. An agent's calls name its own downline, so what it may call
passes its confinement (test_authorization.py proves the confinement itself)."""

import pytest

from api.auth.principal import Principal
from api.graphql.policy import POLICY, Authorize, fields_of, grant
from api.graphql.schema import MUTATION, QUERY
from domain.identity import Role
from tests.e2e.conftest import GraphQLClient
from tests.e2e.test_authorization import forbidden, tree
from tests.e2e.test_lifecycle import DAY1, sell

T = "2026-03-01T00:00:00+08:00"
RULES = '[{code: "f", kind: "FIXED", amount: "1.00"}]'

# One call per field, naming agents of P1's downline (the agent user acts as P1; P2 is its
# direct sub-agent). Allowed calls may still answer userErrors: only FORBIDDEN counts here.
CALLS: dict[str, str] = {
    "me": "{ me { subject } }",
    "agent": '{ agent(code: "P1") { code } }',
    "wallet": '{ wallet(agentCode: "P1") { frozen } }',
    "commissions": '{ commissions(agentCode: "P1") { edges { node { id } } } }',
    "commission": '{ commission(id: "none") { id } }',
    "unfreezeRequests": '{ unfreezeRequests(agentCode: "P1") { edges { node { id } } } }',
    "platformTotals": "{ platformTotals { net } }",
    "commissionPlans": "{ commissionPlans { code } }",
    "replay": '{ replay(aggregate: WALLET, code: "P1") { version } }',
    "teamPerformance": '{ teamPerformance(agentCode: "P1", month: "2026-03") { teamAmount } }',
    "activationReport": '{ activationReport(agentCode: "P1", year: 2026) { count } }',
    "platformMonth": '{ platformMonth(month: "2026-03") { net } }',
    "ranking": '{ ranking(month: "2026-03") { agentCode } }',
    "simulatePlan": f'{{ simulatePlan(code: "level1", from: "{T}", rules: {RULES}) {{ userErrors {{ code }} }} }}',
    "auditHead": "{ auditHead { position } }",
    "withdrawals": '{ withdrawals(agentCode: "P1") { edges { node { id } } } }',
    "withdrawal": '{ withdrawal(agentCode: "P1", id: "none") { id } }',
    "withdrawalLimits": "{ withdrawalLimits { minimum } }",
    "payee": '{ payee(agentCode: "P1") { entityType } }',
    "setPayeeEntityType": '{ setPayeeEntityType(input: {agentCode: "none", entityType: "COMPANY"}) { userErrors { code } } }',
    "changeRealNameVerification": '{ changeRealNameVerification(input: {agentCode: "none", verified: true, evidenceRef: "e", reason: "r"}) { userErrors { code } } }',
    "setPayeePersonalData": '{ setPayeePersonalData(input: {agentCode: "P1", field: "NONE", value: "1"}) { userErrors { code } } }',
    "addPayoutAccount": '{ addPayoutAccount(input: {agentCode: "P1", accountId: "a", kind: "NONE", holderName: "h", number: "1"}) { userErrors { code } } }',
    "removePayoutAccount": '{ removePayoutAccount(input: {agentCode: "P1", accountId: "none"}) { userErrors { code } } }',
    "outboxCommands": "{ outboxCommands(first: 1) { edges { cursor } } }",
    "payouts": '{ payouts(agentCode: "P1") { edges { cursor } } }',
    "payout": '{ payout(withdrawalId: "none") { status } }',
    "resubmitPayout": '{ resubmitPayout(input: {withdrawalId: "none"}) { userErrors { code } } }',
    "cancelPayout": '{ cancelPayout(input: {withdrawalId: "none", reason: "r"}) { userErrors { code } } }',
    "payApprovedWithdrawals": '{ payApprovedWithdrawals(input: {ids: ["none"]}) { userErrors { code } } }',
    "settlementImports": "{ settlementImports { fileHash } }",
    "reconciliations": "{ reconciliations { nodes { id } } }",
    "reconciliation": '{ reconciliation(id: "none") { id } }',
    "runReconciliation": '{ runReconciliation(input: {kind: CARRIER_RECEIPT, period: "2026-02", amount: "1.00", dryRun: true}) { userErrors { code } } }',
    "resolveReconciliationItem": '{ resolveReconciliationItem(input: {id: "none", itemId: "x", reason: "r"}) { userErrors { code } } }',
    "proposeReconciliationWriteOff": '{ proposeReconciliationWriteOff(input: {id: "none", itemId: "x", reason: "r"}) { userErrors { code } } }',
    "approveReconciliationWriteOff": '{ approveReconciliationWriteOff(input: {id: "none", itemId: "x", reason: "r"}) { userErrors { code } } }',
    "planSimulationJob": '{ planSimulationJob(id: "00000000-0000-0000-0000-000000000000") { id } }',
    "registerAgent": '{ registerAgent(input: {code: "N", name: "N"}) { userErrors { code } } }',
    "bindUpline": '{ bindUpline(input: {agentCode: "P2", parentCode: "P1"}) { userErrors { code } } }',
    "definePackage": '{ definePackage(input: {code: "PN", name: "N", kind: TRAFFIC, purchasePrice: "1"}) { userErrors { code } } }',
    "setCostPrice": '{ setCostPrice(input: {agentCode: "P2", packageCode: "PK", costPrice: "100"}) { userErrors { code } } }',
    "setRetailPrice": '{ setRetailPrice(input: {agentCode: "P1", packageCode: "PK", retailPrice: "100"}) { userErrors { code } } }',
    "defineCommissionPlan": f'{{ defineCommissionPlan(input: {{code: "n", effectiveFrom: "{T}", rules: {RULES}}}) {{ userErrors {{ code }} }} }}',
    "placeOrder": '{ placeOrder(input: {orderId: "ON", packageCode: "PK", agentCode: "P1", flow: CUSTOMER_PAYS}) { userErrors { code } } }',
    "completeOrder": '{ completeOrder(input: {orderId: "none"}) { userErrors { code } } }',
    "refundOrder": '{ refundOrder(input: {orderId: "none", amount: "1", reason: "r"}) { userErrors { code } } }',
    "topUpDeposit": '{ topUpDeposit(input: {agentCode: "P1", amount: "1"}) { userErrors { code } } }',
    "requestWithdrawal": '{ requestWithdrawal(input: {agentCode: "P1", withdrawalId: "w", amount: "1"}) { userErrors { code } } }',
    "settleWithdrawal": '{ settleWithdrawal(input: {agentCode: "P1", withdrawalId: "w", paid: true}) { userErrors { code } } }',
    "approveWithdrawals": '{ approveWithdrawals(input: {withdrawals: [{agentCode: "P1", withdrawalId: "none"}]}) { userErrors { code } } }',
    "rejectWithdrawals": '{ rejectWithdrawals(input: {withdrawals: [{agentCode: "P1", withdrawalId: "none"}], reason: "r"}) { userErrors { code } } }',
    "setWithdrawalLimits": '{ setWithdrawalLimits(input: {minimum: "0.01", reason: "r"}) { userErrors { code } } }',
    "moveCommissionToDeposit": '{ moveCommissionToDeposit(input: {agentCode: "P1", transferId: "t", amount: "1000000"}) { userErrors { code } } }',
    "requestAccountFreeze": '{ requestAccountFreeze(input: {agentCode: "none", action: "FREEZE", reason: "r"}) { userErrors { code } } }',
    "decideAccountFreeze": '{ decideAccountFreeze(input: {agentCode: "none", approved: true}) { userErrors { code } } }',
    "assignCard": '{ assignCard(input: {iccid: "I", agentCode: "P1"}) { userErrors { code } } }',
    "activateCard": '{ activateCard(input: {iccid: "none"}) { userErrors { code } } }',
    "recordRecharge": '{ recordRecharge(input: {iccid: "none", amount: "1"}) { userErrors { code } } }',
    "reportCardConditions": '{ reportCardConditions(input: {iccid: "none", stopped: true, arrears: false, cancelled: false, complaint: false}) { userErrors { code } } }',
    "releaseDueCommissions": f'{{ releaseDueCommissions(input: {{now: "{T}"}}) {{ userErrors {{ code }} }} }}',
    "approveUnfreezeRequests": '{ approveUnfreezeRequests(input: {ids: ["none"]}) { userErrors { code } } }',
    "rejectUnfreezeRequests": '{ rejectUnfreezeRequests(input: {ids: ["none"], reason: "r"}) { userErrors { code } } }',
    "defineAgentLevels": '{ defineAgentLevels(input: {levels: [{code: "g1", name: "G1", rank: 1}]}) { userErrors { code } } }',
    "setAgentLevel": '{ setAgentLevel(input: {agentCode: "P1", levelCode: "none"}) { userErrors { code } } }',
    "recordCarrierSettlement": '{ recordCarrierSettlement(input: {rowId: "r", iccid: "none", period: "2026-03", totalCommission: "1", networkStatus: NORMAL, noArrears: true, noSuspension: true, noComplaint: true}) { userErrors { code } } }',
    "applyPlanCorrection": f'{{ applyPlanCorrection(input: {{code: "level1", from: "{T}", rules: {RULES}, reason: "r"}}) {{ userErrors {{ code }} }} }}',
    "startPlanSimulation": f'{{ startPlanSimulation(input: {{code: "level1", from: "{T}", rules: {RULES}}}) {{ userErrors {{ code }} }} }}',
    "walletMovements": '{ walletMovements(agentCode: "P1") { edges { node { amount } } } }',
    "statements": '{ statements(agentCode: "P1") { edges { node { id } } } }',
    "statement": '{ statement(id: "none") { id } }',
    "generateStatements": '{ generateStatements(input: {cycle: "2026-02"}) { userErrors { code } } }',
    "approveStatement": '{ approveStatement(input: {id: "none"}) { userErrors { code } } }',
    "rejectStatement": '{ rejectStatement(input: {id: "none", reason: "r"}) { userErrors { code } } }',
    "voidStatement": '{ voidStatement(input: {id: "none", reason: "r"}) { userErrors { code } } }',
    "proposeCommissionAdjustment": '{ proposeCommissionAdjustment(input: {agentCode: "P1", adjustmentId: "a", amount: "1", direction: INCREASE, reason: "r"}) { userErrors { code } } }',
    "approveCommissionAdjustment": '{ approveCommissionAdjustment(input: {agentCode: "P1", adjustmentId: "none"}) { userErrors { code } } }',
    "rejectCommissionAdjustment": '{ rejectCommissionAdjustment(input: {agentCode: "P1", adjustmentId: "none", reason: "r"}) { userErrors { code } } }',
    "card": '{ card(iccid: "none") { iccid } }',
    "cards": '{ cards(agentCode: "P1") { edges { node { iccid } } } }',
    "enterprise": '{ enterprise(code: "none") { code } }',
    "recordCarrierCardState": f'{{ recordCarrierCardState(input: {{iccid: "none", carrier: "CMCC", rawState: "2", reportedAt: "{T}", reportId: "r"}}) {{ userErrors {{ code }} }} }}',
    "recordCardConditions": f'{{ recordCardConditions(input: {{iccid: "none", carrier: "CMCC", arrears: false, complaint: false, reportedAt: "{T}", reportId: "r"}}) {{ userErrors {{ code }} }} }}',
    "recordUsageReports": "{ recordUsageReports(input: {reports: []}) { userErrors { code } } }",
    "setPackageQuota": '{ setPackageQuota(input: {packageCode: "none", quotaMb: 1}) { userErrors { code } } }',
    "createEnterprise": '{ createEnterprise(input: {code: "E", name: "E", poolQuotaMb: 1, stopMode: "STOP_ALL"}) { userErrors { code } } }',
    "assignEnterpriseCards": '{ assignEnterpriseCards(input: {enterpriseCode: "none", iccids: ["none"]}) { userErrors { code } } }',
    "topUpEnterprisePool": '{ topUpEnterprisePool(input: {enterpriseCode: "none", amountMb: 1}) { userErrors { code } } }',
    "cancelOrder": '{ cancelOrder(input: {orderId: "none", reason: "r"}) { userErrors { code } } }',
}
ROOTS = {"Query": QUERY, "Mutation": MUTATION}


def schema_fields() -> list[tuple[str, str]]:
    return [
        (root, f.graphql_name or _camel(f.python_name))
        for root, type_ in ROOTS.items()
        for f in fields_of(type_)
    ]


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def test_every_field_has_an_entry_enforced_on_it() -> None:
    found = schema_fields()
    assert {f for _, f in found} == set(CALLS), "a field without a call in this matrix"
    for root, type_ in ROOTS.items():
        for field in fields_of(type_):
            key = (root, field.graphql_name or _camel(field.python_name))
            assert key in POLICY, f"{key} has no entry in the policy table"
            assert [e.key for e in field.extensions if isinstance(e, Authorize)] == [key]


def test_a_new_field_without_an_entry_fails_the_build() -> None:
    import strawberry
    from strawberry.tools import merge_types

    from api.graphql.policy import enforce

    @strawberry.type
    class Extra:
        @strawberry.field
        async def secret(self) -> str:
            return "s"

    with pytest.raises(LookupError, match=r"Query\.secret has no entry"):
        enforce(merge_types("Query", (Extra,)))


PEOPLE = {
    Role.ADMIN: ("adm-1", ("admin",), None),
    Role.OPERATOR: ("ops-1", ("operator",), None),
    Role.FINANCE: ("fin-1", ("finance",), None),
    Role.AGENT: ("agent-p1", ("agent",), "P1"),
    Role.AUDITOR: ("aud-1", ("auditor",), None),
}


def test_every_role_against_every_field(gql: GraphQLClient) -> None:
    tree(gql)
    sell(gql, "O-1", "customer", DAY1)
    clients = {role: gql.as_user(*person) for role, person in PEOPLE.items()}
    refused: dict[Role, set[str]] = {role: set() for role in Role}
    for root, name in schema_fields():
        text = CALLS[name] if root == "Query" else "mutation " + CALLS[name]
        for role, client in clients.items():
            response = client.raw(text)
            assert response.status_code == 200, (role, name, response.text)
            body = response.json()
            if forbidden(body):
                assert forbidden(body) == [name]
                refused[role].add(name)
            else:
                assert "errors" not in body, (role, name, body["errors"])
    for role, (subject, roles, agent) in PEOPLE.items():
        principal = Principal(subject, frozenset(Role(r) for r in roles), agent)
        expected = {
            name for root, name in schema_fields() if grant(POLICY[(root, name)], principal) is None
        }
        assert refused[role] == expected, role
    # The table as decided (decision 0021), spelled out once more.
    # The outbox's payloads name payees' accounts: operations' business only (decision 0026).
    outbox = {"outboxCommands"}
    assert refused[Role.AUDITOR] == {n for r, n in schema_fields() if r == "Mutation"} | outbox
    assert refused[Role.AGENT] == {
        "platformTotals", "commissionPlans", "platformMonth", "simulatePlan", "auditHead",
        "planSimulationJob", "settlementImports", "enterprise", *outbox,
        *outbox, "reconciliations", "reconciliation",
        *(n for r, n in schema_fields() if r == "Mutation"),
    } - {"setCostPrice", "setRetailPrice", "placeOrder", "requestWithdrawal",
         "moveCommissionToDeposit", "setPayeePersonalData", "addPayoutAccount",
         "removePayoutAccount"}  # fmt: skip
    assert "approveWithdrawals" in refused[Role.ADMIN] & refused[Role.OPERATOR]
    assert "approveWithdrawals" not in refused[Role.FINANCE]
    assert "decideAccountFreeze" in refused[Role.OPERATOR] - refused[Role.ADMIN]
    assert "requestAccountFreeze" in refused[Role.ADMIN] - refused[Role.OPERATOR]
    assert "approveUnfreezeRequests" in refused[Role.ADMIN] & refused[Role.OPERATOR]
    assert "approveUnfreezeRequests" not in refused[Role.FINANCE]
    assert "settlementImports" in refused[Role.OPERATOR] - refused[Role.AUDITOR]
    assert "reconciliations" in refused[Role.OPERATOR] - refused[Role.AUDITOR]
    assert "approveReconciliationWriteOff" in refused[Role.ADMIN] - refused[Role.FINANCE]
