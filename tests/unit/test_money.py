"""domain.money: the one place that turns text into fen and rates, and rounds."""

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import AmountTooLarge, InvalidMoney, InvalidRate
from domain.money import (
    MAX_AMOUNT_FEN,
    allocate,
    apply_rate,
    format_money,
    parse_money,
    parse_rate,
    rate_to_str,
    require_fen,
    scale_half_up,
)

# ---- parse_money -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        ("60", 6000),
        ("60.5", 6050),
        ("60.50", 6050),
        ("60.05", 6005),
        ("0", 0),
        ("0.01", 1),
        ("0.5", 50),
        ("007", 700),
        (" 60.00 ", 6000),
        ("9999999999.99", 999_999_999_999),  # the largest amount: ten whole digits of yuan
        ("00009999999999.99", 999_999_999_999),
    ],
)
def test_parse_money_accepts_yuan_strings(text, fen):
    assert parse_money(text) == fen


@pytest.mark.parametrize(
    "text", ["10000000000", "10000000000.00", "999999999999999.99", "1" * 16, "-" + "9" * 30]
)
def test_parse_money_refuses_amounts_beyond_the_largest(text):
    """Issue 9, finding 2: 93 top-ups of 999999999999999.99 overflowed a bigint column; one amount
    is now at most 9,999,999,999.99 yuan (MAX_AMOUNT_FEN), so nine million of them still fit."""
    with pytest.raises(AmountTooLarge) as info:
        parse_money(text, field="amount", allow_negative=True)
    assert (info.value.code, info.value.field) == ("AMOUNT_TOO_LARGE", "amount")
    assert MAX_AMOUNT_FEN == 999_999_999_999
    assert 9_000_000 * MAX_AMOUNT_FEN < 2**63


def test_integer_fen_beyond_the_largest_amount_is_refused():
    assert require_fen(MAX_AMOUNT_FEN) == MAX_AMOUNT_FEN
    with pytest.raises(AmountTooLarge):
        require_fen(MAX_AMOUNT_FEN + 1)


@pytest.mark.parametrize("value", [60.0, 60.5, 60, 0, True, None, Decimal("60"), b"60"])
def test_parse_money_refuses_non_strings(value):
    with pytest.raises(InvalidMoney) as info:
        parse_money(value)
    assert info.value.field == "amount"
    assert info.value.code == "INVALID_MONEY"
    assert type(value).__name__ in info.value.message


@pytest.mark.parametrize(
    "text",
    [
        "1e3",
        "1E3",
        "60.505",
        "60.001",
        "-1",
        "-0.01",
        "",
        " ",
        "abc",
        "60.",
        ".5",
        "+60",
        "1,000",
        "1_000",
        "60 00",
        "NaN",
        "Infinity",
        "0x10",
        "1" * 16,  # 16 whole digits: beyond any sane amount
        "9" * 100,
    ],
)
def test_parse_money_refuses_malformed_text(text):
    with pytest.raises(InvalidMoney) as info:
        parse_money(text, field="price")
    assert info.value.field == "price"


def test_parse_money_negative_only_when_allowed():
    with pytest.raises(InvalidMoney, match="negative"):
        parse_money("-1")
    assert parse_money("-1", allow_negative=True) == -100
    assert parse_money("-60.5", allow_negative=True) == -6050
    assert parse_money("-0", allow_negative=False) == 0
    # allow_negative does not loosen anything else
    with pytest.raises(InvalidMoney):
        parse_money("-60.505", allow_negative=True)
    with pytest.raises(InvalidMoney):
        parse_money("--1", allow_negative=True)


@pytest.mark.parametrize(
    "text", ["\u0666\u0660", "\uff16\uff10", "60.\uff15"]
)  # Arabic-Indic, full-width
def test_parse_money_refuses_non_ascii_digits(text):
    with pytest.raises(InvalidMoney):
        parse_money(text)


# ---- format_money ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fen", "text"),
    [
        (6000, "60.00"),
        (6050, "60.50"),
        (6005, "60.05"),
        (1, "0.01"),
        (0, "0.00"),
        (-300, "-3.00"),
        (-1, "-0.01"),
        (-99, "-0.99"),
        (123456789, "1234567.89"),
    ],
)
def test_format_money(fen, text):
    assert format_money(fen) == text


