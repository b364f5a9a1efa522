"""Seed 004, 条件不满足 → 佣金失效, over HTTP GraphQL: the carrier's conditions of a card
(reportCardConditions: 停机 / 欠费 / 销户 / 投诉) void its commissions still frozen, with the
reason; released ones stand unless the rule says `clawBackAfterRelease`."""

import pytest

from tests.e2e.conftest import GraphQLClient

JAN = "2026-01-01T00:00:00+08:00"
MAR1 = "2026-03-01T10:00:00+08:00"
MAR3 = "2026-03-03T10:00:00+08:00"
MAR9 = "2026-03-09T10:00:00+08:00"
MAR10 = "2026-03-10T10:00:00+08:00"
ICCID = "89860001"
ONE_TIME = {"code": "first100", "kind": "ONE_TIME", "amount": "10.00", "rechargeThreshold": "100"}


def card_with_one_time(gql: GraphQLClient, rule: dict) -> None:
    gql.ok(
        "definePackage", {"code": "NC", "name": "Number", "kind": "NUMBER", "purchasePrice": "0"}
    )
    gql.ok("registerAgent", {"code": "A", "name": "A"})
    gql.ok("defineCommissionPlan", {"code": "nc", "effectiveFrom": JAN, "rules": [rule]})
    gql.ok("assignCard", {"iccid": ICCID, "agentCode": "A", "packageCode": "NC"})
    gql.ok("activateCard", {"iccid": ICCID, "occurredAt": MAR1})
    gql.ok("recordRecharge", {"iccid": ICCID, "amount": "100", "occurredAt": MAR1})


def report(gql: GraphQLClient, at: str, **flags: bool) -> dict:
    conditions = {"stopped": False, "arrears": False, "cancelled": False, "complaint": False}
    return gql.ok(
        "reportCardConditions",
        {"iccid": ICCID, **conditions, **flags, "source": "CMCC-status", "occurredAt": at},
        "iccid failed",
    )


def line(gql: GraphQLClient) -> dict:
    [edge] = gql(
        '{ commissions(agentCode: "A") { edges { node { kind amount status iccid'
        " history { status amount reason actor } } } } }"
    )["data"]["commissions"]["edges"]
    return edge["node"]


def wallet(gql: GraphQLClient) -> dict:
    return gql('{ wallet(agentCode: "A") { frozen unfreezing available debt } }')["data"]["wallet"]


def release(gql: GraphQLClient) -> None:
    requests = gql.ok("releaseDueCommissions", {"now": MAR9}, "requests { id }")["requests"]
    gql.ok("approveUnfreezeRequests", {"ids": [r["id"] for r in requests]})


def test_a_carrier_stop_voids_the_frozen_commission_with_the_reason(gql: GraphQLClient) -> None:
    card_with_one_time(gql, ONE_TIME)
    assert (line(gql)["amount"], line(gql)["status"]) == ("10.00", "FROZEN")
    normal = report(gql, MAR3)  # all normal: nothing changes
    assert (normal["iccid"], normal["failed"]) == (ICCID, [])
    assert line(gql)["status"] == "FROZEN"
    stopped = report(gql, MAR3, stopped=True, arrears=True)
    assert stopped["failed"] == ["stopped", "arrears"]
    voided = line(gql)
    assert (voided["amount"], voided["status"], voided["iccid"]) == ("0.00", "VOIDED", ICCID)
    last = voided["history"][-1]
    assert last["status"] == "VOIDED"
    assert last["actor"] == "system:commission-policy"
    assert "stopped (停机), in arrears (欠费)" in last["reason"]
    assert "reported by CMCC-status" in last["reason"]
    assert wallet(gql) == {
        "frozen": "0.00",
        "unfreezing": "0.00",
        "available": "0.00",
        "debt": "0.00",
    }
    # Reported again: the line is gone, nothing is voided twice.
    report(gql, MAR3, cancelled=True)
    assert len(line(gql)["history"]) == 2


@pytest.mark.parametrize(
    ("claw_back", "status", "available", "amount"),
    [(None, "APPROVED", "10.00", "10.00"), (True, "CLAWED_BACK", "0.00", "0.00")],
)
def test_after_release_only_the_plan_claws_back(
    gql: GraphQLClient, claw_back: bool | None, status: str, available: str, amount: str
) -> None:
    rule = ONE_TIME if claw_back is None else {**ONE_TIME, "clawBackAfterRelease": claw_back}
    card_with_one_time(gql, rule)
    release(gql)
    assert wallet(gql)["available"] == "10.00"
    report(gql, MAR10, complaint=True)
    after = line(gql)
    assert (after["status"], after["amount"]) == (status, amount)
    assert wallet(gql)["available"] == available
    if claw_back:
        assert "a complaint (投诉)" in after["history"][-1]["reason"]


def test_unknown_card_and_bad_source_are_refused(gql: GraphQLClient) -> None:
    card_with_one_time(gql, ONE_TIME)
    base = {"stopped": True, "arrears": False, "cancelled": False, "complaint": False}
    missing = gql.mutate("reportCardConditions", {"iccid": "nope", **base})
    assert missing["userErrors"][0]["code"] == "CARD_NOT_FOUND"
    early = gql.mutate(
        "reportCardConditions", {"iccid": ICCID, **base, "occurredAt": "2025-01-01T00:00:00Z"}
    )
    assert early["userErrors"][0]["code"] == "BEFORE_SUBJECT_EXISTED"
    bad = gql.mutate("reportCardConditions", {"iccid": ICCID, **base, "source": " x"})
    assert bad["userErrors"][0]["code"] in {"INVALID_TEXT", "INVALID_INPUT"}
    assert line(gql)["status"] == "FROZEN"
