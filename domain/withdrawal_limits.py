"""The runtime parameters of withdrawals, which admins change through the API: limits, the fee,
the large-withdrawal alert and the tax method. Every change is an event with its effective time,
so the parameters are known as of any time (a withdrawal is judged by those in force when it was
requested).
"""

from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import Audit, aggregate_id
from domain.errors import (
    BelowMinimum,
    DailyCountExceeded,
    DailyLimitExceeded,
    FeeExceedsAmount,
    InvalidInput,
    MonthlyLimitExceeded,
)
from domain.money import apply_rate, format_money, parse_rate, rate_to_str, require_fen
from domain.tax import TaxMethod

LIMITS_CODE = "default"  # one set of withdrawal parameters per ledger


@dataclass(frozen=True)
class WithdrawalLimits:
    """The parameters in force. None: no such limit. Amounts in fen; the fee rate a fraction."""

    minimum_fen: int = 1
    daily_max_fen: int | None = None
    monthly_max_fen: int | None = None
    daily_count: int | None = None
    fee_rate: str = "0"
    fee_min_fen: int = 0
    fee_max_fen: int | None = None
    large_from_fen: int | None = 5_000_000  # 50,000.00: the large-withdrawal alert
    tax_method: str = TaxMethod.PER_MONTH.value

    def __post_init__(self) -> None:
        """Checks before anything is recorded (and again when read back: same rules)."""
        require_fen(self.minimum_fen, "minimum", allow_zero=False)
        for name in ("daily_max_fen", "monthly_max_fen", "fee_max_fen", "large_from_fen"):
            value = getattr(self, name)
            if value is not None:
                require_fen(value, _input_name(name), allow_zero=False)
        require_fen(self.fee_min_fen, "feeMin")
        if self.daily_count is not None and (
            type(self.daily_count) is not int or not 1 <= self.daily_count <= 1000
        ):
            raise InvalidInput("dailyCount", "dailyCount must be a whole number from 1 to 1000")
        parse_rate(self.fee_rate, "feeRate")
        if self.fee_max_fen is not None and self.fee_max_fen < self.fee_min_fen:
            raise InvalidInput("feeMax", "feeMax is below feeMin")
        if self.tax_method not in TaxMethod.__members__:
            raise InvalidInput("taxMethod", f"taxMethod is one of {', '.join(TaxMethod)}")
        for smaller, larger in (
            ("minimum_fen", "daily_max_fen"),
            ("daily_max_fen", "monthly_max_fen"),
        ):
            low, high = getattr(self, smaller), getattr(self, larger)
            if low is not None and high is not None and low > high:
                raise InvalidInput(
                    _input_name(larger), f"{_input_name(larger)} is below {_input_name(smaller)}"
                )

    @property
    def rate(self) -> Decimal:
        return parse_rate(self.fee_rate, "feeRate")

    def fee(self, amount_fen: int) -> int:
        """amount x rate rounded half up to the fen, then raised to the minimum and capped at
        the maximum."""
        fee = max(apply_rate(amount_fen, self.rate), self.fee_min_fen)
        return fee if self.fee_max_fen is None else min(fee, self.fee_max_fen)

    def check(
        self, amount_fen: int, day_total_fen: int, day_count: int, month_total_fen: int
    ) -> None:
        """A request of amount_fen, given the agent's other withdrawals of the business day and
        month that still count (not rejected, not failed). Refusals name limit and amounts."""
        if amount_fen < self.minimum_fen:
            raise BelowMinimum(
                "amount",
                f"{format_money(amount_fen)} is below the minimum withdrawal "
                f"{format_money(self.minimum_fen)}",
            )
        fee = self.fee(amount_fen)
        if fee >= amount_fen:
            raise FeeExceedsAmount(
                "amount",
                f"the fee {format_money(fee)} leaves nothing of {format_money(amount_fen)}",
            )
        if self.daily_count is not None and day_count + 1 > self.daily_count:
            raise DailyCountExceeded(
                "amount",
                f"{day_count} withdrawals today already: the daily count limit is "
                f"{self.daily_count}",
            )
        if self.daily_max_fen is not None and day_total_fen + amount_fen > self.daily_max_fen:
            raise DailyLimitExceeded(
                "amount",
                f"{format_money(amount_fen)} with {format_money(day_total_fen)} already "
                f"requested today exceeds the daily limit {format_money(self.daily_max_fen)}",
            )
        if self.monthly_max_fen is not None and (
            month_total_fen + amount_fen > self.monthly_max_fen
        ):
            raise MonthlyLimitExceeded(
                "amount",
                f"{format_money(amount_fen)} with {format_money(month_total_fen)} already "
                f"requested this month exceeds the monthly limit "
                f"{format_money(self.monthly_max_fen)}",
            )

    def large(self, amount_fen: int) -> bool:
        return self.large_from_fen is not None and amount_fen >= self.large_from_fen

    def fields(self) -> dict[str, Any]:
        values = asdict(self)
        values["fee_rate"] = rate_to_str(self.rate)
        return values


def _input_name(name: str) -> str:
    head, *rest = name.removesuffix("_fen").split("_")
    return head + "".join(part.title() for part in rest)


class WithdrawalLimitsHistory(Aggregate):
    """Every setting of the withdrawal parameters, each with when it took effect."""

    class Created(Aggregate.Created):
        code: str

    class LimitsSet(Aggregate.Event):
        limits: dict[str, Any]
        actor: str
        effective_at: datetime
        reason: str

    @staticmethod
    def create_id(code: str = LIMITS_CODE, **_: Any) -> UUID:
        return aggregate_id("withdrawal-limits", code)

    @classmethod
    def start(cls) -> "WithdrawalLimitsHistory":
        return cls._create(cls.Created, code=LIMITS_CODE)

    @event(Created)
    def __init__(self, code: str) -> None:
        self.code = code
        self.settings: list[tuple[datetime, dict[str, Any]]] = []

    def set(self, limits: WithdrawalLimits, audit: Audit) -> None:
        if not audit.reason:
            raise InvalidInput("reason", "a change of withdrawal limits needs a reason")
        self._set(limits.fields(), **audit.fields())

    @event(LimitsSet)
    def _set(self, limits: dict[str, Any], actor: str, effective_at: datetime, reason: str) -> None:
        self.settings.append((effective_at, limits))
        self.settings.sort(key=lambda s: s[0])

    def as_of(self, at: datetime) -> WithdrawalLimits:
        current = WithdrawalLimits()
        for effective_at, limits in self.settings:
            if effective_at > at:
                break
            current = WithdrawalLimits(**limits)
        return current
