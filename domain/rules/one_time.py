"""ONE_TIME (一次性佣金): once per card and rule, when the card is activated (real-name) and its
first (or cumulative) recharge reaches the threshold; never more than the recharge on a traffic
card. The card's first purchase must then be paid from the wallet, where the ledger sees it."""

from collections.abc import Mapping
from functools import cached_property
from typing import Any, Literal

from pydantic import Field, model_validator

from domain.money import format_money
from domain.rules.base import BaseRule, MoneyText, rule_money
from domain.rules.facts import CardFacts
from domain.rules.line import CommissionLine, build_line
from domain.rules.value_tiers import ValueTierMixin, ValueTiers


class OneTimeRule(ValueTierMixin, BaseRule):
    kind: Literal["ONE_TIME"]
    amount: MoneyText
    recharge_threshold: MoneyText = Field(alias="rechargeThreshold")
    recharge: Literal["FIRST", "CUMULATIVE"] = "FIRST"
    # Value tiers: the amount by the agent's active cards in the month (value_tiers.py).
    tiers: ValueTiers | None = None

    @model_validator(mode="after")
    def _check_tiers(self) -> "OneTimeRule":
        self.check_value_tiers()
        return self

    reacts_to_facts = (CardFacts,)
    explained_facts = frozenset({"recharge", "threshold", "tier", "activeCards"})
    needs_wallet_first_purchase = True

    @cached_property
    def amount_fen(self) -> int:
        return rule_money(self.amount)

    @cached_property
    def threshold_fen(self) -> int:
        return rule_money(self.recharge_threshold)

    def lines(self, fact: CardFacts, plan: Any) -> list[CommissionLine]:
        if not fact.activated or fact.package_code is None:
            return []
        recharge = fact.first_recharge_fen if self.recharge == "FIRST" else fact.total_recharge_fen
        if recharge is None or recharge < self.threshold_fen:
            return []
        facts: dict[str, Any] = {
            "recharge": format_money(recharge),
            "threshold": self.recharge_threshold,
        }
        amount = self.amount_fen
        if (tiered := self.tiered_value(fact.month_counts)) is not None:
            amount, tier_facts = tiered
            facts.update(tier_facts)
        # Traffic cards: never more than was recharged.
        at_most = recharge if fact.package_kind == "TRAFFIC" else None
        line = build_line(
            plan,
            self,
            fact,
            fact.agent_code,
            recharge,
            facts,
            amount=amount,
            at_most=at_most,
        )
        return [line] if line else []

    @classmethod
    def words(cls, line: Mapping[str, Any]) -> str:
        if line.get("rate"):
            return super().words(line)
        facts = line.get("facts") or {}
        words = (
            f"one-time {format_money(line['original_fen'])}: recharge "
            f"{facts.get('recharge', format_money(line['base_fen']))}"
            f" reached the threshold {facts.get('threshold', '?')}"
        )
        if "tier" in facts:
            words += f"; tier {facts['tier']} at {facts.get('activeCards')} active cards"
        return words
