"""MULTI_LEVEL (多级分销): level 1 is the seller's direct upline, level 2 its upline, level 3 at
most (SPEC §7), each earning its rate of the base."""

from decimal import Decimal
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import Field, StrictStr, field_validator

from domain.rules.base import MAX_LEVELS, BaseRule, SharesABase, rule_rate
from domain.rules.facts import Base, SaleFacts
from domain.rules.line import CommissionLine, build_line


class MultiLevelRule(SharesABase, BaseRule):
    """Level 1 = the seller's direct upline, level 2 = its upline, level 3 at most."""

    kind: Literal["MULTI_LEVEL"]
    levels: Annotated[list[StrictStr], Field(min_length=1, max_length=MAX_LEVELS)]
    base: Base = Base.PAID_AMOUNT

    reacts_to_facts = (SaleFacts,)

    @field_validator("levels")
    @classmethod
    def _check_levels(cls, v: list[str]) -> list[str]:
        for level_rate in v:
            rule_rate(level_rate)
        return v

    @cached_property
    def level_rates(self) -> list[Decimal]:
        return [rule_rate(r) for r in self.levels]

    def max_rate(self) -> Decimal:
        return max(self.level_rates)

    def lines(self, fact: SaleFacts, plan: Any) -> list[CommissionLine]:
        base = fact.base(self.base)
        lines = []
        uplines = zip(fact.uplines, self.level_rates, strict=False)
        for level, (upline, level_rate) in enumerate(uplines, 1):
            facts = {"base": self.base, "level": level, "seller": fact.seller_code}
            if line := build_line(plan, self, fact, upline, base, facts, rate=level_rate):
                lines.append(line)
        return lines
