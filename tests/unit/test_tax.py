"""劳务报酬 withholding (domain/tax.py): the issue's vectors, the brackets' edges, the rounding,
and the cumulative method's own figures."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.tax import TaxMethod, cumulative_tax, labour_tax, labour_taxable, withholding

Y = 100  # fen per yuan


@pytest.mark.parametrize(
    ("income", "tax"),
    [
        (3_000 * Y, 440 * Y),  # (3,000 - 800) x 20%
        (10_000 * Y, 1_600 * Y),  # 10,000 x 80% x 20%
        (30_000 * Y, 5_200 * Y),  # 24,000 x 30% - 2,000
        (4_000 * Y, 640 * Y),  # the last income with 800.00 deducted
        (800 * Y, 0),
        (500 * Y, 0),
        (25_000 * Y, 4_000 * Y),  # taxable exactly 20,000: still 20%
        (62_500 * Y, 13_000 * Y),  # taxable exactly 50,000: 30% - 2,000
        (100_000 * Y, 25_000 * Y),  # 80,000 x 40% - 7,000
    ],
)
def test_the_issue_vectors_and_bracket_edges(income: int, tax: int) -> None:
    assert labour_tax(income) == tax


def test_two_payouts_in_a_month_withhold_the_month_tax() -> None:
    first = withholding(TaxMethod.PER_MONTH, 0, 0, 2_000 * Y)
    second = withholding(TaxMethod.PER_MONTH, 2_000 * Y, first, 2_000 * Y)
    assert (first, second, first + second) == (240 * Y, 400 * Y, 640 * Y)


def test_rounding_is_half_up_to_the_fen() -> None:
    assert labour_taxable(400_001) == 320_001  # 320,000.8 -> 320,001
    assert labour_taxable(400_003) == 320_002  # 320,002.4 -> 320,002
    assert labour_tax(80_001) == 0  # 0.01 taxable x 20% = 0.002 -> 0
    assert labour_tax(80_003) == 1  # 0.03 x 20% = 0.006 -> 0.01
    assert labour_tax(80_005) == 1  # 0.05 x 20% = 0.01


def test_an_over_withholding_is_never_refunded() -> None:
    assert withholding(TaxMethod.PER_MONTH, 0, 400 * Y, 2_000 * Y) == 0


@given(st.lists(st.integers(1, 10**9), min_size=1, max_size=6))
def test_payouts_of_a_month_withhold_exactly_the_tax_on_their_sum(amounts: list[int]) -> None:
    income = withheld = 0
    for amount in amounts:
        withheld += withholding(TaxMethod.PER_MONTH, income, withheld, amount)
        income += amount
    assert withheld == labour_tax(income)


@given(st.integers(0, 10**11))
def test_tax_grows_with_income_and_stays_below_it(income: int) -> None:
    assert 0 <= labour_tax(income) <= labour_tax(income + 1) <= (income + 1) * 32 // 100 + 1


def test_cumulative_method() -> None:
    # 10,000.00 in the first month: 8,000 - 5,000 = 3,000 taxable x 3% = 90.00
    assert cumulative_tax(10_000 * Y, 1) == 90 * Y
    # Two months, 20,000.00: 16,000 - 10,000 = 6,000 x 3% = 180.00; the second withholds 90.00
    assert withholding(TaxMethod.CUMULATIVE, 10_000 * Y, 90 * Y, 10_000 * Y, months=2) == 90 * Y
    # Below the deductions: nothing.
    assert cumulative_tax(5_000 * Y, 1) == 0
    # 100,000.00 in one month: 80,000 - 5,000 = 75,000 x 10% - 2,520 = 4,980.00
    assert cumulative_tax(100_000 * Y, 1) == 4_980 * Y
