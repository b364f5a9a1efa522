"""Reconciliation over HTTP (issue 13, decision 0032): a carrier receipt short of the files'
total (one receipt, two files: 1:N), a write-off that needs two people, a dry run that records
nothing, a run as of an earlier time, the Excel report read back; a channel statement file with
one missing, one extra and one differing item; a three-way run that matches."""

import base64
import io
import time
from datetime import UTC, datetime

from python_calamine import CalamineWorkbook

from tests.e2e.conftest import GraphQLClient
from tests.e2e.payout_env import PayingEnv, paying, with_commissions
from tests.e2e.test_rules_settlement import LONG, MAR1, setup
from tests.e2e.test_settlement_import import upload, xlsx

__all__ = ["paying"]

ITEMS = "id rule key difference ours theirs ourStatus theirStatus ourSources theirSources status"
RUN = (
    "id kind subject sources throughPosition recordedPosition dryRun matched oursTotal"
    f" theirsTotal missingTheirs missingOurs differing items {{ {ITEMS} }}"
)


def run(gql: GraphQLClient, **input: object) -> dict:
    return gql.ok("runReconciliation", input, f"reconciliation {{ {RUN} }}")["reconciliation"]


def runs(gql: GraphQLClient, **args: object) -> list[dict]:
    body = gql(
        "query($k: ReconciliationKind, $at: DateTime) { reconciliations(kind: $k, asOf: $at)"
        " { nodes { id matched items { id status } } } }",
        {"k": args.get("kind"), "at": args.get("asOf")},
    )
    return body["data"]["reconciliations"]["nodes"]  # type: ignore[no-any-return]


def carrier_files(gql: GraphQLClient) -> None:
    """Two files of March: 30.00 and 20.50."""
    setup(gql, [LONG])
    gql.ok("assignCard", {"iccid": "89860002", "agentCode": "A", "packageCode": "NC"})
    gql.ok("activateCard", {"iccid": "89860002", "occurredAt": MAR1})
    gql.ok("recordRecharge", {"iccid": "89860002", "amount": "100", "occurredAt": MAR1})
    row = ["正常", "否", "否", "否", 3]
    assert upload(gql, "a.xlsx", xlsx([["89860001", "202603", 30.0, *row]]))[0] == 200
    assert upload(gql, "b.xlsx", xlsx([["89860002", "202603", "20.50", *row]]))[0] == 200


