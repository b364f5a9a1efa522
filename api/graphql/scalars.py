"""Our own scalars: strawberry's Decimal loses precision on JSON numbers and its DateTime
accepts values without an offset (DESIGN.md, pitfalls)."""

from datetime import datetime
from typing import NewType

import strawberry

from domain.money import format_money


def _money_in(value: object) -> str:
    # Only strings: a JSON number would already have lost precision on its way here. The format
    # itself ("60.505", "1e3", negative) is checked by the resolver and answered as a userError.
    if not isinstance(value, str):
        raise ValueError('Money must be a string such as "60.00", not a JSON number')
    return value


def _money_out(value: int) -> str:
    if type(value) is not int:
        raise TypeError("Money values are integer fen inside Fenrun")
    return format_money(value)


Money = NewType("Money", str)
MONEY = strawberry.scalar(
    name="Money",
    description='An amount in CNY as a string with two decimals ("60.00"). Inputs accept "60", '
    '"60.5" and "60.50"; JSON numbers are refused.',
    serialize=_money_out,
    parse_value=_money_in,
)


def _datetime_in(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError("DateTime must be an ISO 8601 string with an offset")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"'{value}' is not an ISO 8601 date-time") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(f"'{value}' has no UTC offset; add one, e.g. '+08:00' or 'Z'")
    return parsed


def _datetime_out(value: datetime) -> str:
    return value.isoformat()


DateTime = NewType("DateTime", datetime)
DATETIME = strawberry.scalar(
    name="DateTime",
    description="ISO 8601 date-time with a UTC offset, e.g. 2026-01-05T10:00:00+08:00.",
    serialize=_datetime_out,
    parse_value=_datetime_in,
)
SCALARS = {Money: MONEY, DateTime: DATETIME}
