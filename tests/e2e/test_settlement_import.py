"""Carrier settlement files over HTTP (issue 13, decision 0028): the row report, all or nothing,
--accept-valid, the same file twice, a changed row under a known id; exports read back."""

import csv
import io
import secrets
import time

import httpx
import psycopg
import pytest
import xlsxwriter
from python_calamine import CalamineWorkbook

from api.auth.sealing import Sealer
from api.auth.signatures import sign
from application.carriers import CardStateReport
from domain.common import Audit
from tests.e2e.conftest import GraphQLClient
from tests.e2e.test_rules_settlement import LONG, setup

HEADER = [
    "ICCID",
    "结算月份",
    "佣金金额",
    "网络状态",
    "是否欠费",
    "是否停机",
    "是否投诉",
    "在网月数",
]
GOOD = [
    ["89860001", "202603", 30.0, "正常", "否", "否", "否", 3],
    ["89860001", "2026-04", "20.50", "正常", "否", "否", "否", ""],
]
BAD = [
    ["89869999", "202603", 10, "正常", "否", "否", "否", 1],  # row 4: no such card
    ["89860001", "2026-13", "-1", "正常", "也许", "否", "否", 1],  # row 5: three cells wrong
]


def xlsx(rows: list[list]) -> bytes:
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    sheet = book.add_worksheet("结算")
    for r, row in enumerate([HEADER, *rows]):
        for c, value in enumerate(row):
            sheet.write(r, c, value)
    book.close()
    return out.getvalue()