@given(st.integers(min_value=-MAX_AMOUNT_FEN, max_value=MAX_AMOUNT_FEN))
def test_format_then_parse_round_trips(fen):
    assert parse_money(format_money(fen), allow_negative=True) == fen


# ---- require_fen -------------------------------------------------------------------------------


def test_require_fen():
    assert require_fen(0) == 0
    assert require_fen(5) == 5
    for bad in (1.0, True, "5", None, Decimal(5)):
        with pytest.raises(InvalidMoney, match="integer fen"):
            require_fen(bad)
    with pytest.raises(InvalidMoney) as negative:
        require_fen(-1)
    assert negative.value.message == "-0.01 is not a positive amount"
    with pytest.raises(InvalidMoney) as zero:
        require_fen(0, allow_zero=False, field="price")
    assert (zero.value.field, zero.value.message) == ("price", "0.00 is not a positive amount")


# ---- rates -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("0.05", Decimal("0.05")),
        ("5%", Decimal("0.05")),
        ("0.5%", Decimal("0.005")),
        ("100%", Decimal(1)),
        ("1", Decimal(1)),
        ("0", Decimal(0)),
        ("0%", Decimal(0)),
        ("12.5%", Decimal("0.125")),
    ],
)
def test_parse_rate(text, rate):
    assert parse_rate(text) == rate


@pytest.mark.parametrize(
    "text", ["1.5", "150%", "100.01%", "-5%", "-0.05", "5e-2", "", "abc", "5 %", "%"]
)
def test_parse_rate_refuses(text):
    with pytest.raises(InvalidRate):
        parse_rate(text)


@pytest.mark.parametrize("value", [0.05, 5, None, Decimal("0.05")])
def test_parse_rate_refuses_non_strings(value):
    with pytest.raises(InvalidRate):
        parse_rate(value)


def test_rate_to_str_is_plain_decimal():
    assert rate_to_str(Decimal("0.050")) == "0.05"
    assert rate_to_str(parse_rate("5%")) == "0.05"
    assert rate_to_str(Decimal("1E+1")) == "10"
    assert rate_to_str(Decimal("0.00001")) == "0.00001"


# ---- apply_rate: one commission line, half-up to the fen --------------------------------------


@pytest.mark.parametrize(
    ("base", "rate", "fen"),
    [
        (6000, "5%", 300),  # SPEC §5 ex. 3: 5% of 60.00 = 3.00
        (10000, "10%", 1000),  # SPEC §5 ex. 1
        (5000, "5%", 250),  # SPEC §5 ex. 1: 5% of 50.00 = 2.50
        (1, "0.5%", 0),  # 0.005 fen -> 0
        (100, "0.5%", 1),  # exactly 0.5 fen -> 1 (half-up)
        (99, "0.5%", 0),  # 0.495 fen -> 0
        (300, "0.5%", 2),  # 1.5 fen -> 2 (half-up, not banker's 2 either way)
        (500, "0.5%", 3),  # 2.5 fen -> 3 (banker's rounding would give 2)
        (10, "5%", 1),  # 0.5 -> 1
        (9, "5%", 0),  # 0.45 -> 0
        (1_000_000, "0.5%", 5000),  # SPEC §5 ex. 5 base
        (0, "50%", 0),
        (12345, "100%", 12345),
        (12345, "0", 0),
    ],
)
def test_apply_rate_half_up(base, rate, fen):
    assert apply_rate(base, parse_rate(rate)) == fen


@given(
    st.integers(min_value=0, max_value=10**13),
    st.decimals(min_value=0, max_value=1, places=6, allow_nan=False, allow_infinity=False),
)
def test_apply_rate_matches_exact_half_up(base, rate):
    exact = Fraction(base) * Fraction(rate)
    expected = int(exact + Fraction(1, 2))  # floor(x + 1/2): half-up for x >= 0
    assert apply_rate(base, rate) == expected


