"""LONG_TERM (长期分佣): paid only from a carrier settlement row, a share (`rate`) of the carrier's
total commission for the card or a fixed `amount` per row, when the card is activated, has
recharged at least the threshold, is in network status NORMAL and is 三无. Its lines have no
hold: they go straight to "unfreeze requested" (still needing finance's approval)."""

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field, StrictInt, model_validator

from domain.money import format_money
from domain.rules.base import ZERO, BaseRule, MoneyText, RateText, rule_money, rule_rate
from domain.rules.facts import SettlementFacts
from domain.rules.line import CommissionLine, build_line
from domain.rules.value_tiers import ValueTierMixin, ValueTiers, ladder


class LongTermRule(ValueTierMixin, BaseRule):
    """长期分佣, paid only from a carrier settlement row: a share (`rate`) of the carrier's total
    commission for the card, or a fixed `amount` per row, when the card is activated, has
    recharged at least the threshold, is in network status NORMAL, and is 三无."""

    kind: Literal["LONG_TERM"]
    rate: RateText | None = None
    amount: MoneyText | None = None
    recharge_threshold: MoneyText = Field(default="0.00", alias="rechargeThreshold")
    recharge: Literal["FIRST", "CUMULATIVE"] = "CUMULATIVE"
    # Combined commission: long-term starts after a date, or after the card used N periods.
    starts_at: AwareDatetime | None = Field(default=None, alias="startsAt")
    after_periods: Annotated[StrictInt, Field(ge=1, le=1200)] | None = Field(
        default=None, alias="afterPeriods"
    )
    # When the rules would pay out more than the carrier paid: refuse the row, or cap the lines.
    overflow: Literal["REFUSE", "CAP"] = "REFUSE"
    # Imported settlements go straight to "unfreeze requested": there is no hold.
    hold_days: Annotated[StrictInt, Field(alias="holdDays", ge=0, le=0)] = 0
    # Value tiers: the rate (or amount) by the agent's active cards in the settled month.
    tiers: ValueTiers | None = None

    reacts_to_facts = (SettlementFacts,)
    unfreezes_on_accrual = True

    @model_validator(mode="after")
    def _one_of(self) -> "LongTermRule":
        if (self.rate is None) == (self.amount is None):
            raise ValueError("a LONG_TERM rule gives exactly one of 'rate' and 'amount'")
        self.check_value_tiers()
        return self

    @property
    def tiers_by_rate(self) -> bool:
        return self.rate is not None

    def max_rate(self) -> Decimal:
        if self.rate is None:
            return ZERO
        rates = [rule_rate(self.rate)]
        if self.tiers is not None:
            rates += [value for _, value in ladder(self.tiers, by_rate=True)]
        return max(rates)

    @property
    def refuses_overflow(self) -> bool:
        return self.overflow == "REFUSE"

    def lines(self, fact: SettlementFacts, plan: Any) -> list[CommissionLine]:
        if long_term_conditions(self, fact):
            return []
        facts: dict[str, Any] = {
            "rowId": fact.row_id,
            "period": fact.period,
            "carrierTotal": format_money(fact.total_fen),
            "networkStatus": fact.network_status,
            "threeNo": True,
        }
        total = fact.total_fen
        value: Any = rule_rate(self.rate) if self.rate is not None else rule_money(self.amount)
        if (tiered := self.tiered_value(fact.month_counts)) is not None:
            value, tier_facts = tiered
            facts.update(tier_facts)
        if self.rate is not None:
            line = build_line(plan, self, fact, fact.agent_code, total, facts, rate=value)
        else:
            line = build_line(plan, self, fact, fact.agent_code, total, facts, amount=value)
        return [line] if line else []


def long_term_conditions(rule: LongTermRule, row: SettlementFacts) -> list[str]:
    """The conditions of a long-term rule that the row does not meet (empty = it pays)."""
    failed = row.carrier_conditions_failed()
    recharge = row.first_recharge_fen if rule.recharge == "FIRST" else row.total_recharge_fen
    if (recharge or 0) < rule_money(rule.recharge_threshold):
        failed.append(f"{rule.recharge.lower()} recharge below {rule.recharge_threshold}")
    if rule.starts_at is not None and row.effective_at < rule.starts_at:
        failed.append(f"long-term starts at {rule.starts_at.isoformat()}")
    if rule.after_periods is not None and (row.periods_used or 0) < rule.after_periods:
        failed.append(f"card has used fewer than {rule.after_periods} package periods")
    return failed