def as_csv(rows: list[list]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows([HEADER, *rows])
    return out.getvalue().encode("utf-8-sig")


def upload(gql: GraphQLClient, name: str, content: bytes, **form: str) -> tuple[int, dict]:
    response = gql.http.post(
        "/v1/carrier-settlements/files",
        files={"file": (name, content)},
        data=form,
        headers=gql.auth(),
    )
    return response.status_code, response.json()


def totals(gql: GraphQLClient) -> dict:
    return gql("{ platformTotals { income agentCredits net } }")["data"]["platformTotals"]


def problems(body: dict) -> list[tuple]:
    return [(p["row"], p["column"], p["code"]) for p in body["problems"]]


def test_all_or_nothing_then_accept_valid_then_the_same_file(gql: GraphQLClient) -> None:
    setup(gql, [LONG])
    content = xlsx(GOOD + BAD)
    status, body = upload(gql, "march.xlsx", content)
    assert (status, body["status"]) == (422, "REFUSED")
    assert (body["rows"], body["applied"], body["refused"]) == (4, 0, 2)
    assert problems(body) == [
        (4, "ICCID", "CARD_NOT_FOUND"),
        (5, "结算月份", "INVALID_INPUT"),
        (5, "佣金金额", "INVALID_MONEY"),
        (5, "是否欠费", "INVALID_INPUT"),
    ]
    assert totals(gql)["income"] == "0.00"  # nothing applied

    status, body = upload(gql, "march.xlsx", content, acceptValid="true")
    assert (status, body["status"]) == (200, "PARTIAL")
    assert (body["rows"], body["applied"], body["refused"]) == (4, 2, 2)
    # 30.00 and 20.50, 40% each to the agent: 12.00 + 8.20
    assert totals(gql) == {"income": "50.50", "agentCredits": "20.20", "net": "30.30"}

    status, again = upload(gql, "renamed.xlsx", content, acceptValid="true")
    assert (status, again["status"]) == (200, "ALREADY_IMPORTED")
    assert "nothing changed" in again["message"]
    assert totals(gql) == {"income": "50.50", "agentCredits": "20.20", "net": "30.30"}

    listed = gql(
        "{ settlementImports { fileHash fileName recordedBy rows applied refused"
        " problems { row column code } } }"
    )["data"]["settlementImports"]
    assert [(i["fileName"], i["rows"], i["applied"], i["refused"]) for i in listed] == [
        ("march.xlsx", 4, 2, 2)
    ]
    assert listed[0]["recordedBy"] == gql.user
    assert listed[0]["problems"][0] == {"row": 4, "column": "ICCID", "code": "CARD_NOT_FOUND"}

    report = gql.http.get(body["report"], headers=gql.auth())
    assert report.status_code == 200
    book = CalamineWorkbook.from_filelike(io.BytesIO(report.content))
    rows = book.get_sheet_by_name("Problems").to_python()
    assert rows[0] == ["row", "column", "code", "message"]
    assert [(int(r[0]), r[1], r[2]) for r in rows[1:]] == problems(body)
    about = dict(book.get_sheet_by_name("About").to_python())
    assert about["sha256"] == body["fileHash"]


def test_a_csv_a_known_row_unchanged_and_a_changed_one(gql: GraphQLClient) -> None:
    setup(gql, [LONG])
    status, first = upload(gql, "march.csv", as_csv(GOOD))
    assert (status, first["status"], first["applied"]) == (200, "APPLIED", 2)
    changed = [GOOD[0], [*GOOD[1][:2], "21.00", *GOOD[1][3:]]]  # same id (ICCID/period)
    status, body = upload(gql, "march-v2.csv", as_csv(changed))
    assert (status, body["status"]) == (422, "REFUSED")
    assert problems(body) == [(3, None, "ROW_CHANGED")]
    assert "totalCommission" in body["problems"][0]["message"]
    status, body = upload(gql, "march-v2.csv", as_csv(changed), acceptValid="true")
    assert (body["status"], body["applied"], body["unchanged"], body["refused"]) == (
        "PARTIAL", 0, 1, 1,
    )  # fmt: skip
    assert totals(gql) == {"income": "50.50", "agentCredits": "20.20", "net": "30.30"}


def test_uploads_need_finance_or_operator(gql: GraphQLClient) -> None:
    setup(gql, [LONG])
    auditor = gql.as_user("aud-1", roles=("auditor",))
    assert upload(auditor, "x.csv", as_csv(GOOD))[0] == 403
    assert (
        gql.anonymous()
        .http.post("/v1/carrier-settlements/files", files={"file": ("x.csv", as_csv(GOOD))})
        .status_code
        == 401
    )


def read_export(gql: GraphQLClient, what: str, **params: str) -> tuple[list, dict]:
    response = gql.http.get(f"/v1/exports/{what}.xlsx", params=params, headers=gql.auth())
    assert response.status_code == 200, response.text
    book = CalamineWorkbook.from_filelike(io.BytesIO(response.content))
    data = book.get_sheet_by_index(0).to_python()
    return data, dict(book.get_sheet_by_name("About").to_python())


def test_exports_read_back_with_their_position(gql: GraphQLClient) -> None:
    setup(gql, [LONG])
    upload(gql, "march.csv", as_csv(GOOD[:1]))
    position = int(gql("{ platformTotals { net } }")["extensions"]["position"])
    upload(gql, "april.csv", as_csv(GOOD[1:]))
    month, about = read_export(gql, "platform-month")
    assert month[0][:2] == ["month", "income"]
    [march] = [r for r in month[1:] if r[0] == "2026-03"]
    assert (march[1], march[-2], march[-1]) == (50.5, 20.2, 30.3)
    assert int(about["log position"]) >= position
    ledger, about = read_export(gql, "commissions")
    assert sorted(r[4] for r in ledger[1:]) == [8.2, 12.0]
    team, _ = read_export(gql, "team-performance")
    assert [(r[0], r[7]) for r in team[1:]] == [("A", 50.5)]
    activations, _ = read_export(gql, "activations")
    assert [(r[0], r[2]) for r in activations[1:]] == [("A", 1.0)]  # reported when recorded
    # as of a time before the second file: the position said, the second file absent
    as_of = gql.fenrun.read.recorded_at(position).isoformat()
    month, about = read_export(gql, "platform-month", asOf=as_of)
    [march] = [r for r in month[1:] if r[0] == "2026-03"]
    assert march[1] == 30.0
    assert int(about["log position"]) <= position
    agent = gql.as_user("A-user", roles=("agent",), agent="A")
    assert (
        agent.http.get("/v1/exports/platform-month.xlsx", headers=agent.auth()).status_code == 403
    )


def signed_upload(
    gql: GraphQLClient, fenrun, key_id: str, carrier: str, content: bytes
) -> tuple[httpx.Response, tuple[str, dict]]:
    """Issues a settlements key speaking for `carrier` and uploads `content` signed with it;
    answers the response and the (body, headers) that were sent."""
    secret = secrets.token_urlsafe(32)
    sealed = Sealer.of(fenrun.settings).seal(secret, key_id)
    fenrun.ledger.issue_api_key(
        key_id, "carrier", ("settlements",), sealed, Audit("ops", fenrun.clock.now()),
        speaks_for=carrier,
    )  # fmt: skip
    request = httpx.Request("POST", "http://x", files={"file": ("march.csv", content)})
    body, content_type = request.read(), request.headers["content-type"]
    path = "/v1/carrier-settlements/files"
    stamp, nonce = str(int(time.time())), secrets.token_hex(12)
    headers = {
        "content-type": content_type,
        "x-fenrun-key": key_id,
        "x-fenrun-timestamp": stamp,
        "x-fenrun-nonce": nonce,
        "x-fenrun-signature": sign(secret, "POST", path, stamp, nonce, body),
    }
    return gql.http.post(path, content=body, headers=headers), (body, headers)


def test_a_machine_uploads_with_a_signed_request(gql: GraphQLClient, fenrun) -> None:
    setup(gql, [LONG])
    done, (body, headers) = signed_upload(gql, fenrun, "fk_files", "CMCC", as_csv(GOOD))
    assert done.status_code == 200, done.text
    assert (done.json()["status"], done.json()["applied"]) == ("APPLIED", 2)
    [listed] = gql("{ settlementImports { recordedBy } }")["data"]["settlementImports"]
    assert listed == {"recordedBy": "key:fk_files"}
    tampered = body.replace(b"30.0", b"99.0")
    path = "/v1/carrier-settlements/files"
    assert gql.http.post(path, content=tampered, headers=headers).status_code == 401


def test_a_carriers_key_settles_only_that_carriers_cards(gql: GraphQLClient, fenrun) -> None:
    """Security review: a settlements key speaks for one carrier; a file it sends with rows on a
    card another carrier reports on is refused row by row, and nothing is applied."""
    setup(gql, [LONG])
    now = fenrun.clock.now()
    state = CardStateReport("s-1", "CUCC", "89860001", "ACTIVATED", now)
    fenrun.carrier_reports.record("key:cucc", [state], [])
    done, _ = signed_upload(gql, fenrun, "fk_cmcc", "CMCC", as_csv(GOOD))
    assert done.status_code == 422, done.text
    assert done.json()["status"] == "REFUSED"
    assert problems(done.json()) == [(2, "ICCID", "INVALID_STATE"), (3, "ICCID", "INVALID_STATE")]
    assert totals(gql)["income"] == "0.00"
    done, _ = signed_upload(gql, fenrun, "fk_cucc", "CUCC", as_csv(GOOD))
    assert (done.status_code, done.json()["applied"]) == (200, 2), done.text


def test_an_upload_stands_when_catching_up_after_it_fails(
    gql: GraphQLClient, fenrun, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rule 1: the import is committed before the views catch up; a lost connection while they
    do (a chaos run's kill) is logged and retried later, never answered as the upload's error."""
    setup(gql, [LONG])

    def lost(*_: object) -> int:
        raise psycopg.OperationalError("server closed the connection unexpectedly (test)")

    monkeypatch.setattr(fenrun.workflows.parts.projections, "run_until_idle", lost)
    status, body = upload(gql, "march.csv", as_csv(GOOD))
    assert (status, body["status"], body["applied"]) == (200, "APPLIED", 2)
    assert body["position"] is not None
    monkeypatch.undo()
    status, again = upload(gql, "march.csv", as_csv(GOOD))
    assert (status, again["status"]) == (200, "ALREADY_IMPORTED")
    assert totals(gql) == {"income": "50.50", "agentCredits": "20.20", "net": "30.30"}
