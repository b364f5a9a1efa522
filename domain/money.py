"""The one place that turns text into money and rates (cf. Beancount's core/number.py).

Money is an integer number of fen (分); rates are exact Decimals. Nothing else parses numbers.
"""

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache

from domain.errors import AmountTooLarge, BalanceLimitExceeded, InvalidMoney, InvalidRate

# The bounds every amount and running balance is kept within, well inside the bigint columns
# (at most 9,223,372,036,854,775,807 fen) that store them (decision 0018):
# - one amount: ten integer digits of yuan, 9,999,999,999.99 at most; the columns hold over
#   nine million of them added together;
# - a balance a command moves (a deposit, a card's recharges, what is available): 10^15 fen,
#   ten trillion yuan, 9,000 times below the columns' limit;
# - the platform's lifetime totals (income, commissions): 10^18 fen, leaving room for eight
#   million more maximal sales between the check and the views catching up.
MAX_AMOUNT_FEN = 999_999_999_999
MAX_BALANCE_FEN = 10**15
MAX_TOTAL_FEN = 10**18
# Digits enough to say "too large" rather than "not an amount"; beyond that, not an amount.
_MONEY = re.compile(r"^(-?)(\d{1,30})(?:\.(\d{1,2}))?$", re.ASCII)
_RATE = re.compile(r"^\d{1,6}(?:\.\d{1,12})?%?$", re.ASCII)
ONE = Decimal(1)


def parse_money(
    text: object,
    *,
    allow_negative: bool = False,
    field: str = "amount",
    limit: int | None = MAX_AMOUNT_FEN,
) -> int:
    """'60' | '60.5' | '60.50' -> 6000 fen. Floats, exponents and sub-fen digits are refused;
    so is an amount beyond `limit` (None: a threshold read back from a stored document, which
    was accepted as it is)."""
    if not isinstance(text, str):
        raise InvalidMoney(field, f"money must be a string like '60.00', got {type(text).__name__}")
    match = _MONEY.match(text.strip())
    if match is None:
        raise InvalidMoney(
            field, f"{_shown(text)} is not an amount in yuan with at most two decimals"
        )
    sign, whole, cents = match.groups()
    fen = int(whole) * 100 + int((cents or "0").ljust(2, "0"))
    if sign and fen and not allow_negative:
        raise InvalidMoney(field, f"'{text}' is negative")
    if limit is not None and fen > limit:
        _refuse_too_large(fen, field)
    return -fen if sign else fen


def _shown(text: str) -> str:
    """The text as a refusal quotes it: a megabyte of digits is not echoed back whole."""
    return repr(text) if len(text) <= 40 else repr(text[:40]) + f"... ({len(text)} characters)"


def _refuse_too_large(fen: int, field: str) -> None:
    if fen > MAX_AMOUNT_FEN:
        raise AmountTooLarge(
            field,
            f"{format_money(fen)} is more than the largest amount, {format_money(MAX_AMOUNT_FEN)}",
        )


def require_lifetime_room(income_fen: int, credits_fen: int) -> None:
    """A new fact is refused once the platform's lifetime income or commissions reach
    MAX_TOTAL_FEN: every total a view sums (team volumes, months, platform totals) is below
    them, and the bigint columns keep room for what is in flight (decision 0018)."""
    for total, what in ((income_fen, "income"), (credits_fen, "commissions credited")):
        if total >= MAX_TOTAL_FEN:
            raise BalanceLimitExceeded(
                None,
                f"the platform's lifetime {what} reached {format_money(total)}, the limit of "
                f"{format_money(MAX_TOTAL_FEN)}: no new fact can be counted",
            )


def require_balance(after_fen: int, field: str, what: str) -> int:
    """A running balance a command moves stays within MAX_BALANCE_FEN (either sign)."""
    if abs(after_fen) > MAX_BALANCE_FEN:
        raise BalanceLimitExceeded(
            field,
            f"{what} would be {format_money(after_fen)}, beyond the limit of "
            f"{format_money(MAX_BALANCE_FEN)}",
        )
    return after_fen


@lru_cache(maxsize=1 << 16, typed=True)  # lines quote the same prices and rates again and again
def format_money(fen: int) -> str:
    """6000 -> '60.00'; -300 -> '-3.00'."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"


def require_fen(value: object, field: str = "amount", *, allow_zero: bool = True) -> int:
    """Checks an integer fen amount handed in by code (not text): non-negative int, never bool/float."""
    if type(value) is not int:
        raise InvalidMoney(field, f"money must be integer fen, got {type(value).__name__}")
    if value < 0 or (value == 0 and not allow_zero):
        raise InvalidMoney(field, f"{format_money(value)} is not a positive amount")
    _refuse_too_large(value, field)
    return value


def parse_rate(text: object, field: str = "rate") -> Decimal:
    """'0.05' or '5%' -> Decimal('0.05'); a rate is a fraction in [0, 1]."""
    if not isinstance(text, str) or not _RATE.match(text.strip()):
        raise InvalidRate(field, f"rate must be a decimal string like '0.05' or '5%', got {text!r}")
    raw = text.strip()
    try:
        rate = Decimal(raw[:-1]) / 100 if raw.endswith("%") else Decimal(raw)
    except InvalidOperation:  # pragma: no cover - the regex admits only valid decimals
        raise InvalidRate(field, f"'{text}' is not a decimal") from None
    if not Decimal(0) <= rate <= ONE:
        raise InvalidRate(field, f"rate {text} is outside 0-100%")
    return rate.normalize() if rate else Decimal(0)


_MULTIPLIER = re.compile(r"^\d{1,2}(?:\.\d{1,6})?$", re.ASCII)
MAX_MULTIPLIER = Decimal(10)


def parse_multiplier(text: object, field: str = "multiplier") -> Decimal:
    """'1.2' -> Decimal('1.2'); a time-window multiplier is a decimal string in (0, 10]."""
    if not isinstance(text, str) or not _MULTIPLIER.match(text.strip()):
        raise InvalidRate(field, f"multiplier must be a decimal string like '1.2', got {text!r}")
    value = Decimal(text.strip())
    if not Decimal(0) < value <= MAX_MULTIPLIER:
        raise InvalidRate(field, f"multiplier {text} is outside (0, {MAX_MULTIPLIER}]")
    return value.normalize()


@lru_cache(
    maxsize=1 << 12, typed=True
)  # equal rates normalize to the same text, whatever their exponent
def rate_to_str(rate: Decimal) -> str:
    return format(rate.normalize(), "f")


def apply_rate(base_fen: int, rate: Decimal) -> int:
    """One commission line: base x rate, rounded half-up to the fen."""
    return int((Decimal(base_fen) * rate).quantize(ONE, rounding=ROUND_HALF_UP))


def scale_half_up(amount_fen: int, numerator: int, denominator: int) -> int:
    """amount x numerator / denominator, half-up, in integers only (refund shares)."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    quotient, remainder = divmod(amount_fen * numerator, denominator)
    return quotient + (1 if remainder * 2 >= denominator else 0)


def allocate(total_fen: int, weights: list[int]) -> list[int]:
    """Split total in proportion to weights so the parts add up exactly (largest remainder)."""
    weight_sum = sum(weights)
    if weight_sum <= 0:
        return [0 for _ in weights]
    shares = [divmod(total_fen * w, weight_sum) for w in weights]
    parts = [q for q, _ in shares]
    short = total_fen - sum(parts)
    by_remainder = sorted(range(len(weights)), key=lambda i: (-shares[i][1], i))
    for i in by_remainder[:short]:
        parts[i] += 1
    return parts
