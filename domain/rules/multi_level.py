"""MULTI_LEVEL (多级分销): level 1 is the seller's direct upline, level 2 its upline, level 3 at
most (SPEC §7), each earning its rate of the base.

On a sale the base is the paid amount or the seller's cost. With `base: SETTLEMENT` the rule pays
on a number card's carrier settlement row instead: the uplines of the card's agent (as recorded
with the row) each earn their rate of the carrier's total for the row, when the row meets the
carrier's conditions (activated, NORMAL, 三无). The settlement split keeps the platform's share
from going negative: `overflow` REFUSE (default) or CAP, as LONG_TERM's."""

from decimal import Decimal
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import Field, StrictStr, field_validator, model_validator

from domain.money import format_money
from domain.rules.base import MAX_LEVELS, BaseRule, SharesABase, rule_rate
from domain.rules.facts import Base, SaleFacts, SettlementFacts
from domain.rules.line import CommissionLine, build_line

SETTLEMENT = "SETTLEMENT"


class MultiLevelRule(SharesABase, BaseRule):
    """Level 1 = the seller's (or the card agent's) direct upline, level 2 = its upline, level 3
    at most."""

    kind: Literal["MULTI_LEVEL"]
    levels: Annotated[list[StrictStr], Field(min_length=1, max_length=MAX_LEVELS)]
    base: Base | Literal["SETTLEMENT"] = Base.PAID_AMOUNT
    # Settlement base only: when the rules would pay more than the carrier paid, refuse the row
    # (default) or cap the lines (largest remainder).
    overflow: Literal["REFUSE", "CAP"] | None = None

    reacts_to_facts = (SaleFacts, SettlementFacts)  # by its base (reacts_to)

    @field_validator("levels")
    @classmethod
    def _check_levels(cls, v: list[str]) -> list[str]:
        for level_rate in v:
            rule_rate(level_rate)
        return v

    @model_validator(mode="after")
    def _overflow_on_settlements(self) -> "MultiLevelRule":
        if self.overflow is not None and not self.on_settlement:
            raise ValueError("'overflow' applies to base SETTLEMENT only")
        return self

    @property
    def on_settlement(self) -> bool:
        return self.base == SETTLEMENT

    @cached_property
    def level_rates(self) -> list[Decimal]:
        return [rule_rate(r) for r in self.levels]

    def max_rate(self) -> Decimal:
        return max(self.level_rates)

    def reacts_to(self, fact: Any) -> bool:
        wanted = SettlementFacts if self.on_settlement else SaleFacts
        return isinstance(fact, wanted) and self.applies_to(fact.package_code)

    @property
    def refuses_overflow(self) -> bool:
        return self.on_settlement and self.overflow != "CAP"

    def lines(self, fact: Any, plan: Any) -> list[CommissionLine]:
        if isinstance(fact, SettlementFacts):
            return self._settlement_lines(fact, plan)
        base = fact.base(self.base)
        lines = []
        uplines = zip(fact.uplines, self.level_rates, strict=False)
        for level, (upline, level_rate) in enumerate(uplines, 1):
            facts = {"base": self.base, "level": level, "seller": fact.seller_code}
            if line := build_line(plan, self, fact, upline, base, facts, rate=level_rate):
                lines.append(line)
        return lines

    def _settlement_lines(self, row: SettlementFacts, plan: Any) -> list[CommissionLine]:
        """Each upline's share of the carrier's total for the row (the settlement base)."""
        if row.carrier_conditions_failed():
            return []
        lines = []
        uplines = zip(row.uplines, self.level_rates, strict=False)
        for level, (upline, level_rate) in enumerate(uplines, 1):
            facts = {
                "base": SETTLEMENT,
                "level": level,
                "agent": row.agent_code,
                "rowId": row.row_id,
                "period": row.period,
                "carrierTotal": format_money(row.total_fen),
            }
            line = build_line(plan, self, row, upline, row.total_fen, facts, rate=level_rate)
            if line:
                lines.append(line)
        return lines
