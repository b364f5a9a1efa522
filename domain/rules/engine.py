"""Facts -> commission lines: every rule in force that reacts to a fact pays its lines for it.

The price chain's differences come first on a sale (paid with or without a rule); a carrier
settlement's lines are then split so that the platform's share is never negative.
"""

from dataclasses import replace
from typing import Any

from domain.errors import PlanRefused
from domain.money import allocate, format_money
from domain.rules.facts import CardFacts, CardVolumeFacts, SaleFacts, SettlementFacts
from domain.rules.line import CommissionLine
from domain.rules.plans import PlanVersion, versions_in_force_flat
from domain.rules.price_difference import price_difference_lines


def _paying(fact: Any, plans: list[PlanVersion]) -> list[tuple[Any, CommissionLine]]:
    """(rule, line) for every line of every rule of `plans` that reacts to the fact, in the
    plans' and rules' order."""
    return [
        (rule, line)
        for plan in plans
        for rule in plan.rules
        if rule.reacts_to(fact)
        for line in rule.lines(fact, plan)
    ]


def _lines_in_force(fact: Any, plans: list[PlanVersion]) -> list[CommissionLine]:
    in_force = versions_in_force_flat(plans, fact.effective_at)
    return [line for _, line in _paying(fact, in_force)]


def sale_commission_lines(sale: SaleFacts, plans: list[PlanVersion]) -> list[CommissionLine]:
    """Every sale rule of `plans` (in force): fixed, percentage, multi-level, tiered, level
    difference, peer. Nobody earns on their own purchase."""
    return [line for _, line in _paying(sale, plans)]


def lines_for_sale(sale: SaleFacts, plans: list[PlanVersion]) -> list[CommissionLine]:
    return sale_lines_in_force(sale, versions_in_force_flat(plans, sale.effective_at))


def sale_lines_in_force(sale: SaleFacts, in_force: list[PlanVersion]) -> list[CommissionLine]:
    """lines_for_sale when the caller already knows the versions in force at the sale's time
    (plans.PlansInForce)."""
    return price_difference_lines(sale, in_force) + sale_commission_lines(sale, in_force)


def lines_for_card(card: CardFacts, plans: list[PlanVersion]) -> list[CommissionLine]:
    """One-time commissions: activated (real-name) and first/cumulative recharge >= threshold."""
    return _lines_in_force(card, plans)


def lines_for_card_volume(facts: CardVolumeFacts, plans: list[PlanVersion]) -> list[CommissionLine]:
    """Count-tiered rules (pickup / activation volume): each card counted pays the amount of the
    tier the agent's monthly count has reached with it (from the next commission on)."""
    return _lines_in_force(facts, plans)


def lines_for_settlement(
    row: SettlementFacts, plans: list[PlanVersion], *, cap: bool
) -> list[CommissionLine]:
    """Splits the carrier's total commission for a card by the long-term rules; the platform keeps
    the rest. A split above the total is refused (rule `overflow: REFUSE`, unless `cap`) or
    scaled down to the total by largest remainder, so the platform's share is never negative."""
    paying = _paying(row, versions_in_force_flat(plans, row.effective_at))
    lines = [line for _, line in paying]
    paid = sum(line.amount_fen for line in lines)
    if paid > row.total_fen:
        if any(rule.refuses_overflow for rule, _ in paying) and not cap:
            raise PlanRefused(
                "totalCommission",
                f"the plan would pay agents {format_money(paid)} of the carrier's "
                f"{format_money(row.total_fen)}: the platform's share would be negative",
            )
        parts = allocate(row.total_fen, [line.amount_fen for line in lines])
        lines = [
            replace(
                line,
                amount_fen=part,
                facts={**line.facts, "cappedFrom": format_money(line.amount_fen)},
            )
            for line, part in zip(lines, parts, strict=True)
            if part > 0
        ]
    platform = row.total_fen - sum(line.amount_fen for line in lines)
    return [
        replace(line, facts={**line.facts, "platformShare": format_money(platform)})
        for line in lines
    ]
