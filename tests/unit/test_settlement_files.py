"""Carrier file rows by column profile (issue 13): each cell checked with the ledger's values."""

from datetime import date, datetime

import pytest

from application.settlement_files import Columns, load_profiles, parse_row, read_rows

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
PROFILE = load_profiles()["default"]
COLUMNS, _ = Columns.of(HEADER, PROFILE)


def row(*cells: object) -> tuple:
    return parse_row(2, list(cells), COLUMNS, PROFILE)


@pytest.mark.parametrize(
    ("period", "total", "expected"),
    [
        ("202603", 30.1, ("2026-03", 3010)),
        ("2026/03", "30.10", ("2026-03", 3010)),
        (date(2026, 3, 1), 30, ("2026-03", 3000)),
        (datetime(2026, 3, 15, 0, 0), 0.07, ("2026-03", 7)),
        ("2026-03-01", "1", ("2026-03", 100)),
    ],
)
def test_periods_and_amounts_as_carriers_write_them(period, total, expected) -> None:
    parsed, problems = row(89860001.0, period, total, "停机", "是", "否", "否", 12.0)
    assert problems == []
    assert parsed == ("89860001/" + expected[0], "89860001", expected[0], expected[1],
                      "SUSPENDED", False, True, True, 12)  # fmt: skip


def test_every_bad_cell_is_reported_with_its_column() -> None:
    parsed, problems = row("", "2026-13", 30.123, "坏", "maybe", "否", "否", "-1")
    assert parsed is None
    assert [(p.column, p.code) for p in problems] == [
        ("ICCID", "INVALID_INPUT"),
        ("结算月份", "INVALID_INPUT"),
        ("佣金金额", "INVALID_MONEY"),
        ("网络状态", "INVALID_INPUT"),
        ("是否欠费", "INVALID_INPUT"),
        ("在网月数", "INVALID_INPUT"),
    ]
    _, problems = row("8986\x00", "202603", 1, "正常", "否", "否", "否", "")
    assert [(p.column, p.code) for p in problems] == [("ICCID", "INVALID_TEXT")]


def test_a_missing_column_and_a_company_profile(tmp_path) -> None:
    _, problems = Columns.of(HEADER[:2], PROFILE)
    assert {p.code for p in problems} == {"MISSING_COLUMN"}
    assert all(p.row == 1 for p in problems)
    own = tmp_path / "profiles.toml"
    own.write_text(
        '[profiles.default]\niccid = ["卡"]\nperiod = ["月"]\ntotal = ["钱"]\n'
        'network_status = ["状态"]\nin_arrears = ["欠"]\nsuspended = ["停"]\n'
        'complained = ["诉"]\n[profiles.default.statuses]\n"好" = "NORMAL"\n',
        encoding="utf-8",
    )
    profiles = load_profiles(own)
    assert "english" in profiles
    assert profiles["default"].headers["iccid"] == ("卡",)
    columns, problems = Columns.of(
        ["卡", "月", "钱", "状态", "欠", "停", "诉"], profiles["default"]
    )
    assert problems == []
    parsed, _ = parse_row(
        2, ["1", "202601", "2", "好", "否", "否", "是"], columns, profiles["default"]
    )
    assert parsed == ("1/2026-01", "1", "2026-01", 200, "NORMAL", True, True, False, None)


def test_csv_in_gb18030_and_an_unknown_format() -> None:
    rows = list(read_rows("ICCID,结算月份\n1,202603\n".encode("gb18030"), "a.csv"))
    assert rows == [["ICCID", "结算月份"], ["1", "202603"]]
    with pytest.raises(Exception, match="one of"):
        list(read_rows(b"x", "a.pdf"))