# ---- scale_half_up -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "num", "den", "fen"),
    [
        (300, 1, 2, 150),
        (301, 1, 2, 151),  # 150.5 -> 151
        (1, 1, 3, 0),  # 0.33 -> 0
        (2, 1, 3, 1),  # 0.67 -> 1
        (1, 1, 2, 1),  # 0.5 -> 1
        (3000, 4500, 9000, 1500),  # half of a 30.00 line for a half refund
        (3000, 9000, 9000, 3000),
        (3000, 0, 9000, 0),
        (100, 2, 3, 67),
        (100, 1, 3, 33),
    ],
)
def test_scale_half_up(amount, num, den, fen):
    assert scale_half_up(amount, num, den) == fen


def test_scale_half_up_refuses_non_positive_denominator():
    with pytest.raises(ValueError, match="denominator must be positive"):
        scale_half_up(100, 1, 0)
    with pytest.raises(ValueError, match="denominator must be positive"):
        scale_half_up(100, 1, -3)


@given(
    st.integers(min_value=0, max_value=10**12),
    st.integers(min_value=0, max_value=10**9),
    st.integers(min_value=1, max_value=10**9),
)
def test_scale_half_up_matches_exact_half_up(amount, num, den):
    exact = Fraction(amount * num, den)
    expected = (exact.numerator * 2 + exact.denominator) // (2 * exact.denominator)  # floor(x+1/2)
    assert scale_half_up(amount, num, den) == expected


@given(
    st.integers(min_value=1, max_value=10**9),
    st.lists(st.integers(min_value=1, max_value=10**7), min_size=1, max_size=8),
)
def test_cumulative_scaling_takes_back_exactly_the_whole(original, refunds):
    """Partial refunds as differences of cumulative shares sum to the full line (policy's way)."""
    paid = sum(refunds)
    taken, before = 0, 0
    for r in refunds:
        after = before + r
        taken += scale_half_up(original, after, paid) - scale_half_up(original, before, paid)
        before = after
    assert taken == original


# ---- allocate: largest remainder ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "weights", "parts"),
    [
        (100, [1, 1, 1], [34, 33, 33]),
        (100, [1, 1], [50, 50]),
        (101, [1, 1], [51, 50]),  # tie on remainder: lowest index first
        (10, [3, 7], [3, 7]),
        (10, [1, 2, 3], [2, 3, 5]),  # 1.67/3.33/5 -> 1,3,5 + 1 to largest remainder (.67)
        (7, [5, 0, 5], [4, 0, 3]),
        (0, [1, 2], [0, 0]),
        (5, [0, 0], [0, 0]),  # nothing to weigh by
        (5, [], []),
        (1, [1, 1, 1], [1, 0, 0]),
        (2, [1, 2, 2], [0, 1, 1]),  # 0.4/0.8/0.8: remainders .4 < .8 = .8
    ],
)
def test_allocate(total, weights, parts):
    assert allocate(total, weights) == parts


@given(
    st.integers(min_value=0, max_value=10**12),
    st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=20),
)
def test_allocate_parts_add_up_and_stay_within_one_fen(total, weights):
    parts = allocate(total, weights)
    assert len(parts) == len(weights)
    weight_sum = sum(weights)
    if weight_sum == 0:
        assert parts == [0] * len(weights)
        return
    assert sum(parts) == total
    for part, w in zip(parts, weights, strict=True):
        exact = Fraction(total * w, weight_sum)
        assert exact - 1 < part < exact + 1
        if w == 0:
            assert part == 0


@given(
    st.integers(min_value=0, max_value=10**9),
    st.lists(st.integers(min_value=1, max_value=1000), min_size=2, max_size=10),
)
def test_allocate_largest_remainder_gets_the_extra_fen(total, weights):
    parts = allocate(total, weights)
    weight_sum = sum(weights)
    remainders = [(total * w) % weight_sum for w in weights]
    bumped = [
        i for i, (p, w) in enumerate(zip(parts, weights, strict=True)) if p * weight_sum > total * w
    ]
    not_bumped = [i for i in range(len(weights)) if i not in bumped]
    # Every index that got an extra fen has a remainder at least as large as any that did not.
    if bumped and not_bumped:
        assert min(remainders[i] for i in bumped) >= max(remainders[i] for i in not_bumped)
    assert len(bumped) == total - sum((total * w) // weight_sum for w in weights)
