"""A commission line, and the one builder every rule kind pays its lines with."""

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from domain.money import ONE, apply_rate, rate_to_str


@dataclass(frozen=True)
class CommissionLine:
    beneficiary: str
    kind: str
    amount_fen: int
    base_fen: int
    rate: str | None
    plan_code: str
    plan_version: int
    rule_code: str
    hold_days: int
    source: str  # the fact it pays for: an order id or an iccid
    order_id: str | None = None
    iccid: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)


def build_line(
    plan: Any,
    rule: Any,
    fact: Any,
    beneficiary: str,
    base_fen: int,
    facts: dict[str, Any],
    *,
    rate: Decimal | None = None,
    amount: int | Decimal | None = None,
    at_most: int | None = None,
) -> CommissionLine | None:
    """The line a rule pays `beneficiary` on a fact: `rate` x base, or an `amount` (exact until
    this one rounding), times the rule's window multiplier, rounded half-up to the fen, at most
    `at_most`. None when nothing is owed: the beneficiary is out of the rule's scope (packages,
    agent levels), it is the buyer (nobody earns on their own purchase), or the amount is zero."""
    if beneficiary == fact.buyer_code:
        return None
    if not rule.in_scope(fact.package_code, fact.grades.get(beneficiary)):
        return None
    factor = rule.factor(fact.effective_at)
    if rate is not None:
        if factor is not ONE:  # x 1 changes neither the value nor its digits: skip it
            rate = rate * factor
        owed = apply_rate(base_fen, rate)
    else:
        assert amount is not None, "a line pays a rate or an amount"
        owed = apply_rate(1, Decimal(amount) * factor)
    if at_most is not None:
        owed = min(owed, at_most)
    if owed <= 0:
        return None
    if factor != ONE:
        facts = {**facts, "multiplier": rate_to_str(factor)}
    line_rate = rate_to_str(rate) if rate is not None else None
    return new_line(
        plan, rule, fact, beneficiary, owed, base_fen, line_rate, fact.line_facts(facts)
    )


def new_line(
    plan: Any,
    rule: Any,
    fact: Any,
    beneficiary: str,
    amount_fen: int,
    base_fen: int,
    rate: str | None,
    facts: dict[str, Any],
) -> CommissionLine:
    """A line as it is recorded: the plan version and rule that pay it, the fact it pays for.
    build_line prices it; only price differences, paid as the chain's gaps are, come here
    directly."""
    return CommissionLine(
        beneficiary=beneficiary,
        kind=rule.kind,
        amount_fen=amount_fen,
        base_fen=base_fen,
        rate=rate,
        plan_code=plan.code,
        plan_version=plan.version,
        rule_code=rule.code,
        hold_days=rule.hold_days,
        facts=facts,
        **fact.line_source(),
    )
