"""TIERED (阶梯): Stripe's tiers over the agent's monthly volume. Sales tiers (SALES_AMOUNT) pay a
rate on each sale; count tiers (PICKUP_COUNT, ACTIVATION_COUNT) an amount per card counted.
`graduated` prices each part of the volume at its tier's rate; `volume` prices the whole sale at
the tier the volume has reached. RERATE_MONTH re-prices the month's earlier sales too."""

from decimal import Decimal
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, model_validator

from domain.money import format_money, rate_to_str
from domain.rules.base import ZERO, BaseRule, MoneyText, rule_money, rule_rate
from domain.rules.facts import CardVolumeFacts, Metric, SaleFacts
from domain.rules.line import CommissionLine, build_line
from domain.rules.plans import PlanVersion

TierTable = list[tuple[int | None, Decimal | None, int | None]]


class Tier(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    up_to: StrictStr | StrictInt | None = Field(default=None, alias="upTo")
    rate: StrictStr | None = None
    amount: MoneyText | None = None  # paid per card: at most the largest amount


class TieredRule(BaseRule):
    """Stripe's tiers over the agent's monthly volume: `graduated` prices each part of the volume
    at its tier's rate; `volume` prices the whole sale at the tier the volume has reached."""

    kind: Literal["TIERED"]
    metric: Metric = Metric.SALES_AMOUNT
    mode: Literal["graduated", "volume"] = "volume"
    tiers: Annotated[list[Tier], Field(min_length=1, max_length=20)]
    # When the month's volume changes tier: NEXT_COMMISSION prices the sales from then on at the
    # new tier; RERATE_MONTH also re-rates the month's earlier sales with correcting lines.
    effect: Literal["NEXT_COMMISSION", "RERATE_MONTH"] = "NEXT_COMMISSION"

    @model_validator(mode="after")
    def _check_tiers(self) -> "TieredRule":
        self.parsed_tiers()  # raises ValueError on a malformed ladder
        if self.effect == "RERATE_MONTH" and (
            self.mode != "volume" or self.metric != Metric.SALES_AMOUNT
        ):
            raise ValueError(
                "effect RERATE_MONTH re-rates sales amounts in mode 'volume' (graduated tiers "
                "already price each part of the volume at its own tier)"
            )
        return self

    def reacts_to(self, fact: Any) -> bool:
        """Sales tiers pay on sales, count tiers on the cards counted by their metric."""
        if isinstance(fact, CardVolumeFacts):
            counted = fact.metric == self.metric
        else:
            counted = isinstance(fact, SaleFacts) and self.metric == Metric.SALES_AMOUNT
        return counted and self.applies_to(fact.package_code)

    def lines(self, fact: Any, plan: Any) -> list[CommissionLine]:
        if isinstance(fact, CardVolumeFacts):
            line = self._card_line(fact, plan)
        else:
            line = self._sale_line(fact, plan)
        return [line] if line else []

    @property
    def overlap_key(self) -> tuple[str, ...]:
        return (self.kind, str(self.metric), "")

    @property
    def rerates_month(self) -> bool:
        return self.effect == "RERATE_MONTH"

    @cached_property
    def tier_table(self) -> TierTable:
        """parsed_tiers(), parsed once per rule."""
        return self.parsed_tiers()

    def parsed_tiers(self) -> TierTable:
        """[(upper bound inclusive or None, rate, amount per unit)], ascending."""
        sales = self.metric == Metric.SALES_AMOUNT
        parsed: TierTable = []
        previous = 0
        for i, tier in enumerate(self.tiers):
            last = i == len(self.tiers) - 1
            if (tier.up_to is None) != last:
                raise ValueError("every tier but the last needs 'upTo'; the last has upTo null")
            upper: int | None = None
            if tier.up_to is not None:
                if sales:
                    if not isinstance(tier.up_to, str):
                        raise ValueError("SALES_AMOUNT tiers give 'upTo' as money ('100000.00')")
                    upper = rule_money(tier.up_to)
                else:
                    if type(tier.up_to) is not int:
                        raise ValueError("count tiers give 'upTo' as an integer count")
                    upper = tier.up_to
                if upper <= previous:
                    raise ValueError("tier bounds must be positive and ascending")
                previous = upper
            if sales:
                if tier.rate is None or tier.amount is not None:
                    raise ValueError("SALES_AMOUNT tiers give a 'rate' (and no 'amount')")
                parsed.append((upper, rule_rate(tier.rate), None))
            else:
                if tier.amount is None or tier.rate is not None:
                    raise ValueError("count tiers give an 'amount' per card (and no 'rate')")
                parsed.append((upper, None, rule_money(tier.amount)))
        return parsed

    def max_rate(self) -> Decimal:
        return max((t[1] for t in self.parsed_tiers() if t[1] is not None), default=ZERO)

    def _sale_line(self, sale: SaleFacts, plan: Any) -> CommissionLine | None:
        tiers = self.tier_table
        before = sale.month_sales_before_fen
        after = before + sale.paid_fen
        facts: dict[str, Any] = {
            "metric": self.metric,
            "mode": self.mode,
            "monthVolumeBefore": format_money(before),
            "monthVolumeAfter": format_money(after),
        }
        seller, paid = sale.seller_code, sale.paid_fen
        if self.mode == "volume":
            index = tier_for(tiers, after)
            facts["tier"] = index + 1
            return build_line(plan, self, sale, seller, paid, facts, rate=tiers[index][1])
        segments = tier_segments(tiers, before, after)
        facts["segments"] = [
            {"from": format_money(lo), "to": format_money(hi), "rate": rate_to_str(r)}
            for lo, hi, r in segments
        ]
        if len({r for _, _, r in segments}) == 1:  # one tier only: an ordinary rate line
            return build_line(plan, self, sale, seller, paid, facts, rate=segments[0][2])
        # The exact sum of the parts, rounded half-up once for the line.
        exact = sum((Decimal(hi - lo) * r for lo, hi, r in segments), ZERO)
        return build_line(plan, self, sale, seller, paid, facts, amount=exact)

    def _card_line(self, counted: CardVolumeFacts, plan: Any) -> CommissionLine | None:
        """Each card counted pays the amount of the tier the agent's monthly count has reached
        with it (from the next commission on)."""
        tiers = self.tier_table
        index = tier_for(tiers, counted.count_after)
        unit = tiers[index][2] or 0
        facts: dict[str, Any] = {
            "metric": counted.metric,
            "mode": self.mode,
            "monthCount": counted.count_after,
            "tier": index + 1,
            "perCard": format_money(unit),
        }
        return build_line(plan, self, counted, counted.agent_code, 0, facts, amount=unit)


def tier_segments(tiers: TierTable, before: int, after: int) -> list[tuple[int, int, Decimal]]:
    """The parts of the volume interval (before, after] that fall in each rate tier."""
    segments = []
    lower = 0
    for upper, tier_rate, _ in tiers:
        lo = max(before, lower)
        hi = after if upper is None else min(after, upper)
        if hi > lo and tier_rate is not None:
            segments.append((lo, hi, tier_rate))
        if upper is None or upper >= after:
            break
        lower = upper
    return segments


def tier_for(tiers: TierTable, volume: int) -> int:
    """The index of the tier a volume falls in (bounds are inclusive, as in Stripe's `up_to`)."""
    for i, (upper, _, _) in enumerate(tiers):
        if upper is None or volume <= upper:
            return i
    return len(tiers) - 1  # pragma: no cover - the last tier is unbounded


def tier_changed(rule: TieredRule, before_fen: int, after_fen: int) -> bool:
    tiers = rule.tier_table
    return tier_for(tiers, before_fen) != tier_for(tiers, after_fen)


def rerated_line(
    sale: SaleFacts, plan: PlanVersion, rule: TieredRule, month_volume_fen: int
) -> CommissionLine | None:
    """A sale of the month (paid_fen: what is left of it after refunds) priced at the tier the
    month's volume is in now: what a RERATE_MONTH rule pays for it once the month is re-rated."""
    tiers = rule.tier_table
    index = tier_for(tiers, month_volume_fen)
    facts: dict[str, Any] = {
        "metric": rule.metric,
        "mode": rule.mode,
        "effect": rule.effect,
        "monthVolume": format_money(month_volume_fen),
        "tier": index + 1,
    }
    return build_line(
        plan, rule, sale, sale.seller_code, sale.paid_fen, facts, rate=tiers[index][1]
    )
