"""What every rule kind answers, and the fields every rule has.

A kind is a frozen pydantic model with `kind: Literal["..."]` (the discriminator of a plan
document) that subclasses `BaseRule` and answers its questions: the facts it reacts to, the lines
it pays for them, its overlap key, what it needs of the ledger (levels, a wallet-paid first
purchase, month re-rating, an unfreeze request at once) and its words for an explanation.
The defaults below are what most kinds answer; a kind overrides only where it differs.
"""

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from functools import cached_property
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from domain.money import (
    MAX_AMOUNT_FEN,
    ONE,
    format_money,
    parse_money,
    parse_multiplier,
    parse_rate,
)
from domain.values import CodeText, is_stored

if TYPE_CHECKING:
    from domain.rules.line import CommissionLine
    from domain.rules.plans import PlanVersion

DEFAULT_HOLD_DAYS = 7
MAX_LEVELS = 3  # SPEC §7: more than 3 commission levels is pyramid selling
ZERO = Decimal(0)


def rule_money(value: object) -> int:
    """An amount of a parsed document: checked against the largest amount when the document
    was defined (`_valid_money`), read back as it was accepted."""
    return parse_money(value, field="rules", limit=None)


def rule_rate(value: object) -> Decimal:
    return parse_rate(value, field="rules")


def _valid_money(text: str, info: ValidationInfo) -> str:
    limit = None if is_stored(info) else MAX_AMOUNT_FEN  # a stored plan loads as it was accepted
    parse_money(text, field="rules", limit=limit)
    return text


def _valid_rate(text: str) -> str:
    rule_rate(text)
    return text


# An amount or a rate as a plan document writes it (the text is what is stored), checked when
# parsed: a malformed one is refused with INVALID_MONEY / INVALID_RATE.
MoneyText = Annotated[StrictStr, AfterValidator(_valid_money)]
RateText = Annotated[StrictStr, AfterValidator(_valid_rate)]


def percent(rate_text: str) -> str:
    return f"{(Decimal(rate_text) * 100).normalize():f}%"


