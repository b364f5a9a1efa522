"""Refuses a spreadsheet before calamine opens it when opening it could take the process down.

calamine sizes its cell grid from the furthest-apart filled cells and aborts the process (not an
exception) when that grid cannot be allocated: two cells at A1 and XFD1048576 in a 5 KB xlsx are
enough. So xlsx/xlsm/ods (zip) are measured here first, with the standard library only: the
unpacked size, and the extent of the cells every sheet fills (the cells' own positions, never the
sheet's declared dimension, which a file may state falsely). xls/xlsb cannot be measured cheaply;
they are held to a byte cap and parsed in a child process with an address-space limit and a time
limit, so a bad file kills the child, not the server (decision 0028).
"""

import io
import re
import zipfile
from xml.parsers import expat

from domain.errors import FileTooLarge, SheetTooLarge

MAX_FILE_BYTES = 64 * 1024 * 1024  # the file as uploaded
MAX_UNPACKED_BYTES = 512 * 1024 * 1024  # all parts of a zip-based workbook, unpacked
MAX_ROWS = 1_000_000  # the command line imports a carrier's whole month
MAX_COLUMNS = 64
MAX_CELLS = 16_000_000  # rows x columns of the grid calamine will allocate
ZIP_FORMATS = (".xlsx", ".xlsm", ".ods")
_REF = re.compile(r"^\$?([A-Za-z]{1,3})\$?(\d{1,7})$")


def check_size(content: bytes) -> None:
    if len(content) > MAX_FILE_BYTES:
        raise FileTooLarge(
            "file", f"the file is {len(content)} bytes; at most {MAX_FILE_BYTES} are read"
        )


def check_zip_workbook(content: bytes) -> None:
    """Refuses a zip-based workbook too big unpacked or whose sheets span too many cells."""
    check_size(content)
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except zipfile.BadZipFile:
        return  # not a zip: calamine refuses it as unreadable, with nothing to allocate
    with archive:
        infos = archive.infolist()
        unpacked = sum(i.file_size for i in infos)
        if unpacked > MAX_UNPACKED_BYTES:
            raise FileTooLarge(
                "file", f"the workbook unpacks to {unpacked} bytes; at most {MAX_UNPACKED_BYTES}"
            )
        for info in infos:
            if info.filename.lower().endswith(".xml"):
                with archive.open(info) as part:
                    # ods keeps its cells in content.xml, read by the full parser (repeats);
                    # any other part can only be an xlsx worksheet: the quick scan suffices.
                    measure = _extent if info.filename.endswith("content.xml") else _cell_extent
                    _check_extent(measure(part), info.filename)


def _check_extent(extent: tuple[int, int], part: str) -> None:
    rows, columns = extent
    if rows > MAX_ROWS or columns > MAX_COLUMNS or rows * columns > MAX_CELLS:
        raise SheetTooLarge(
            "file",
            f"the sheet in {part[:80]} fills cells across {rows} rows and {columns} columns; "
            f"a settlement file has at most {MAX_ROWS} rows, {MAX_COLUMNS} columns and "
            f"{MAX_CELLS} cells between its first and last",
        )


def _column_number(letters: str) -> int:
    number = 0
    for letter in letters.upper():
        number = number * 26 + ord(letter) - 64
    return number


def _extent(part: io.BufferedIOBase) -> tuple[int, int]:
    """(last row, last column) of the cells an xlsx worksheet or an ods content part fills.
    Positions are those a reader would give: a cell's own reference, else the one after the
    previous; ods repeats (number-rows/columns-repeated) count in full when the cell has content."""
    state = {"in_data": 0, "row": 0, "col": 0, "rows": 0, "cols": 0, "row_repeat": 1}

    def start(name: str, attrs: dict[str, str]) -> None:
        local = name.rsplit(":", 1)[-1]
        if local == "sheetData":
            state["in_data"] += 1
            state["row"] = 0
        elif local == "row" and state["in_data"]:
            r = attrs.get("r")
            state["row"] = int(r) if r and r.isdigit() else state["row"] + 1
            state["col"] = 0
            if state["row"] > MAX_ROWS:  # a row with no cells still moves a reader's grid
                state["rows"] = max(state["rows"], state["row"])
        elif local == "c" and state["in_data"]:
            ref = _REF.match(attrs.get("r", ""))
            if ref:
                state["col"] = _column_number(ref.group(1))
                state["row"] = max(state["row"], int(ref.group(2)))
            else:
                state["col"] += 1
            state["rows"] = max(state["rows"], state["row"])
            state["cols"] = max(state["cols"], state["col"])
        elif name == "table:table":
            state["row"] = 0
        elif name == "table:table-row":
            state["row_repeat"] = _repeat(attrs.get("table:number-rows-repeated"))
            state["col"] = 0
            state["row"] += 1
        elif name in ("table:table-cell", "table:covered-table-cell"):
            repeat = _repeat(attrs.get("table:number-columns-repeated"))
            first = state["col"] + 1
            state["col"] += repeat
            if "office:value-type" in attrs or "table:formula" in attrs:
                state["cols"] = max(state["cols"], state["col"], first)
                state["rows"] = max(state["rows"], state["row"] + state["row_repeat"] - 1)
        elif name == "text:p" and state["col"]:  # text without a value type is content too
            state["cols"] = max(state["cols"], state["col"])
            state["rows"] = max(state["rows"], state["row"] + state["row_repeat"] - 1)

    def end(name: str) -> None:
        if name.rsplit(":", 1)[-1] == "sheetData":
            state["in_data"] -= 1
        elif name == "table:table-row":
            state["row"] += state["row_repeat"] - 1
            state["row_repeat"] = 1

    parser = expat.ParserCreate()
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        while chunk := part.read(1 << 20):
            parser.Parse(chunk, False)
            if state["rows"] > MAX_ROWS or state["cols"] > MAX_COLUMNS:
                break  # already too large: no need to read the rest
        else:
            parser.Parse(b"", True)
    except expat.ExpatError:
        pass  # a broken part: calamine refuses it; what was read so far is measured
    return state["rows"], state["cols"]


