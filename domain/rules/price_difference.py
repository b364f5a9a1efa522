"""PRICE_DIFFERENCE (差价): each level of the price chain earns the gap between what it sold at and
its own cost. The chain pays it on every sale, with or without a rule: a rule only names the plan
and the hold (the built-in `price-menu` plan otherwise)."""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import model_validator

from domain.money import format_money
from domain.rules.base import BaseRule
from domain.rules.facts import SaleFacts
from domain.rules.line import CommissionLine, new_line
from domain.rules.plans import PlanVersion

PRICE_MENU_PLAN = "price-menu"  # the built-in plan that credits price differences


class PriceDifferenceRule(BaseRule):
    kind: Literal["PRICE_DIFFERENCE"]

    explained_facts = frozenset({"soldAt", "costPrice"})

    @model_validator(mode="after")
    def _only_packages_and_hold(self) -> "PriceDifferenceRule":
        # The gaps of the price chain are what the agents charged: nothing scales or filters them.
        if self.multiplier is not None or self.agent_levels:
            raise ValueError(
                "a PRICE_DIFFERENCE rule pays the gaps of the price chain as they are: it takes "
                "'packages' and 'holdDays' only (no multiplier, no agentLevels)"
            )
        return self

    @classmethod
    def words(cls, line: Mapping[str, Any]) -> str:
        facts = line.get("facts") or {}
        return (
            f"price difference {format_money(line['original_fen'])} = sold at "
            f"{facts.get('soldAt', format_money(line['base_fen']))}"
            f" - cost price {facts.get('costPrice', '?')}"
        )


# Names the price differences of packages no plan's rule names.
PRICE_MENU = PlanVersion(
    PRICE_MENU_PLAN,
    1,
    datetime(1970, 1, 1, tzinfo=UTC),
    (PriceDifferenceRule(code="price-difference", kind="PRICE_DIFFERENCE"),),
)


def price_difference_lines(sale: SaleFacts, plans: list[PlanVersion]) -> list[CommissionLine]:
    """Flow 1 credits each level of the price chain the gap to the next price below it."""
    if sale.flow != "CUSTOMER_PAYS" or sale.retail_fen is None:
        prices_below = [cost for _, cost in sale.chain[1:]]
    else:
        prices_below = [cost for _, cost in sale.chain[1:]] + [sale.retail_fen]
    plan, rule = _naming_rule(sale, plans)
    lines = []
    for (agent_code, cost), sold_at in zip(sale.chain, prices_below, strict=False):
        amount = sold_at - cost
        if amount <= 0 or agent_code == sale.buyer_code:
            continue
        facts = {"soldAt": format_money(sold_at), "costPrice": format_money(cost)}
        lines.append(new_line(plan, rule, sale, agent_code, amount, sold_at, None, facts))
    return lines


def _naming_rule(sale: SaleFacts, plans: list[PlanVersion]) -> tuple[PlanVersion, BaseRule]:
    """The first PRICE_DIFFERENCE rule in force for the package, else the built-in one."""
    for plan in plans:
        for rule in plan.rules:
            if isinstance(rule, PriceDifferenceRule) and rule.applies_to(sale.package_code):
                return plan, rule
    return PRICE_MENU, PRICE_MENU.rules[0]
