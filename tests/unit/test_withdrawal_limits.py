"""Withdrawal limits and the fee (domain/withdrawal_limits.py): refusals name limit and amounts."""

from datetime import UTC, datetime, timedelta

import pytest

from domain.common import Audit
from domain.errors import (
    BelowMinimum,
    DailyCountExceeded,
    DailyLimitExceeded,
    FeeExceedsAmount,
    InvalidInput,
    MonthlyLimitExceeded,
)
from domain.withdrawal_limits import WithdrawalLimits, WithdrawalLimitsHistory

T = datetime(2026, 3, 1, tzinfo=UTC)


def test_fee_rate_with_minimum_and_maximum() -> None:
    limits = WithdrawalLimits(fee_rate="0.006", fee_min_fen=100, fee_max_fen=2500)
    assert limits.fee(10_000) == 100  # 0.60 raised to the minimum 1.00
    assert limits.fee(100_000) == 600  # 6.00
    assert limits.fee(100_083) == 600  # 600.498 -> 600
    assert limits.fee(100_084) == 601  # 600.504 -> 601
    assert limits.fee(1_000_000) == 2500  # 60.00 capped at 25.00


def test_each_limit_refuses_naming_itself_and_the_amounts() -> None:
    limits = WithdrawalLimits(
        minimum_fen=10_000, daily_max_fen=50_000, monthly_max_fen=80_000, daily_count=2
    )
    with pytest.raises(BelowMinimum, match=r"99\.99 is below the minimum withdrawal 100\.00"):
        limits.check(9_999, 0, 0, 0)
    with pytest.raises(DailyLimitExceeded, match=r"300\.00 with 300\.00 .* daily limit 500\.00"):
        limits.check(30_000, 30_000, 1, 30_000)
    with pytest.raises(DailyCountExceeded, match=r"2 withdrawals today .* limit is 2"):
        limits.check(10_000, 20_000, 2, 20_000)
    with pytest.raises(MonthlyLimitExceeded, match=r"monthly limit 800\.00"):
        limits.check(20_000, 0, 0, 70_000)
    limits.check(20_000, 30_000, 1, 60_000)  # exactly at both caps: accepted


def test_a_fee_that_leaves_nothing_is_refused() -> None:
    with pytest.raises(FeeExceedsAmount):
        WithdrawalLimits(fee_min_fen=500).check(500, 0, 0, 0)


def test_inconsistent_limits_are_refused() -> None:
    with pytest.raises(InvalidInput):
        WithdrawalLimits(minimum_fen=100, daily_max_fen=50)
    with pytest.raises(InvalidInput):
        WithdrawalLimits(fee_min_fen=100, fee_max_fen=50)
    with pytest.raises(InvalidInput):
        WithdrawalLimits(tax_method="FLAT")


def test_limits_as_of_any_time() -> None:
    history = WithdrawalLimitsHistory.start()
    history.set(WithdrawalLimits(minimum_fen=100), Audit("admin", T, "first"))
    history.set(WithdrawalLimits(minimum_fen=500), Audit("admin", T + timedelta(days=2), "up"))
    assert history.as_of(T - timedelta(seconds=1)) == WithdrawalLimits()
    assert history.as_of(T + timedelta(days=1)).minimum_fen == 100
    assert history.as_of(T + timedelta(days=3)).minimum_fen == 500
