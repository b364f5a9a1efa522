"""FIXED: a fixed amount per completed order, paid to the selling agent from platform income."""

from functools import cached_property
from typing import Any, Literal

from domain.rules.base import BaseRule, MoneyText, rule_money
from domain.rules.facts import SaleFacts
from domain.rules.line import CommissionLine, build_line


class FixedRule(BaseRule):
    kind: Literal["FIXED"]
    amount: MoneyText

    reacts_to_facts = (SaleFacts,)

    @cached_property
    def amount_fen(self) -> int:
        return rule_money(self.amount)

    def lines(self, fact: SaleFacts, plan: Any) -> list[CommissionLine]:
        line = build_line(plan, self, fact, fact.seller_code, 0, {}, amount=self.amount_fen)
        return [line] if line else []
