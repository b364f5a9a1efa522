"""PERCENTAGE: a rate of the seller's cost (default) or of the paid amount, to the seller."""

from typing import Any, Literal

from domain.rules.base import OneRateRule, SharesABase
from domain.rules.facts import Base, SaleFacts
from domain.rules.line import CommissionLine, build_line


class PercentageRule(SharesABase, OneRateRule):
    kind: Literal["PERCENTAGE"]
    base: Base = Base.COST_PRICE

    reacts_to_facts = (SaleFacts,)

    def lines(self, fact: SaleFacts, plan: Any) -> list[CommissionLine]:
        base = fact.base(self.base)
        facts = {"base": self.base}
        line = build_line(plan, self, fact, fact.seller_code, base, facts, rate=self.rate_decimal)
        return [line] if line else []