def test_a_carrier_receipt_short_of_the_files_and_a_write_off_by_two(gql: GraphQLClient) -> None:
    carrier_files(gql)
    receipt = {"kind": "CARRIER_RECEIPT", "period": "2026-03", "amount": "45.00"}
    dry = run(gql, **receipt, dryRun=True)
    assert (dry["dryRun"], dry["recordedPosition"]) == (True, None)
    assert runs(gql) == []  # a dry run records nothing
    done = run(gql, **receipt)
    assert dry["items"] == done["items"]
    near = run(gql, **receipt, tolerance="5.50", dryRun=True)
    assert (near["items"], near["matched"]) == ([], 1)
    assert (done["oursTotal"], done["theirsTotal"], done["matched"]) == ("50.50", "45.00", 0)
    [item] = done["items"]
    assert item == {
        "id": "carrier-receipt:2026-03", "rule": "carrier-receipt", "key": "2026-03",
        "difference": "AMOUNT_DIFFERS", "ours": "50.50", "theirs": "45.00", "ourStatus": None,
        "theirStatus": None, "ourSources": ["settlement file a.xlsx", "settlement file b.xlsx"],
        "theirSources": ["bank receipt"], "status": "OPEN",
    }  # fmt: skip
    time.sleep(0.05)
    before = datetime.now(UTC)  # asOf is a recorded time: the database's clock
    time.sleep(0.05)
    # The write-off: finance-1 proposes, finance-1 cannot approve, finance-2 can.
    ref = {"id": done["id"], "itemId": item["id"]}
    fields = "itemId status amount"
    proposed = gql.ok("proposeReconciliationWriteOff", {**ref, "reason": "bank charges"}, fields)
    assert (proposed["status"], proposed["amount"]) == ("WRITE_OFF_PROPOSED", "5.50")
    same = gql.mutate("approveReconciliationWriteOff", {**ref, "reason": "ok"}, fields)
    assert same["userErrors"][0]["code"] == "SAME_APPROVER"
    other = gql.as_user("finance-2", roles=("finance",))
    approved = other.ok("approveReconciliationWriteOff", {**ref, "reason": "ok"}, fields)
    assert approved["status"] == "WRITTEN_OFF"
    [now] = runs(gql, kind="CARRIER_RECEIPT")
    assert now["items"] == [{"id": item["id"], "status": "WRITTEN_OFF"}]
    # As of before the write-off, the item was open.
    [then] = runs(gql, asOf=before.isoformat())
    assert then["items"] == [{"id": item["id"], "status": "OPEN"}]
    # Agents and operators do not see runs; auditors do.
    agent = gql.as_user("A", roles=("agent",), agent="A")
    refused = agent.raw("{ reconciliations { nodes { id } } }").json()
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    auditor = gql.as_user("aud-1", roles=("auditor",))
    assert (
        len(auditor("{ reconciliations { nodes { id } } }")["data"]["reconciliations"]["nodes"])
        == 1
    )
    # The Excel report, read back: the difference, the decisions, the log position.
    response = gql.http.get(f"/v1/reconciliations/{done['id']}/report.xlsx", headers=gql.auth())
    assert response.status_code == 200
    book = CalamineWorkbook.from_filelike(io.BytesIO(response.content))
    rows = book.get_sheet_by_name("Differences").to_python()
    assert rows[1][:7] == ["carrier-receipt:2026-03", "carrier-receipt", "2026-03",
                           "AMOUNT_DIFFERS", 50.5, 45.0, -5.5]  # fmt: skip
    assert rows[1][-1] == "WRITTEN_OFF"
    decisions = book.get_sheet_by_name("Decisions").to_python()
    assert [d[1] for d in decisions[1:]] == ["WRITE_OFF_PROPOSED", "WRITTEN_OFF"]
    about = {r[0]: r[1] for r in book.get_sheet_by_name("About").to_python()}
    assert about["log position"] >= float(done["recordedPosition"])
    # A receipt that matches, sent twice with one idempotency key: recorded once.
    once = run(gql, kind="CARRIER_RECEIPT", period="2026-03", amount="50.50", idempotencyKey="k1")
    assert (once["items"], once["matched"]) == ([], 1)
    again = run(gql, kind="CARRIER_RECEIPT", period="2026-03", amount="50.50", idempotencyKey="k1")
    assert again == once
    assert len(runs(gql)) == 2


def test_resolving_needs_a_reason(gql: GraphQLClient) -> None:
    carrier_files(gql)
    done = run(gql, kind="CARRIER_RECEIPT", period="2026-03", amount="60.00")
    ref = {"id": done["id"], "itemId": "carrier-receipt:2026-03"}
    blank = gql.mutate("resolveReconciliationItem", {**ref, "reason": " "}, "status")
    assert blank["userErrors"][0]["code"] == "INVALID_INPUT"
    resolved = gql.ok("resolveReconciliationItem", {**ref, "reason": "a file still to come"},
                      "status")  # fmt: skip
    assert resolved["status"] == "RESOLVED"
    missing = gql.mutate("runReconciliation", {"kind": "THREE_WAY"}, "reconciliation { id }")
    assert missing["userErrors"][0]["field"] == ["input", "cycle"]


def channel_file(rows: list[tuple[str, str, str]]) -> bytes:
    lines = ["outRequestId,amount,status", *(",".join(r) for r in rows)]
    return ("\n".join(lines) + "\n").encode()


