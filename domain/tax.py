"""劳务报酬 withholding (individual payees; companies invoice instead, and have none withheld).

Pure functions over integer fen. Rounding: every product of an amount and a rate is rounded
half up to the fen (`scale_half_up`), once, where it is taken; nothing is rounded twice.

Two methods (decision 0025):
- PER_MONTH (国家税务总局公告2018年第61号 and the 劳务报酬 table of the IIT law): the payouts of
  one payee in one business month are one 次. Income X <= 4,000.00 → taxable X - 800.00;
  X > 4,000.00 → taxable 80% x X; 20% up to 20,000.00, 30% - 2,000.00 up to 50,000.00,
  40% - 7,000.00 above. Each payout withholds tax(month's cumulative) - tax already withheld.
- CUMULATIVE (公告2025年第16号, the 累计预扣法 for platform workers' 劳务报酬): per calendar
  year, taxable = 80% x cumulative income - 5,000.00 x months with income so far, taxed on the
  annual comprehensive-income table (3% … 45%); each payout withholds tax(cumulative) - tax
  already withheld that year.
Neither ever refunds: an over-withholding (after a failed payout) is trued up by the next payout
of the period, or left to the payee's annual reconciliation (汇算清缴).
"""

from enum import StrEnum

from domain.money import scale_half_up


class TaxMethod(StrEnum):
    PER_MONTH = "PER_MONTH"
    CUMULATIVE = "CUMULATIVE"


# (upper bound of taxable income in fen or None, rate in percent, quick deduction in fen)
LABOUR_BRACKETS: tuple[tuple[int | None, int, int], ...] = (
    (2_000_000, 20, 0),
    (5_000_000, 30, 200_000),
    (None, 40, 700_000),
)
ANNUAL_BRACKETS: tuple[tuple[int | None, int, int], ...] = (
    (3_600_000, 3, 0),
    (14_400_000, 10, 252_000),
    (30_000_000, 20, 1_692_000),
    (42_000_000, 25, 3_192_000),
    (66_000_000, 30, 5_292_000),
    (96_000_000, 35, 8_592_000),
    (None, 45, 18_192_000),
)
DEDUCTION_UP_TO_FEN = 400_000  # 4,000.00: below it 800.00 is deducted, above it 20%
FIXED_DEDUCTION_FEN = 80_000  # 800.00
MONTHLY_DEDUCTION_FEN = 500_000  # 5,000.00 per month of income (cumulative method)


def _bracket_tax(taxable_fen: int, brackets: tuple[tuple[int | None, int, int], ...]) -> int:
    if taxable_fen <= 0:
        return 0
    for upper, rate, deduction in brackets:
        if upper is None or taxable_fen <= upper:
            return max(0, scale_half_up(taxable_fen, rate, 100) - deduction)
    raise AssertionError("the last bracket has no upper bound")


def labour_taxable(income_fen: int) -> int:
    """The taxable income of one 次 of 劳务报酬 (61号)."""
    if income_fen < 0:
        raise ValueError("income is never negative")
    if income_fen <= DEDUCTION_UP_TO_FEN:
        return max(0, income_fen - FIXED_DEDUCTION_FEN)
    return scale_half_up(income_fen, 4, 5)


def labour_tax(income_fen: int) -> int:
    """The tax on one 次 of 劳务报酬 of income_fen (61号)."""
    return _bracket_tax(labour_taxable(income_fen), LABOUR_BRACKETS)


def cumulative_tax(income_fen: int, months: int) -> int:
    """The tax on a year's cumulative 劳务报酬 by the cumulative method (2025年第16号)."""
    if income_fen < 0:
        raise ValueError("income is never negative")
    if not 1 <= months <= 12:
        raise ValueError("months with income are 1 to 12")
    taxable = scale_half_up(income_fen, 4, 5) - MONTHLY_DEDUCTION_FEN * months
    return _bracket_tax(taxable, ANNUAL_BRACKETS)


def withholding(
    method: TaxMethod,
    income_before_fen: int,
    withheld_before_fen: int,
    amount_fen: int,
    months: int = 1,
) -> int:
    """What one payout of amount_fen withholds, given the period's income and tax withheld
    before it (months: the months with income in the period, this one included; CUMULATIVE)."""
    cumulative = income_before_fen + amount_fen
    if method == TaxMethod.PER_MONTH:
        due = labour_tax(cumulative)
    else:
        due = cumulative_tax(cumulative, months)
    return max(0, due - withheld_before_fen)