_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(c|row|sheetData|/sheetData)(?=[\s>/])([^>]*)")
_ATTR_R = re.compile(rb"""(?:^|\s)r\s*=\s*["']([^"']*)["']""")


def _cell_extent(part: io.BufferedIOBase) -> tuple[int, int]:
    """(last row, last column) of an xlsx worksheet's cells, by scanning its tags: the same
    positions as _extent gives (a cell's reference, else the one after the previous), about
    four times faster. Text never holds a raw '<', so a tag found is a tag (a comment or CDATA
    holding one can only make the measure larger, never smaller)."""
    in_data = row = col = rows = cols = 0
    tail = b""
    while chunk := part.read(1 << 20):
        buffer = tail + chunk
        cut = buffer.rfind(b"<")
        if (
            cut > 0 and buffer.find(b">", cut) < 0
        ):  # a tag split by the chunk: read it whole next time
            buffer, tail = buffer[:cut], buffer[cut:]
        else:
            tail = b""
        for match in _TAG.finditer(buffer):
            tag, attrs = match.group(1), match.group(2)
            if tag == b"sheetData":
                in_data, row = in_data + (not attrs.rstrip().endswith(b"/")), 0
            elif tag == b"/sheetData":
                in_data = max(0, in_data - 1)
            elif not in_data:
                continue
            elif tag == b"row":
                r = _ATTR_R.search(attrs)
                row = int(r.group(1)) if r and r.group(1).isdigit() else row + 1
                col = 0
                if row > MAX_ROWS:
                    rows = max(rows, row)
            else:
                ref = _ATTR_R.search(attrs)
                found = _REF.match(ref.group(1).decode("ascii", "replace")) if ref else None
                if found:
                    col = _column_number(found.group(1))
                    row = max(row, int(found.group(2)))
                else:
                    col += 1
                rows, cols = max(rows, row), max(cols, col)
        if rows > MAX_ROWS or cols > MAX_COLUMNS:
            break
    return rows, cols


def _repeat(text: str | None) -> int:
    return int(text) if text and text.isdigit() else 1


# -- xls / xlsb: measured by parsing them where a failure costs only a child process -------------
CHILD_MEMORY_BYTES = 2 * 1024 * 1024 * 1024
CHILD_SECONDS = 120
_CHILD = """
import pickle, resource, sys
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from python_calamine import CalamineWorkbook
import io
content = sys.stdin.buffer.read()
try:
    sheet = CalamineWorkbook.from_filelike(io.BytesIO(content)).get_sheet_by_index(0)
    rows = ("rows", [list(r) for r in sheet.iter_rows()])
except Exception as exc:
    rows = ("error", str(exc)[:500])
sys.stdout.buffer.write(pickle.dumps(rows))
"""


def rows_in_child(content: bytes) -> list[list[object]]:
    """The first sheet's rows, read by calamine in a child process held to CHILD_MEMORY_BYTES of
    address space and CHILD_SECONDS: a file that would abort or exhaust it is refused."""
    import pickle
    import subprocess
    import sys

    check_size(content)
    try:
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, str(CHILD_MEMORY_BYTES)],
            input=content,
            capture_output=True,
            timeout=CHILD_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise FileTooLarge("file", f"the file could not be read in {CHILD_SECONDS} s") from None
    if done.returncode != 0:
        raise SheetTooLarge("file", "the spreadsheet is too large to read (its reader gave up)")
    kind, value = pickle.loads(done.stdout)  # noqa: S301 - our own child's answer
    if kind == "error":
        from domain.errors import InvalidInput

        raise InvalidInput("file", f"the file cannot be read as a spreadsheet: {value}")
    rows: list[list[object]] = value
    _check_extent((len(rows), max((len(r) for r in rows), default=0)), "the workbook")
    return rows
