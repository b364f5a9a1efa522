"""LEVEL_DIFFERENCE (级差): walking up from the seller, each upline earns its grade rate minus the
highest grade rate below it (the seller's own grade rate counts as already paid)."""

from decimal import Decimal
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool, StrictInt, StrictStr, field_validator

from domain.money import rate_to_str
from domain.rules.base import MAX_LEVELS, ZERO, BaseRule, SharesABase, rule_rate
from domain.rules.facts import Base, SaleFacts
from domain.rules.line import CommissionLine, build_line
from domain.values import CodeText


class LevelDifferenceRule(SharesABase, BaseRule):
    """级差: walking up from the seller, each upline earns its grade rate minus the highest
    grade rate below it (the seller's own grade rate counts as already paid)."""

    kind: Literal["LEVEL_DIFFERENCE"]
    rates: Annotated[dict[CodeText, StrictStr], Field(min_length=1, max_length=50)]
    base: Base = Base.PAID_AMOUNT
    include_seller: StrictBool = Field(default=False, alias="includeSeller")
    max_depth: Annotated[StrictInt, Field(alias="maxDepth", ge=1, le=MAX_LEVELS)] = MAX_LEVELS

    reacts_to_facts = (SaleFacts,)

    @field_validator("rates")
    @classmethod
    def _check_rates(cls, v: dict[str, str]) -> dict[str, str]:
        for grade_rate in v.values():
            rule_rate(grade_rate)
        return v

    @property
    def uses_levels(self) -> bool:
        return True

    def grade_rate(self, level: str | None) -> Decimal:
        return self.grade_rates.get(level, ZERO) if level is not None else ZERO

    @cached_property
    def grade_rates(self) -> dict[str, Decimal]:
        return {level: rule_rate(grade_rate) for level, grade_rate in self.rates.items()}

    def max_rate(self) -> Decimal:
        return max(rule_rate(r) for r in self.rates.values())

    def lines(self, fact: SaleFacts, plan: Any) -> list[CommissionLine]:
        base = fact.base(self.base)
        seller_level = fact.grades.get(fact.seller_code)
        paid_rate = self.grade_rate(seller_level)
        lines = []
        if self.include_seller and paid_rate > 0:
            facts = {"base": self.base, "level": seller_level, "levelRate": rate_to_str(paid_rate)}
            if line := build_line(plan, self, fact, fact.seller_code, base, facts, rate=paid_rate):
                lines.append(line)
        for upline in fact.uplines[: self.max_depth]:
            level = fact.grades.get(upline)
            grade_rate = self.grade_rate(level)
            if grade_rate <= paid_rate:
                continue
            facts = {
                "base": self.base,
                "level": level,
                "levelRate": rate_to_str(grade_rate),
                "rateBelow": rate_to_str(paid_rate),
                "seller": fact.seller_code,
                "sellerLevel": seller_level,
            }
            if line := build_line(
                plan, self, fact, upline, base, facts, rate=grade_rate - paid_rate
            ):
                lines.append(line)
            paid_rate = grade_rate  # paid below from here on, even if this upline was the buyer
        return lines