def test_a_channel_statement_with_a_missing_an_extra_and_a_differing_item(
    paying: PayingEnv,
) -> None:
    env = paying
    with_commissions(env.gql)
    for wid, amount in (("W-1", "1.00"), ("W-3", "2.00"), ("W-4", "3.00")):
        env.withdraw(wid, amount)
    env.work(callbacks=3)
    assert {env.payout(w)["status"] for w in ("W-1", "W-3", "W-4")} == {"PAID"}
    content = channel_file([("PO-W-1", "1.00", "SUCCESS"), ("PO-W-3", "2.50", "SUCCESS"),
                            ("PO-X-9", "4.00", "SUCCESS")])  # fmt: skip
    response = env.gql.http.post(
        "/v1/reconciliations", files={"file": ("channel.csv", content)}, data={"dryRun": "true"},
        headers=env.gql.auth(),
    )  # fmt: skip
    assert response.status_code == 200, response.text
    dry = response.json()
    assert (dry["dryRun"], dry["recordedPosition"]) == (True, None)
    assert runs(env.gql) == []
    done = run(env.gql, kind="CHANNEL_STATEMENT", fileName="channel.csv",
               fileBase64=base64.b64encode(content).decode())  # fmt: skip
    assert done["matched"] == 1
    assert (done["missingTheirs"], done["missingOurs"], done["differing"]) == (1, 1, 1)
    found = {i["key"]: (i["difference"], i["ours"], i["theirs"], i["ourStatus"],
                        i["theirStatus"]) for i in done["items"]}  # fmt: skip
    assert found == {
        "PO-W-3": ("AMOUNT_DIFFERS", "2.00", "2.50", "PAID", "PAID"),
        "PO-W-4": ("MISSING_THEIRS", "3.00", None, "PAID", None),
        "PO-X-9": ("MISSING_OURS", None, "4.00", None, "PAID"),
    }
    assert [i["key"] for i in dry["items"]] == sorted(found)
    assert [r["id"] for r in runs(env.gql, kind="CHANNEL_STATEMENT")] == [done["id"]]
    assert runs(env.gql, kind="THREE_WAY") == []
    # The three-way of the month: statements approved, they match the ledger and the payouts.
    env.fenrun.clock.move_to_at_least(datetime.fromisoformat("2026-04-02T12:00:00+08:00"))
    env.gql.ok("generateStatements", {"cycle": "2026-03"})
    # Before the statements are approved, the payouts are on none of them.
    early = run(env.gql, kind="THREE_WAY", cycle="2026-03", dryRun=True)
    on_none = {i["key"] for i in early["items"] if i["rule"] == "on-statement"}
    assert on_none == {"P1/W-1", "P1/W-3", "P1/W-4"}
    assert {i["difference"] for i in early["items"]} == {"MISSING_THEIRS", "MISSING_OURS"}
    body = env.gql('{ statements(cycle: "2026-03", first: 50) { edges { node { id } } } }')
    for edge in body["data"]["statements"]["edges"]:
        env.gql.ok("approveStatement", {"id": edge["node"]["id"]})
    three = run(env.gql, kind="THREE_WAY", cycle="2026-03")
    assert three["items"] == []
    assert three["matched"] >= 4  # approved, paid, on-statement (x3) at least
    assert three["sources"] == ["movement ledger", "approved statements of 2026-03",
                                "paid payouts"]  # fmt: skip


def test_the_channel_says_paid_what_the_ledger_saw_fail(paying: PayingEnv) -> None:
    env = paying
    with_commissions(env.gql)
    env.withdraw("W-2", "1.11")  # the simulator fails its first attempt
    env.work(callbacks=1)
    assert env.payout("W-2")["status"] == "FAILED"
    content = channel_file([("PO-W-2", "1.11", "成功")])
    response = env.gql.http.post(
        "/v1/reconciliations", files={"file": ("channel.csv", content)},
        data={"idempotencyKey": "chan-1"}, headers=env.gql.auth(),
    )  # fmt: skip
    assert response.status_code == 200, response.text
    done = response.json()
    [item] = done["items"]
    assert (item["difference"], item["ourStatus"], item["theirStatus"]) == (
        "STATUS_DIFFERS", "FAILED", "PAID",
    )  # fmt: skip
    assert done["recordedPosition"] is not None
    assert [r["id"] for r in runs(env.gql)] == [done["id"]]
    bad = env.gql.http.post(
        "/v1/reconciliations", files={"file": ("c.csv", b"id,what\n1,2\n")}, headers=env.gql.auth()
    )
    assert bad.status_code == 422
    assert bad.json()["userErrors"][0]["field"] == "file"
    operator = env.gql.as_user("op-1", roles=("operator",))
    refused = env.gql.http.post(
        "/v1/reconciliations", files={"file": ("channel.csv", content)}, headers=operator.auth()
    )
    assert refused.status_code == 403
