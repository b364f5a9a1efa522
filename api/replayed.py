"""A replayed aggregate's state in the API's vocabulary, for GraphQL `replay` and `fenrun replay`.

The domain keeps its own names (snake_case attributes, integer fen, `*_fen` suffixes); people
and programs reading a replay speak the API's: camelCase names and amounts as Money strings
("60.00"). The translation happens here, at the edge; the stored events and the aggregates stay
as they are.

Names are translated, data is not: the keys of a map keyed by business codes or ids (an agent's
prices by package code, a wallet's lines by commission id) are shown as they are, and the rules
documents people wrote are shown as written.
"""

from typing import Any

from domain.money import format_money

# Attributes holding maps whose keys are data (codes, ids), not names.
_KEYED_BY_DATA = frozenset(
    {
        "cost_prices",
        "retail_prices",
        "withdrawals",
        "lines",
        "requests",
        "by_order",
        "adjustments",
        "withdrawal_reviews",
        "approved_withdrawals",
        "withdrawal_requests",
        "tax_periods",
        "months",
    }
)
# Attributes holding amounts in fen without saying so in their name (`*_fen` ones say so).
_AMOUNTS = frozenset({"balances", "cost_prices", "retail_prices", "withdrawals"})
# Documents as their authors wrote them (already in the API's vocabulary).
_AS_WRITTEN = frozenset({"rules"})


def present(state: dict[str, Any]) -> dict[str, Any]:
    """An aggregate's (or one of its records') state, names translated and amounts formatted."""
    return {_name(key): _value(key, value) for key, value in state.items()}


def _name(key: str) -> str:
    first, *rest = key.removesuffix("_fen").split("_")
    return first + "".join(word.capitalize() for word in rest)


def _value(key: str, value: Any) -> Any:
    if key in _AS_WRITTEN:
        return value
    if key == "chain":  # an order's price chain: (agent code, cost price) from the top down
        return [{"agentCode": code, "costPrice": format_money(fen)} for code, fen in value]
    if key.endswith("_fen") or key in _AMOUNTS:
        return _money(value)
    if key in _KEYED_BY_DATA and isinstance(value, dict):
        return {code: _nested(item) for code, item in value.items()}
    return _nested(value)


def _nested(value: Any) -> Any:
    if isinstance(value, dict):
        return present(value)
    if isinstance(value, list):
        return [_nested(item) for item in value]
    return value


def _money(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _money(item) for key, item in value.items()}
    if isinstance(value, bool) or not isinstance(value, int):
        return value  # None: no amount yet
    return format_money(value)
