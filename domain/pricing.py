"""The price menu's one rule (SPEC §2) and the price chain of a sale.

Any price an agent sells at (a sub-agent's cost price, its own retail price) is at least its own
cost and at most `factor` (default 2) times it. `PriceLimit.breach` is the only place that
compares a price with that band; every refusal below names the band in its own words.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from domain.errors import PriceAboveLimit, PriceRefused
from domain.money import format_money


class Breach(Enum):
    BELOW_COST = "below cost"
    ABOVE_LIMIT = "above the limit"


@dataclass(frozen=True)
class PriceLimit:
    factor: int = 2

    def ceiling(self, cost_fen: int) -> int:
        return self.factor * cost_fen

    def breach(self, price_fen: int, cost_fen: int) -> Breach | None:
        if price_fen < cost_fen:
            return Breach.BELOW_COST
        if price_fen > self.ceiling(cost_fen):
            return Breach.ABOVE_LIMIT
        return None

    def check(
        self, price_fen: int, cost_fen: int, field: str, below: str, above: str | None = None
    ) -> None:
        """Refuses a price outside [cost, factor x cost]: PriceRefused with `below`, or
        PriceAboveLimit with `above` (default: the limit in numbers)."""
        breach = self.breach(price_fen, cost_fen)
        if breach is Breach.BELOW_COST:
            raise PriceRefused(field, below)
        if breach is Breach.ABOVE_LIMIT:
            raise PriceAboveLimit(field, above or self._above(price_fen, cost_fen))

    def _above(self, price_fen: int, cost_fen: int) -> str:
        return (
            f"{format_money(price_fen)} exceeds {self.factor} x the cost price "
            f"{format_money(cost_fen)} (limit {format_money(self.ceiling(cost_fen))})"
        )


@dataclass(frozen=True)
class PriceChain:
    """The cost prices of a sale's lineage, from the platform's direct agent down to the seller.

    Each agent's cost was within the band of its upline's when it was set; an upline may have
    changed its own cost since, so a sale checks the whole chain again before it is placed.
    """

    links: tuple[tuple[str, int], ...]
    limit: PriceLimit

    @classmethod
    def of(cls, costs: Iterable[tuple[str, int]], limit: PriceLimit) -> "PriceChain":
        return cls(tuple(costs), limit)

    def check(self) -> None:
        for (upper, upper_cost), (lower, lower_cost) in zip(
            self.links, self.links[1:], strict=False
        ):
            if self.limit.breach(lower_cost, upper_cost) is not None:
                # Refuse the sale rather than sell at a price the menu would not allow today.
                raise PriceRefused(
                    "agentCode",
                    f"the cost price of '{lower}' is no longer within 1-{self.limit.factor}x"
                    f" its upline '{upper}'s cost; fix the price menu first",
                )

    def as_list(self) -> list[tuple[str, int]]:
        return list(self.links)