class BaseRule(BaseModel):
    """The fields common to every kind (docs/rules.md, "Common fields") and the protocol.

    Subclasses declare `kind: Literal["KIND"]` themselves: the base declares no `kind` field, so
    that the fields of a stored plan document keep their order (dump_rules is byte-stable)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    code: CodeText
    packages: list[CodeText] = Field(default_factory=list)
    # Scope by the beneficiary's agent level (grade) code; empty = every agent.
    agent_levels: list[CodeText] = Field(default_factory=list, alias="agentLevels")
    hold_days: Annotated[StrictInt, Field(alias="holdDays", ge=0, le=3650)] = DEFAULT_HOLD_DAYS
    # A time-window bonus (holiday x 1.2): applies to facts with from <= effective time < to.
    multiplier: StrictStr | None = None
    window_from: AwareDatetime | None = Field(default=None, alias="from")
    window_to: AwareDatetime | None = Field(default=None, alias="to")
    # When a card's carrier conditions fail (停机 / 欠费 / 销户 / 投诉) after its line was released:
    # take it back (clawed back, as debt if need be). Unset: released lines stand (decision 0029).
    claw_back_after_release: StrictBool | None = Field(default=None, alias="clawBackAfterRelease")

    if TYPE_CHECKING:
        kind: str

    # -- the protocol: what the engine and the ledger ask of a rule -------------------------------
    # The fact types (domain/rules/facts.py) the kind pays on; none for a kind that only names
    # lines another part pays (PRICE_DIFFERENCE).
    reacts_to_facts: ClassVar[tuple[type, ...]] = ()
    # The line facts its words already say (left out of the explanation's "facts:" list).
    explained_facts: ClassVar[frozenset[str]] = frozenset()
    # Its card's first purchase must be paid from the agent's wallet (flow 2), so the ledger
    # sees the recharge that the commission depends on.
    needs_wallet_first_purchase: ClassVar[bool] = False
    # Its lines go straight to "unfreeze requested" when accrued (no hold to wait for).
    unfreezes_on_accrual: ClassVar[bool] = False

    def reacts_to(self, fact: Any) -> bool:
        """Whether the rule may pay on this fact (its type and the rule's packages)."""
        return isinstance(fact, self.reacts_to_facts) and self.applies_to(fact.package_code)

    def lines(self, fact: Any, plan: "PlanVersion") -> list["CommissionLine"]:
        """The lines the rule pays on a fact it reacts to (domain.rules.line builds each)."""
        return []

    @property
    def overlap_key(self) -> tuple[str, ...]:
        """Rules of the same key in two plans pay for the same thing: both in force would pay
        twice. (Within one version, several rules of a kind are the author's explicit choice.)"""
        return (self.kind, "", "")

    @property
    def uses_levels(self) -> bool:
        """Whether the rule needs the agents' levels (grades)."""
        return bool(self.agent_levels)

    @property
    def rerates_month(self) -> bool:
        """Whether a change of the month's volume re-prices the month's earlier sales."""
        return False

    @property
    def refuses_overflow(self) -> bool:
        """Whether a carrier settlement it would overpay is refused rather than capped."""
        return False

    @classmethod
    def words(cls, line: Mapping[str, Any]) -> str:
        """The line in words: what it pays and how (the start of its explanation). `line` is a
        commission line as the read model returns it."""
        name, amount = str(line["kind"]).lower(), format_money(line["original_fen"])
        if line.get("rate"):
            return f"{name} {amount} = {percent(line['rate'])} x {format_money(line['base_fen'])}"
        return f"{name} {amount}"

    # -- the common fields' meaning ---------------------------------------------------------------
    @field_validator("multiplier")
    @classmethod
    def _check_multiplier(cls, v: str | None) -> str | None:
        if v is not None:
            parse_multiplier(v, field="rules")
        return v

    @model_validator(mode="after")
    def _check_window(self) -> "BaseRule":
        if self.multiplier is None and (self.window_from or self.window_to):
            raise ValueError("'from'/'to' bound a multiplier: give 'multiplier' too")
        if self.window_from and self.window_to and self.window_from >= self.window_to:
            raise ValueError("'from' must be before 'to'")
        if self.max_rate() * self.max_factor() > ONE:
            raise ValueError("a rate times its multiplier must stay within 0-100%")
        return self

    def applies_to(self, package_code: str | None) -> bool:
        return not self.packages or package_code in self.packages

    def in_scope(self, package_code: str | None, level: str | None) -> bool:
        if not self.applies_to(package_code):
            return False
        return not self.agent_levels or level in self.agent_levels

    def max_factor(self) -> Decimal:
        return self.multiplier_value

    @cached_property
    def multiplier_value(self) -> Decimal:
        return parse_multiplier(self.multiplier) if self.multiplier else ONE

    def factor(self, at: datetime) -> Decimal:
        """The multiplier in force at `at` (1 outside the window)."""
        if self.multiplier is None:
            return ONE
        if self.window_from is not None and at < self.window_from:
            return ONE
        if self.window_to is not None and at >= self.window_to:
            return ONE
        return self.multiplier_value

    def max_rate(self) -> Decimal:
        """The highest rate the rule can apply (for the 0-100% check with a multiplier)."""
        return ZERO


class OneRateRule(BaseRule):
    """A rule that pays one rate of a base."""

    rate: RateText

    @cached_property
    def rate_decimal(self) -> Decimal:
        return rule_rate(self.rate)

    def max_rate(self) -> Decimal:
        return self.rate_decimal


class SharesABase:
    """Mixed into kinds that pay a share of a sale's `base` (put it first among the bases): two
    such rules overlap only when they pay on the same base."""

    if TYPE_CHECKING:  # declared by the kind's model; a mixin must not add model fields
        kind: str
        base: StrEnum

    @property
    def overlap_key(self) -> tuple[str, ...]:
        return (self.kind, "", str(self.base))
