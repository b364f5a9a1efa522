"""PEER_LEVEL (平级奖): the first upline (within maxDepth) of the seller's own grade earns rate x
base; nobody else."""

from typing import Annotated, Any, Literal

from pydantic import Field, StrictInt

from domain.rules.base import MAX_LEVELS, OneRateRule, SharesABase
from domain.rules.facts import Base, SaleFacts
from domain.rules.line import CommissionLine, build_line


class PeerLevelRule(SharesABase, OneRateRule):
    """平级奖: the first upline (within maxDepth) of the seller's own grade earns rate x base."""

    kind: Literal["PEER_LEVEL"]
    base: Base = Base.PAID_AMOUNT
    max_depth: Annotated[StrictInt, Field(alias="maxDepth", ge=1, le=MAX_LEVELS)] = MAX_LEVELS

    reacts_to_facts = (SaleFacts,)

    @property
    def uses_levels(self) -> bool:
        return True

    def lines(self, fact: SaleFacts, plan: Any) -> list[CommissionLine]:
        level = fact.grades.get(fact.seller_code)
        if level is None:
            return []
        for upline in fact.uplines[: self.max_depth]:
            if fact.grades.get(upline) == level:  # only the first same-grade upline
                facts = {"base": self.base, "level": level, "seller": fact.seller_code}
                base = fact.base(self.base)
                line = build_line(plan, self, fact, upline, base, facts, rate=self.rate_decimal)
                return [line] if line else []
        return []
