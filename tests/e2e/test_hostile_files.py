"""Files built to hurt the server (security review): refused with a code, answered 422, and the
server still answers afterwards (decision 0028)."""

import io
import zipfile

from tests.e2e.conftest import GraphQLClient
from tests.e2e.test_settlement_import import HEADER, upload

CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    "</Types>"
)
ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
    "</Relationships>"
)


def hand_made_xlsx(cells: list[tuple[str, str]], dimension: str = "A1") -> bytes:
    """A minimal xlsx written by hand, with inline-string cells at the given references."""
    rows = "".join(
        f'<row r="{ref.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")}"><c r="{ref}" t="inlineStr">'
        f"<is><t>{text}</t></is></c></row>"
        for ref, text in cells
    )
    sheet = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f'<dimension ref="{dimension}"/><sheetData>{rows}</sheetData></worksheet>'
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", CONTENT_TYPES)
        z.writestr("_rels/.rels", ROOT_RELS)
        z.writestr("xl/workbook.xml", WORKBOOK)
        z.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        z.writestr("xl/worksheets/sheet1.xml", sheet)
    return out.getvalue()


def still_answers(gql: GraphQLClient) -> None:
    assert gql("{ platformTotals { net } }")["data"]["platformTotals"]["net"] == "0.00"


def test_two_cells_far_apart_are_refused_before_the_reader_sees_them(gql: GraphQLClient) -> None:
    # A1 and XFD1048576: the grid between them made the reader abort the whole process.
    bomb = hand_made_xlsx([("A1", "ICCID"), ("XFD1048576", "x")], dimension="A1:A1")
    assert len(bomb) < 5000
    status, body = upload(gql, "bomb.xlsx", bomb)
    assert status == 422
    assert body["userErrors"][0]["code"] == "SHEET_TOO_LARGE"
    still_answers(gql)
    # 200,000 rows x 1,000 columns asked for gigabytes; a far column alone is refused too.
    for cells in ([("A1", "ICCID"), ("ALL200000", "x")], [("A1", "ICCID"), ("BM1", "x")]):
        status, body = upload(gql, "wide.xlsx", hand_made_xlsx(cells))
        assert (status, body["userErrors"][0]["code"]) == (422, "SHEET_TOO_LARGE")
    still_answers(gql)


def test_a_zip_that_unpacks_to_too_much_is_refused(gql: GraphQLClient, monkeypatch) -> None:
    from application import spreadsheet_guard

    monkeypatch.setattr(spreadsheet_guard, "MAX_UNPACKED_BYTES", 10_000)
    padded = hand_made_xlsx([("A1", "x" * 20_000)])
    status, body = upload(gql, "zip.xlsx", padded)
    assert (status, body["userErrors"][0]["code"]) == (422, "FILE_TOO_LARGE")
    still_answers(gql)


def test_an_ordinary_hand_made_file_is_still_read(gql: GraphQLClient) -> None:
    cells = [(f"{chr(65 + i)}1", h) for i, h in enumerate(HEADER)]
    status, body = upload(gql, "ok.xlsx", hand_made_xlsx(cells))
    assert status == 200, body
    assert body["rows"] == 0


def test_the_same_file_through_reconciliation_rest_and_graphql(gql: GraphQLClient) -> None:
    import base64

    bomb = hand_made_xlsx([("A1", "outRequestId"), ("XFD1048576", "x")])
    response = gql.http.post(
        "/v1/reconciliations", files={"file": ("channel.xlsx", bomb)}, data={"dryRun": "true"},
        headers=gql.auth(),
    )  # fmt: skip
    assert response.status_code == 422
    assert response.json()["userErrors"][0]["code"] == "SHEET_TOO_LARGE"
    answer = gql.mutate(
        "runReconciliation",
        {"kind": "CHANNEL_STATEMENT", "fileName": "channel.xlsx",
         "fileBase64": base64.b64encode(bomb).decode()},
        "reconciliation { id }",
    )  # fmt: skip
    assert answer["userErrors"][0]["code"] == "SHEET_TOO_LARGE"
    still_answers(gql)
