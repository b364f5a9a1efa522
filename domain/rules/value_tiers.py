"""Tiers that change the value of a ONE_TIME or LONG_TERM commission (seed 004: 阶梯分佣基于一次性
佣金以及长期佣金之上,当到达某个条件后,变更分佣值), beside TIERED, which pays lines of its own.

The metric is seed 004's own activation (阶梯分佣的激活): a card of the agent counts once, in the
business month of the fact that makes it real-name activated with its first (or cumulative)
recharge at the rule's `rechargeThreshold`, while its network status is normal (not reported
stopped or cancelled). The commission policy counts it in the agent's MonthlyVolume under the
rule's metric key; a rule reads the count of its month: a one-time line the month of the fact
that pays it (the card itself included), a long-term line the settled period's month.

A tier reached in the middle of a month values the lines accrued from then on (the fact that
reaches it included); lines accrued before keep their value (decision 0029).
"""

from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from domain.rules.base import MoneyText, RateText, rule_money, rule_rate
from domain.rules.facts import CardFacts

Ladder = list[tuple[int | None, Any]]  # (inclusive upper bound, amount fen or rate)

# A card is not "in network normally" when the carrier reported it stopped or cancelled.
NOT_IN_NETWORK = frozenset({"stopped", "cancelled"})


class ValueTier(BaseModel):
    """From the previous tier's bound (exclusive) up to `upTo` (inclusive) active cards in the
    month, the commission is `amount` (or `rate`); the last tier has `upTo: null`."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    up_to: Annotated[StrictInt, Field(ge=1)] | None = Field(default=None, alias="upTo")
    amount: MoneyText | None = None
    rate: RateText | None = None


ValueTiers = Annotated[list[ValueTier], Field(min_length=1, max_length=20)]


def ladder(tiers: list[ValueTier], by_rate: bool) -> Ladder:
    """The tiers as (bound, value), ascending; raises ValueError on a malformed ladder."""
    parsed: Ladder = []
    previous = 0
    for i, tier in enumerate(tiers):
        last = i == len(tiers) - 1
        if (tier.up_to is None) != last:
            raise ValueError("every tier but the last needs 'upTo'; the last has upTo null")
        if tier.up_to is not None:
            if tier.up_to <= previous:
                raise ValueError("tier bounds must be positive and ascending")
            previous = tier.up_to
        if by_rate:
            if tier.rate is None or tier.amount is not None:
                raise ValueError("tiers of a rule with a 'rate' give a 'rate' (and no 'amount')")
            parsed.append((tier.up_to, rule_rate(tier.rate)))
        else:
            if tier.amount is None or tier.rate is not None:
                raise ValueError("tiers of a rule with an 'amount' give an 'amount' (no 'rate')")
            parsed.append((tier.up_to, rule_money(tier.amount)))
    return parsed


def value_at(tiers: Ladder, count: int) -> tuple[int, Any]:
    """The tier (0-based) a month's count of active cards falls in, and its value."""
    for i, (upper, value) in enumerate(tiers):
        if upper is None or count <= upper:
            return i, value
    return len(tiers) - 1, tiers[-1][1]  # pragma: no cover - the last tier is unbounded


class ValueTierMixin:
    """Mixed into ONE_TIME and LONG_TERM (put it first among the bases): what their optional
    `tiers` mean. The kinds declare the field (a mixin must not add model fields) and call
    `check_value_tiers` from a validator."""

    if TYPE_CHECKING:
        tiers: list[ValueTier] | None
        recharge: str
        recharge_threshold: str

    def check_value_tiers(self) -> None:
        if self.tiers is not None:
            ladder(self.tiers, by_rate=self.tiers_by_rate)

    @property
    def tiers_by_rate(self) -> bool:
        return False

    @property
    def active_metric(self) -> str | None:
        """The key the agent's monthly count of active cards is kept under for this rule (one
        per recharge mode and threshold), or None: the rule has no tiers."""
        if self.tiers is None:
            return None
        return active_metric(self.recharge, rule_money(self.recharge_threshold))

    def tiered_value(self, counts: Any) -> tuple[Any, dict[str, Any]] | None:
        """The value of the tier the month's count has reached, with the facts to record on
        the line; None without tiers."""
        metric = self.active_metric
        if metric is None or self.tiers is None:
            return None
        count = counts.get(metric, 0)
        index, value = value_at(ladder(self.tiers, self.tiers_by_rate), count)
        return value, {"activeCards": count, "tier": index + 1}


def active_metric(recharge: str, threshold_fen: int) -> str:
    return f"ACTIVE_CARDS:{recharge}:{threshold_fen}"


def parse_metric(metric: str) -> tuple[str, int]:
    _, recharge, threshold = metric.split(":")
    return recharge, int(threshold)


def becomes_active(
    card: CardFacts, metric: str, *, activated_now: bool, recharged_fen: int | None
) -> bool:
    """Whether the fact that made `card` as it is (an activation, or a recharge of
    `recharged_fen`) is the one that makes it count under `metric`: real-name activated, its
    first / cumulative recharge at the threshold, in network normally. Each card meets it at one
    fact only (activation and recharges only add), so it counts at most once."""
    recharge, threshold = parse_metric(metric)
    if not card.activated or NOT_IN_NETWORK & set(card.conditions_failed):
        return False
    reached = card.first_recharge_fen if recharge == "FIRST" else card.total_recharge_fen
    if reached is None or reached < threshold:
        return False
    if activated_now:
        return True  # the recharges reached it before: the activation completes it
    if recharged_fen is None:
        return False
    if recharge == "FIRST":
        return card.total_recharge_fen == recharged_fen  # this recharge is the first
    return card.total_recharge_fen - recharged_fen < threshold  # this recharge crossed it
