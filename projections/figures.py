"""The platform's and the agents' derived figures: the arithmetic over projected rows that the
API shows and `fenrun verify` checks, written once (never in a resolver)."""

from datetime import date

PERFORMANCE = ("personal_fen", "personal_orders", "team_fen", "team_orders")
# What carriers paid for the agent's own number cards, and for its downline's.
CARD_INCOME = ("card_income_fen", "team_card_income_fen")


def previous_month(month: date) -> date:
    return date(month.year - 1, 12, 1) if month.month == 1 else date(month.year, month.month - 1, 1)


def next_month(month: date) -> date:
    return date(month.year + 1, 1, 1) if month.month == 12 else date(month.year, month.month + 1, 1)


def platform_net(income_fen: int, refunded_fen: int, credits_fen: int) -> int:
    """What the platform keeps: income less refunds less what it credited agents."""
    return income_fen - refunded_fen - credits_fen


def month_credits(frozen_fen: int, unfreezing_fen: int, approved_fen: int) -> int:
    """Agent credits of a month: commissions and price differences not voided or clawed back."""
    return frozen_fen + unfreezing_fen + approved_fen


def increment(now: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    """A month's performance minus the month before's (SPEC: the monthly increment)."""
    return {name: now[name] - before[name] for name in PERFORMANCE}
