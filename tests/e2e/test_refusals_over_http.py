"""Input the REST routes used to answer with a 500 (security review): a file name the audit
cannot hold, a form field that is not UTF-8, a csv the reader cannot take, a full-width cycle,
a position the views have not reached. Each is a 422 (or 409) with a code, and the server goes on."""

import pytest

from projections.positions import PositionNotReady
from tests.e2e.conftest import GraphQLClient
from tests.e2e.test_settlement_import import HEADER, upload

BOUNDARY = "fenrunboundary"


def raw_form(disposition: str, content: bytes, extra: bytes = b"") -> tuple[bytes, dict]:
    body = (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; {disposition}\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        + content
        + b"\r\n"
        + extra
        + f"--{BOUNDARY}--\r\n".encode()
    )
    return body, {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}


def post(gql: GraphQLClient, path: str, body: bytes, headers: dict) -> tuple[int, dict]:
    response = gql.http.post(path, content=body, headers={**headers, **gql.auth()})
    return response.status_code, response.json()


CSV = (",".join(HEADER) + "\n").encode()
PATHS = ("/v1/carrier-settlements/files", "/v1/reconciliations")


@pytest.mark.parametrize("path", PATHS)
def test_a_file_name_the_audit_cannot_hold_is_a_422(gql: GraphQLClient, path: str) -> None:
    for disposition in ("filename*=utf-8''a%00.csv", "filename*=utf-8''a%0D.csv",
                        f'filename="{"a" * 2100}.csv"'):  # fmt: skip
        status, body = post(gql, path, *raw_form(disposition, CSV))
        assert status == 422, (disposition, body)
        assert body["userErrors"][0]["code"] in ("INVALID_TEXT", "TEXT_TOO_LONG", "INVALID_INPUT")
    assert gql("{ platformTotals { net } }")["data"]["platformTotals"]["net"] == "0.00"


def test_a_form_field_that_is_not_utf8_is_a_422(gql: GraphQLClient) -> None:
    extra = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="profile"\r\n\r\n'.encode()
        + b"\xff\xfe\r\n"
    )
    status, _ = post(gql, PATHS[0], *raw_form('filename="a.csv"', CSV, extra))
    assert status == 422


def test_a_csv_the_reader_cannot_take_is_a_422(gql: GraphQLClient) -> None:
    too_long = CSV + b'"' + b"x" * 140_000 + b'",1\n'
    status, body = upload(gql, "long.csv", too_long)
    assert (status, body["userErrors"][0]["code"]) == (422, "INVALID_INPUT")
    status, body = upload(gql, "bytes.csv", b"\xff\xff\xff\n")
    assert (status, body["userErrors"][0]["code"]) == (422, "INVALID_INPUT")


def test_a_full_width_cycle_is_a_422(gql: GraphQLClient) -> None:
    response = gql.http.get(
        "/v1/exports/statements.xlsx",
        params={"cycle": "\uff12\uff10\uff12\uff16-11"},
        headers=gql.auth(),
    )
    assert response.status_code == 422


def test_a_position_not_yet_projected_is_a_409(gql: GraphQLClient, monkeypatch) -> None:
    # The views behind the log is a race in a live server; the read model is made to say so.
    def behind(*_: object, **__: object) -> None:
        raise PositionNotReady("statements at 0, the read needs 7")

    monkeypatch.setattr(gql.fenrun.read, "pin", behind)
    exported = gql.http.get("/v1/exports/commissions.xlsx", headers=gql.auth())
    assert exported.status_code == 409
    status, _ = post(gql, PATHS[1], *raw_form('filename="a.csv"', CSV))
    assert status == 409


def test_a_reconciliation_kind_the_audit_cannot_hold_is_a_422(gql: GraphQLClient) -> None:
    extra = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="kind"\r\n\r\n'.encode()
    for kind in (b"X\x00", b"K" * 2100):
        status, body = post(
            gql, PATHS[1], *raw_form('filename="a.csv"', CSV, extra + kind + b"\r\n")
        )
        assert status == 422, body
