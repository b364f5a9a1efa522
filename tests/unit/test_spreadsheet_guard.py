"""The spreadsheet guard (decision 0028): files whose cells span a grid the reader could not
allocate are refused before it sees them; xls/xlsb are read in a limited child process."""

import io
import zipfile

import pytest

from application import spreadsheet_guard
from application.settlement_files import read_rows
from domain.errors import FileTooLarge, InvalidInput, SheetTooLarge
from tests.e2e.test_hostile_files import hand_made_xlsx

ODS_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0">'
    '<office:body><office:spreadsheet><table:table table:name="S">'
)
ODS_TAIL = "</table:table></office:spreadsheet></office:body></office:document-content>"


def ods(rows: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        z.writestr("content.xml", ODS_HEAD + rows + ODS_TAIL)
    return out.getvalue()


CELL = '<table:table-cell office:value-type="string"><text:p>x</text:p></table:table-cell>'


def test_an_ods_whose_repeats_fill_a_huge_grid_is_refused() -> None:
    rows = f'<table:table-row table:number-rows-repeated="2000000">{CELL}</table:table-row>'
    with pytest.raises(SheetTooLarge):
        list(read_rows(ods(rows), "bomb.ods"))
    wide = '<table:table-row><table:table-cell table:number-columns-repeated="10000" office:value-type="string"/></table:table-row>'
    with pytest.raises(SheetTooLarge):
        list(read_rows(ods(wide), "wide.ods"))


def test_empty_repeats_as_office_writes_them_are_not_counted() -> None:
    rows = (
        f'<table:table-row>{CELL}<table:table-cell table:number-columns-repeated="1020"/>'
        "</table:table-row>"
        '<table:table-row table:number-rows-repeated="1048575"><table:table-cell '
        'table:number-columns-repeated="1024"/></table:table-row>'
    )
    spreadsheet_guard.check_zip_workbook(ods(rows))


def test_a_false_dimension_does_not_hide_a_far_cell() -> None:
    bomb = hand_made_xlsx([("A1", "a"), ("C3000000", "b")], dimension="A1:C3")
    with pytest.raises(SheetTooLarge):
        spreadsheet_guard.check_zip_workbook(bomb)
    spreadsheet_guard.check_zip_workbook(hand_made_xlsx([("A1", "a"), ("P999999", "b")]))


def test_an_upload_over_the_byte_cap_is_refused(monkeypatch) -> None:
    monkeypatch.setattr(spreadsheet_guard, "MAX_FILE_BYTES", 100)
    with pytest.raises(FileTooLarge):
        list(read_rows(hand_made_xlsx([("A1", "x" * 200)]), "big.xlsx"))


def test_xls_is_read_in_a_child_that_may_die_without_the_server(monkeypatch) -> None:
    book = hand_made_xlsx([("A1", "ICCID"), ("B1", "x")])
    assert list(read_rows(book, "book.xls")) == [["ICCID", "x"]]  # calamine reads by content
    with pytest.raises(InvalidInput):
        list(read_rows(b"not a workbook", "broken.xls"))
    monkeypatch.setattr(spreadsheet_guard, "CHILD_MEMORY_BYTES", 16 * 1024 * 1024)
    with pytest.raises(SheetTooLarge):  # the child ran out of room: refused, the caller lives
        list(read_rows(book, "book.xlsb"))


@pytest.mark.parametrize(
    "sheet_data",
    [
        '<row r="1"><c r="A1"/><c r="C1"/></row><row><c/><c/><c/><c/></row>',
        "<x:row><x:c/><x:c/></x:row><x:row r='9'><x:c r='B9'/></x:row>",
        '<row r="2"><c r="B5"/></row><row><c r="XFD3"/></row>',
        "<row>" + "<c/>" * 70 + "</row>",
    ],
)
def test_the_quick_scan_measures_as_the_parser(sheet_data: str) -> None:
    xml = (
        '<worksheet xmlns:x="urn:x"><dimension ref="A1"/>'
        f"<sheetData>{sheet_data}</sheetData><sheetData/></worksheet>"
    ).encode()
    quick = spreadsheet_guard._cell_extent(io.BytesIO(xml))
    assert quick == spreadsheet_guard._extent(io.BytesIO(xml))
    assert quick[0] >= 1


def test_a_csv_over_the_row_cap_is_refused(monkeypatch) -> None:
    from application import settlement_files

    monkeypatch.setattr(settlement_files, "MAX_ROWS", 3)
    assert len(list(read_rows(b"h\n1\n2\n3\n", "ok.csv"))) == 4
    with pytest.raises(SheetTooLarge):
        list(read_rows(b"h\n1\n2\n3\n4\n", "big.csv"))
