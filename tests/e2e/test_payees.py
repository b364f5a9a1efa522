"""Agents as payees over HTTP: verification after registration (with evidence, as of any time),
entity type deciding the tax, payout accounts with personal data encrypted at rest and masked for
every role but finance and admin, and keys rotated without losing old values."""

import base64
import os
from typing import Any

from api.pii import PiiCipher
from tests.e2e.conftest import GraphQLClient
from tests.e2e.test_withdrawals import MARCH, approve, fund, request, withdrawal

CARD = "6222020200112233445"
ID_NUMBER = "110101199003077777"
PAYEE = (
    "query($a: String!, $t: DateTime) { payee(agentCode: $a, asOf: $t) { entityType"
    " realNameVerified verificationEvidence idNumber phone accounts { id kind number } } }"
)


def payee(client: GraphQLClient, agent: str = "P1", at: str | None = None) -> dict[str, Any]:
    return client(PAYEE, {"a": agent, "t": at})["data"]["payee"]


def test_verified_after_registration_with_evidence(gql: GraphQLClient) -> None:
    gql.ok("registerAgent", {"code": "P1", "name": "P1", "realNameVerified": False})
    assert payee(gql)["realNameVerified"] is False
    operator = gql.as_user("ops-1", roles=("operator",))
    refused = operator.mutate("changeRealNameVerification", {"agentCode": "P1", "verified": True,
                              "evidenceRef": "KYC-2026-0042", "reason": ""})  # fmt: skip
    assert refused["userErrors"][0]["code"] == "INVALID_INPUT"
    operator.ok("changeRealNameVerification", {"agentCode": "P1", "verified": True,
                "evidenceRef": "KYC-2026-0042", "reason": "ID card checked",
                "occurredAt": "2026-02-01T10:00:00+08:00"})  # fmt: skip
    now = payee(gql)
    assert (now["realNameVerified"], now["verificationEvidence"]) == (True, "KYC-2026-0042")
    before = payee(gql, at="2026-01-31T10:00:00+08:00")
    assert (before["realNameVerified"], before["verificationEvidence"]) == (False, None)
    fund(gql, "P1", "100", MARCH, "O-1")
    assert request(gql, "P1", "W-1", "10")["userErrors"] == []  # once refused: not verified


def test_a_company_has_no_tax_withheld(gql: GraphQLClient) -> None:
    fund(gql, "P1", "3000", MARCH, "O-1")
    gql.ok("setPayeeEntityType", {"agentCode": "P1", "entityType": "COMPANY",
                                  "reason": "invoices as 深圳某某科技有限公司"})  # fmt: skip
    assert payee(gql)["entityType"] == "COMPANY"
    request(gql, "P1", "W-1", "3000")
    approve(gql, "P1", "W-1")
    assert (withdrawal(gql, "P1", "W-1")["tax"], withdrawal(gql, "P1", "W-1")["net"]) == (
        "0.00", "3000.00"
    )  # fmt: skip


def test_personal_data_encrypted_at_rest_and_masked_per_role(gql: GraphQLClient) -> None:
    gql.ok("registerAgent", {"code": "P1", "name": "P1", "realNameVerified": True})
    agent = gql.as_user("agent-p1", roles=("agent",), agent="P1")
    agent.ok("addPayoutAccount", {"agentCode": "P1", "accountId": "card-1", "kind": "BANK_CARD",
             "holderName": "张三", "bankName": "工商银行", "number": CARD})  # fmt: skip
    gql.ok("setPayeePersonalData", {"agentCode": "P1", "field": "ID_NUMBER", "value": ID_NUMBER})
    masked = {"idNumber": "1101**********7777", "number": "6222***********3445"}
    for role in ("operator", "auditor", "agent"):
        who = agent if role == "agent" else gql.as_user(f"{role}-1", roles=(role,))
        seen = payee(who)
        assert (seen["idNumber"], seen["accounts"][0]["number"]) == (
            masked["idNumber"], masked["number"]
        ), role  # fmt: skip
    for role in ("finance", "admin"):
        seen = payee(gql.as_user(f"{role}-1", roles=(role,)))
        assert (seen["idNumber"], seen["accounts"][0]["number"]) == (ID_NUMBER, CARD), role
    # At rest: neither the plain number nor the ID number is anywhere in the event log.
    with gql.fenrun.pool.connection() as conn:
        log = conn.execute("SELECT string_agg(convert_from(state, 'UTF8'), '') FROM ledger_events")
        stored = log.fetchone()[0]
    assert CARD not in stored
    assert ID_NUMBER not in stored
    assert "6222***********3445" in stored  # the masked form is stored beside the ciphertext


def test_rotated_keys_still_open_old_values(gql: GraphQLClient) -> None:
    gql.ok("registerAgent", {"code": "P1", "name": "P1", "realNameVerified": True})
    gql.ok("addPayoutAccount", {"agentCode": "P1", "accountId": "a-old", "kind": "ALIPAY",
           "holderName": "张三", "number": "zhangsan@example.com"})  # fmt: skip
    old_key = gql.fenrun.pii.current
    new = ("k-new", os.urandom(32))
    old = [(k, key) for k, key in _keys(gql.fenrun) if k == old_key]
    gql.fenrun.pii = PiiCipher([new, *old])  # FENRUN_PII_KEYS="k-new:...,<old>:..."
    gql.ok("addPayoutAccount", {"agentCode": "P1", "accountId": "a-new", "kind": "WECHAT",
           "holderName": "张三", "number": "wxid_zhangsan"})  # fmt: skip
    accounts = {a["id"]: a["number"] for a in payee(gql)["accounts"]}
    assert accounts == {"a-old": "zhangsan@example.com", "a-new": "wxid_zhangsan"}
    with gql.fenrun.pool.connection() as conn:
        log = conn.execute("SELECT string_agg(convert_from(state, 'UTF8'), '') FROM ledger_events")
        stored = log.fetchone()[0]
    assert f"v1:{old_key}:" in stored
    assert "v1:k-new:" in stored


def _keys(fenrun: Any) -> list[tuple[str, bytes]]:
    """The generated key of the test's data folder (identity/pii-keys)."""
    text = (fenrun.settings.data_dir / "identity" / "pii-keys").read_text()
    key_id, _, encoded = text.partition(":")
    return [(key_id, base64.b64decode(encoded))]


def test_entity_type_at_registration(gql: GraphQLClient) -> None:
    gql.ok("registerAgent", {"code": "C1", "name": "C1", "entityType": "COMPANY"})
    assert payee(gql, "C1")["entityType"] == "COMPANY"
    refused = gql.mutate("registerAgent", {"code": "C2", "name": "C2", "entityType": "TRUST"})
    assert refused["userErrors"][0]["code"] == "INVALID_INPUT"
    assert gql('{ agent(code: "C2") { code } }')["data"]["agent"] is None
    gql.ok("registerAgent", {"code": "I1", "name": "I1"})
    assert payee(gql, "I1")["entityType"] == "INDIVIDUAL"
