"""Commission rules as pure functions: facts -> commission lines.

A plan document is a list of rules (see docs/rules.md). Rules are parsed once into frozen models;
amounts in documents are money strings ('5.00'), rates decimal strings ('0.05' or '5%').
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from domain.errors import PlanRefused
from domain.money import (
    ONE,
    allocate,
    apply_rate,
    format_money,
    parse_money,
    parse_multiplier,
    parse_rate,
    rate_to_str,
)

DEFAULT_HOLD_DAYS = 7
PRICE_MENU_PLAN = "price-menu"  # the built-in plan that credits price differences
MAX_LEVELS = 3  # SPEC §7: more than 3 commission levels is pyramid selling
ZERO = Decimal(0)


class CommissionKind(StrEnum):
    PRICE_DIFFERENCE = "PRICE_DIFFERENCE"
    FIXED = "FIXED"
    PERCENTAGE = "PERCENTAGE"
    ONE_TIME = "ONE_TIME"
    MULTI_LEVEL = "MULTI_LEVEL"
    TIERED = "TIERED"
    LEVEL_DIFFERENCE = "LEVEL_DIFFERENCE"
    PEER_LEVEL = "PEER_LEVEL"
    LONG_TERM = "LONG_TERM"


# Kinds that SPEC §7 forbids (pyramid-selling features); refused with a clear error.
FORBIDDEN_KINDS = {"ENTRY_FEE", "LEVEL_PURCHASE", "MEMBERSHIP_FEE"}


class Base(StrEnum):
    COST_PRICE = "COST_PRICE"
    PAID_AMOUNT = "PAID_AMOUNT"


class Metric(StrEnum):
    SALES_AMOUNT = "SALES_AMOUNT"  # the agent's own completed sales in the month, net of refunds
    PICKUP_COUNT = "PICKUP_COUNT"  # cards distributed to the agent in the month (提货量)
    ACTIVATION_COUNT = "ACTIVATION_COUNT"  # cards activated (real-name, with a package) (激活量)


def _money(value: object) -> int:
    return parse_money(value, field="rules")


def _rate(value: object) -> Decimal:
    return parse_rate(value, field="rules")


class _Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    code: Annotated[str, Field(min_length=1, max_length=64)]
    packages: list[str] = Field(default_factory=list)
    # Scope by the beneficiary's agent level (grade) code; empty = every agent.
    agent_levels: list[str] = Field(default_factory=list, alias="agentLevels")
    hold_days: Annotated[StrictInt, Field(alias="holdDays", ge=0, le=3650)] = DEFAULT_HOLD_DAYS
    # A time-window bonus (holiday x 1.2): applies to facts with from <= effective time < to.
    multiplier: StrictStr | None = None
    window_from: AwareDatetime | None = Field(default=None, alias="from")
    window_to: AwareDatetime | None = Field(default=None, alias="to")

    @field_validator("multiplier")
    @classmethod
    def _check_multiplier(cls, v: str | None) -> str | None:
        if v is not None:
            parse_multiplier(v, field="rules")
        return v

    @model_validator(mode="after")
    def _check_window(self) -> "_Rule":
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


class PriceDifferenceRule(_Rule):
    kind: Literal["PRICE_DIFFERENCE"]

    @model_validator(mode="after")
    def _only_packages_and_hold(self) -> "PriceDifferenceRule":
        # The gaps of the price chain are what the agents charged: nothing scales or filters them.
        if self.multiplier is not None or self.agent_levels:
            raise ValueError(
                "a PRICE_DIFFERENCE rule pays the gaps of the price chain as they are: it takes "
                "'packages' and 'holdDays' only (no multiplier, no agentLevels)"
            )
        return self


class FixedRule(_Rule):
    kind: Literal["FIXED"]
    amount: StrictStr

    @field_validator("amount")
    @classmethod
    def _check_amount(cls, v: str) -> str:
        _money(v)
        return v

    @cached_property
    def amount_fen(self) -> int:
        return _money(self.amount)


class _OneRateRule(_Rule):
    """A rule that pays one rate of a base."""

    rate: StrictStr

    @field_validator("rate")
    @classmethod
    def _check_rate(cls, v: str) -> str:
        _rate(v)
        return v

    @cached_property
    def rate_decimal(self) -> Decimal:
        return _rate(self.rate)

    def max_rate(self) -> Decimal:
        return self.rate_decimal


class PercentageRule(_OneRateRule):
    kind: Literal["PERCENTAGE"]
    base: Base = Base.COST_PRICE


class OneTimeRule(_Rule):
    kind: Literal["ONE_TIME"]
    amount: StrictStr
    recharge_threshold: StrictStr = Field(alias="rechargeThreshold")
    recharge: Literal["FIRST", "CUMULATIVE"] = "FIRST"

    @field_validator("amount", "recharge_threshold")
    @classmethod
    def _check_money(cls, v: str) -> str:
        _money(v)
        return v

    @cached_property
    def amount_fen(self) -> int:
        return _money(self.amount)

    @cached_property
    def threshold_fen(self) -> int:
        return _money(self.recharge_threshold)


class MultiLevelRule(_Rule):
    """Level 1 = the seller's direct upline, level 2 = its upline, level 3 at most."""

    kind: Literal["MULTI_LEVEL"]
    levels: Annotated[list[StrictStr], Field(min_length=1, max_length=MAX_LEVELS)]
    base: Base = Base.PAID_AMOUNT

    @field_validator("levels")
    @classmethod
    def _check_levels(cls, v: list[str]) -> list[str]:
        for rate in v:
            _rate(rate)
        return v

    @cached_property
    def level_rates(self) -> list[Decimal]:
        return [_rate(r) for r in self.levels]

    def max_rate(self) -> Decimal:
        return max(self.level_rates)


class Tier(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    up_to: StrictStr | StrictInt | None = Field(default=None, alias="upTo")
    rate: StrictStr | None = None
    amount: StrictStr | None = None


class TieredRule(_Rule):
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

    @property
    def rerates(self) -> bool:
        return self.effect == "RERATE_MONTH"

    @cached_property
    def tier_table(self) -> list[tuple[int | None, Decimal | None, int | None]]:
        """parsed_tiers(), parsed once per rule."""
        return self.parsed_tiers()

    def parsed_tiers(self) -> list[tuple[int | None, Decimal | None, int | None]]:
        """[(upper bound inclusive or None, rate, amount per unit)], ascending."""
        sales = self.metric == Metric.SALES_AMOUNT
        parsed: list[tuple[int | None, Decimal | None, int | None]] = []
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
                    upper = _money(tier.up_to)
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
                parsed.append((upper, _rate(tier.rate), None))
            else:
                if tier.amount is None or tier.rate is not None:
                    raise ValueError("count tiers give an 'amount' per card (and no 'rate')")
                parsed.append((upper, None, _money(tier.amount)))
        return parsed

    def max_rate(self) -> Decimal:
        return max((t[1] for t in self.parsed_tiers() if t[1] is not None), default=ZERO)


class LevelDifferenceRule(_Rule):
    """级差: walking up from the seller, each upline earns its grade rate minus the highest
    grade rate below it (the seller's own grade rate counts as already paid)."""

    kind: Literal["LEVEL_DIFFERENCE"]
    rates: Annotated[dict[str, StrictStr], Field(min_length=1, max_length=50)]
    base: Base = Base.PAID_AMOUNT
    include_seller: StrictBool = Field(default=False, alias="includeSeller")
    max_depth: Annotated[StrictInt, Field(alias="maxDepth", ge=1, le=MAX_LEVELS)] = MAX_LEVELS

    @field_validator("rates")
    @classmethod
    def _check_rates(cls, v: dict[str, str]) -> dict[str, str]:
        for rate in v.values():
            _rate(rate)
        return v

    def grade_rate(self, level: str | None) -> Decimal:
        return self.grade_rates.get(level, ZERO) if level is not None else ZERO

    @cached_property
    def grade_rates(self) -> dict[str, Decimal]:
        return {level: _rate(rate) for level, rate in self.rates.items()}

    def max_rate(self) -> Decimal:
        return max(_rate(r) for r in self.rates.values())


class PeerLevelRule(_OneRateRule):
    """平级奖: the first upline (within maxDepth) of the seller's own grade earns rate x base."""

    kind: Literal["PEER_LEVEL"]
    base: Base = Base.PAID_AMOUNT
    max_depth: Annotated[StrictInt, Field(alias="maxDepth", ge=1, le=MAX_LEVELS)] = MAX_LEVELS


class LongTermRule(_Rule):
    """长期分佣, paid only from a carrier settlement row: a share (`rate`) of the carrier's total
    commission for the card, or a fixed `amount` per row, when the card is activated, has
    recharged at least the threshold, is in network status NORMAL, and is 三无."""

    kind: Literal["LONG_TERM"]
    rate: StrictStr | None = None
    amount: StrictStr | None = None
    recharge_threshold: StrictStr = Field(default="0.00", alias="rechargeThreshold")
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

    @field_validator("recharge_threshold", "amount")
    @classmethod
    def _check_money(cls, v: str | None) -> str | None:
        if v is not None:
            _money(v)
        return v

    @field_validator("rate")
    @classmethod
    def _check_rate(cls, v: str | None) -> str | None:
        if v is not None:
            _rate(v)
        return v

    @model_validator(mode="after")
    def _one_of(self) -> "LongTermRule":
        if (self.rate is None) == (self.amount is None):
            raise ValueError("a LONG_TERM rule gives exactly one of 'rate' and 'amount'")
        return self

    def max_rate(self) -> Decimal:
        return _rate(self.rate) if self.rate is not None else ZERO


Rule = Annotated[
    PriceDifferenceRule
    | FixedRule
    | PercentageRule
    | OneTimeRule
    | MultiLevelRule
    | TieredRule
    | LevelDifferenceRule
    | PeerLevelRule
    | LongTermRule,
    Field(discriminator="kind"),
]
_RULES = TypeAdapter(list[Rule])


def parse_rules(document: object) -> list[Rule]:
    """Validates a plan's rules document; refuses forbidden and malformed rules with a clear error."""
    if not isinstance(document, list) or not document:
        raise PlanRefused("rules", "rules must be a non-empty list of rule objects")
    for item in document:
        kind = item.get("kind") if isinstance(item, dict) else None
        if isinstance(kind, str) and kind in FORBIDDEN_KINDS:
            raise PlanRefused(
                "rules", f"commission on {kind} is refused (SPEC §7: pyramid selling)"
            )
        levels = item.get("levels") if isinstance(item, dict) else None
        if isinstance(levels, list) and len(levels) > MAX_LEVELS:
            raise PlanRefused("rules", "more than 3 commission levels is refused (SPEC §7)")
    try:
        rules = _RULES.validate_python(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        message = re.sub(r"^(Value|Assertion) error, ", "", first["msg"])
        raise PlanRefused("rules", f"rules[{where}]: {message}") from None
    codes = [r.code for r in rules]
    if len(codes) != len(set(codes)):
        raise PlanRefused("rules", "rule codes must be unique within a plan")
    return rules


def dump_rules(rules: list[Rule]) -> list[dict[str, Any]]:
    dumped = []
    for rule in rules:
        document = rule.model_dump(by_alias=True, mode="json", exclude_none=True)
        if not document.get("agentLevels"):
            document.pop("agentLevels", None)
        dumped.append(document)
    return dumped


@dataclass(frozen=True)
class PlanVersion:
    """One version of a plan. An ordinary version is in force from `effective_from` on; a
    correction only over [effective_from, effective_to), and also for facts processed before it
    was recorded (the commission policy adjusts those)."""

    code: str
    version: int
    effective_from: datetime
    rules: tuple[Any, ...]
    effective_to: datetime | None = None
    correction: bool = False

    def covers(self, at: datetime) -> bool:
        return self.effective_from <= at and (self.effective_to is None or at < self.effective_to)


def versions_in_force(plans: list[list[PlanVersion]], at: datetime) -> list[PlanVersion]:
    """For each plan, the most recently defined version that covers `at`: a later version
    supersedes an earlier one wherever both would apply."""
    chosen = []
    for versions in plans:
        eligible = [v for v in versions if v.covers(at)]
        if eligible:
            chosen.append(max(eligible, key=lambda v: v.version))
    return chosen


def _scope_key(rule: Any) -> tuple[str, ...]:
    """Rules of the same key in two plans pay for the same thing: both in force would pay twice.
    (Within one version, several rules of a kind are the author's explicit choice.)"""
    return (rule.kind, str(getattr(rule, "metric", "")), str(getattr(rule, "base", "")))


def _scopes_meet(a: Any, b: Any) -> bool:
    def meet(x: list[str], y: list[str]) -> bool:
        return not x or not y or bool(set(x) & set(y))  # empty = every package / level

    return meet(a.packages, b.packages) and meet(a.agent_levels, b.agent_levels)


def _winners(versions: list[PlanVersion]) -> list[tuple[datetime, datetime | None, PlanVersion]]:
    """The plan's timeline: each stretch [start, end) and the version in force over it."""
    edges = sorted(
        {v.effective_from for v in versions} | {v.effective_to for v in versions if v.effective_to}
    )
    timeline = []
    for i, start in enumerate(edges):
        end = edges[i + 1] if i + 1 < len(edges) else None
        if in_force := versions_in_force([versions], start):
            timeline.append((start, end, in_force[0]))
    return timeline


def overlapping_rules(candidate: PlanVersion, others: list[PlanVersion]) -> str | None:
    """Why the candidate may not be defined, or None: one of its rules pays the same kind (and
    base or metric) for an overlapping scope (packages, agent levels) as a rule of another plan
    in force at the same time."""
    rules = list(candidate.rules)
    by_code: dict[str, list[PlanVersion]] = {}
    for v in others:
        by_code.setdefault(v.code, []).append(v)
    for versions in by_code.values():
        for start, end, version in _winners(versions):
            if not _periods_meet(candidate, start, end):
                continue
            for rule in rules:
                for other in version.rules:
                    if _scope_key(rule) == _scope_key(other) and _scopes_meet(rule, other):
                        return (
                            f"rule '{rule.code}' overlaps rule '{other.code}' of plan "
                            f"{version.code} version {version.version} (in force from "
                            f"{start.isoformat()}): both pay {rule.kind} for the same packages "
                            "and agent levels at the same time"
                        )
    return None


def _periods_meet(candidate: PlanVersion, start: datetime, end: datetime | None) -> bool:
    starts_before_end = end is None or candidate.effective_from < end
    ends_after_start = candidate.effective_to is None or start < candidate.effective_to
    return starts_before_end and ends_after_start


# ---- facts and lines ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SaleFacts:
    """What a completed order tells the rules. chain: (agent_code, cost_fen) from the platform down.

    grades: agent code -> level code as known when the sale was processed;
    month_sales_before_fen: the seller's sales in the sale's month before this sale (tiers)."""

    order_id: str
    package_code: str
    seller_code: str
    buyer_code: str | None
    flow: str
    chain: tuple[tuple[str, int], ...]
    retail_fen: int | None
    paid_fen: int
    effective_at: datetime
    grades: Mapping[str, str] = field(default_factory=dict)
    month_sales_before_fen: int = 0

    @property
    def uplines(self) -> list[str]:
        """Level 1 (direct upline) first, as recorded on the order when it was placed."""
        return [code for code, _ in reversed(self.chain[:-1])]

    def base(self, base: Base) -> int:
        return self.chain[-1][1] if base == Base.COST_PRICE else self.paid_fen


@dataclass(frozen=True)
class CardFacts:
    iccid: str
    package_code: str | None
    package_kind: str | None
    agent_code: str
    activated: bool
    first_recharge_fen: int | None
    total_recharge_fen: int
    effective_at: datetime
    grades: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CardVolumeFacts:
    """A card counted towards its agent's monthly pickup or activation volume."""

    iccid: str
    package_code: str | None
    agent_code: str
    metric: Metric
    count_after: int  # the agent's count in the month, this card included
    effective_at: datetime
    grades: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SettlementFacts:
    """One row of a carrier's settlement: the carrier's total commission for a card and period,
    with the carrier-reported network status and 三无 flags, and the card as the ledger knows it."""

    row_id: str
    iccid: str
    period: str
    total_fen: int
    agent_code: str
    package_code: str | None
    activated: bool
    first_recharge_fen: int | None
    total_recharge_fen: int
    network_status: str
    no_arrears: bool
    no_suspension: bool
    no_complaint: bool
    periods_used: int | None
    effective_at: datetime
    grades: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CommissionLine:
    beneficiary: str
    kind: str
    amount_fen: int
    base_fen: int
    rate: str | None
    plan_code: str
    plan_version: int
    rule_code: str
    hold_days: int
    source: str  # the fact it pays for: an order id or an iccid
    order_id: str | None = None
    iccid: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)


def price_difference_lines(sale: SaleFacts, plans: list[PlanVersion]) -> list[CommissionLine]:
    """Flow 1 credits each level of the price chain the gap to the next price below it."""
    if sale.flow != "CUSTOMER_PAYS" or sale.retail_fen is None:
        prices_below = [cost for _, cost in sale.chain[1:]]
    else:
        prices_below = [cost for _, cost in sale.chain[1:]] + [sale.retail_fen]
    plan_code, version, rule_code, hold = _price_difference_rule(sale, plans)
    lines = []
    for (agent_code, cost), sold_at in zip(sale.chain, prices_below, strict=False):
        amount = sold_at - cost
        if amount <= 0 or agent_code == sale.buyer_code:
            continue
        lines.append(
            CommissionLine(
                beneficiary=agent_code,
                kind=CommissionKind.PRICE_DIFFERENCE,
                amount_fen=amount,
                base_fen=sold_at,
                rate=None,
                plan_code=plan_code,
                plan_version=version,
                rule_code=rule_code,
                hold_days=hold,
                source=sale.order_id,
                order_id=sale.order_id,
                facts={"soldAt": format_money(sold_at), "costPrice": format_money(cost)},
            )
        )
    return lines


def _price_difference_rule(sale: SaleFacts, plans: list[PlanVersion]) -> tuple[str, int, str, int]:
    for plan in plans:
        for rule in plan.rules:
            if isinstance(rule, PriceDifferenceRule) and rule.applies_to(sale.package_code):
                return plan.code, plan.version, rule.code, rule.hold_days
    return PRICE_MENU_PLAN, 1, "price-difference", DEFAULT_HOLD_DAYS


def _sale_line(
    sale: SaleFacts,
    plan: PlanVersion,
    rule: Any,
    beneficiary: str,
    base_fen: int,
    rate: Decimal | None,
    facts: dict[str, Any],
    amount_fen: int | Decimal | None = None,
) -> CommissionLine | None:
    """One line of a sale: rate x base (or a given amount), times the window multiplier, half-up.
    None when nothing is owed: out of scope, the buyer's own purchase, or a zero amount."""
    if beneficiary == sale.buyer_code:
        return None  # never on the buyer's own purchase (self-purchase)
    if not rule.in_scope(sale.package_code, sale.grades.get(beneficiary)):
        return None
    factor = rule.factor(sale.effective_at)
    if rate is not None:
        rate = rate * factor
        amount = apply_rate(base_fen, rate)
    else:
        assert amount_fen is not None
        amount = apply_rate(1, Decimal(amount_fen) * factor)  # exact until this one rounding
    if amount <= 0:
        return None
    if factor != ONE:
        facts = {**facts, "multiplier": rate_to_str(factor)}
    return CommissionLine(
        beneficiary=beneficiary,
        kind=rule.kind,
        amount_fen=amount,
        base_fen=base_fen,
        rate=rate_to_str(rate) if rate is not None else None,
        plan_code=plan.code,
        plan_version=plan.version,
        rule_code=rule.code,
        hold_days=rule.hold_days,
        source=sale.order_id,
        order_id=sale.order_id,
        facts={**facts, "paid": format_money(sale.paid_fen)},
    )


def _fixed_or_percentage(sale: SaleFacts, plan: PlanVersion, rule: Any) -> list[CommissionLine]:
    if isinstance(rule, FixedRule):
        line = _sale_line(sale, plan, rule, sale.seller_code, 0, None, {}, rule.amount_fen)
    else:
        base = sale.base(rule.base)
        line = _sale_line(
            sale, plan, rule, sale.seller_code, base, rule.rate_decimal, {"base": rule.base}
        )
    return [line] if line else []


def _multi_level(sale: SaleFacts, plan: PlanVersion, rule: MultiLevelRule) -> list[CommissionLine]:
    base = sale.base(rule.base)
    lines = []
    for level, (upline, rate) in enumerate(zip(sale.uplines, rule.level_rates, strict=False), 1):
        facts = {"base": rule.base, "level": level, "seller": sale.seller_code}
        if line := _sale_line(sale, plan, rule, upline, base, rate, facts):
            lines.append(line)
    return lines


def tier_segments(
    tiers: list[tuple[int | None, Decimal | None, int | None]], before: int, after: int
) -> list[tuple[int, int, Decimal]]:
    """The parts of the volume interval (before, after] that fall in each rate tier."""
    segments = []
    lower = 0
    for upper, rate, _ in tiers:
        lo = max(before, lower)
        hi = after if upper is None else min(after, upper)
        if hi > lo and rate is not None:
            segments.append((lo, hi, rate))
        if upper is None or upper >= after:
            break
        lower = upper
    return segments


def tier_for(tiers: list[tuple[int | None, Decimal | None, int | None]], volume: int) -> int:
    """The index of the tier a volume falls in (bounds are inclusive, as in Stripe's `up_to`)."""
    for i, (upper, _, _) in enumerate(tiers):
        if upper is None or volume <= upper:
            return i
    return len(tiers) - 1  # pragma: no cover - the last tier is unbounded


def _tiered_sale(sale: SaleFacts, plan: PlanVersion, rule: TieredRule) -> list[CommissionLine]:
    if rule.metric != Metric.SALES_AMOUNT:
        return []
    tiers = rule.tier_table
    before = sale.month_sales_before_fen
    after = before + sale.paid_fen
    facts: dict[str, Any] = {
        "metric": rule.metric,
        "mode": rule.mode,
        "monthVolumeBefore": format_money(before),
        "monthVolumeAfter": format_money(after),
    }
    if rule.mode == "volume":
        index = tier_for(tiers, after)
        rate = tiers[index][1]
        facts["tier"] = index + 1
        line = _sale_line(sale, plan, rule, sale.seller_code, sale.paid_fen, rate, facts)
        return [line] if line else []
    segments = tier_segments(tiers, before, after)
    exact = sum((Decimal(hi - lo) * rate for lo, hi, rate in segments), ZERO)
    facts["segments"] = [
        {"from": format_money(lo), "to": format_money(hi), "rate": rate_to_str(rate)}
        for lo, hi, rate in segments
    ]
    if len({rate for _, _, rate in segments}) == 1:
        # One tier only: an ordinary rate line.
        rate = segments[0][2]
        line = _sale_line(sale, plan, rule, sale.seller_code, sale.paid_fen, rate, facts)
        return [line] if line else []
    # The exact sum of the parts, rounded half-up once for the line.
    line = _sale_line(sale, plan, rule, sale.seller_code, sale.paid_fen, None, facts, exact)
    return [line] if line else []


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
    return _sale_line(sale, plan, rule, sale.seller_code, sale.paid_fen, tiers[index][1], facts)


def rerates_months(version: PlanVersion) -> bool:
    return any(isinstance(rule, TieredRule) and rule.rerates for rule in version.rules)


def tier_changed(rule: TieredRule, before_fen: int, after_fen: int) -> bool:
    tiers = rule.tier_table
    return tier_for(tiers, before_fen) != tier_for(tiers, after_fen)


def rerating_rules(plans: list[PlanVersion], at: datetime) -> list[tuple[PlanVersion, TieredRule]]:
    return [
        (plan, rule)
        for plan in versions_in_force_flat(plans, at)
        for rule in plan.rules
        if isinstance(rule, TieredRule) and rule.rerates
    ]


def _level_difference(
    sale: SaleFacts, plan: PlanVersion, rule: LevelDifferenceRule
) -> list[CommissionLine]:
    base = sale.base(rule.base)
    seller_level = sale.grades.get(sale.seller_code)
    paid_rate = rule.grade_rate(seller_level)
    lines = []
    if rule.include_seller and paid_rate > 0:
        facts = {"base": rule.base, "level": seller_level, "levelRate": rate_to_str(paid_rate)}
        if line := _sale_line(sale, plan, rule, sale.seller_code, base, paid_rate, facts):
            lines.append(line)
    for upline in sale.uplines[: rule.max_depth]:
        level = sale.grades.get(upline)
        grade_rate = rule.grade_rate(level)
        if grade_rate <= paid_rate:
            continue
        facts = {
            "base": rule.base,
            "level": level,
            "levelRate": rate_to_str(grade_rate),
            "rateBelow": rate_to_str(paid_rate),
            "seller": sale.seller_code,
            "sellerLevel": seller_level,
        }
        line = _sale_line(sale, plan, rule, upline, base, grade_rate - paid_rate, facts)
        if line:
            lines.append(line)
        paid_rate = grade_rate  # paid below from here on, even if this upline was the buyer
    return lines


def _peer_level(sale: SaleFacts, plan: PlanVersion, rule: PeerLevelRule) -> list[CommissionLine]:
    level = sale.grades.get(sale.seller_code)
    if level is None:
        return []
    for upline in sale.uplines[: rule.max_depth]:
        if sale.grades.get(upline) == level:  # only the first same-grade upline
            facts = {"base": rule.base, "level": level, "seller": sale.seller_code}
            line = _sale_line(
                sale, plan, rule, upline, sale.base(rule.base), rule.rate_decimal, facts
            )
            return [line] if line else []
    return []


_SALE_RULES: dict[type, Any] = {
    FixedRule: _fixed_or_percentage,
    PercentageRule: _fixed_or_percentage,
    MultiLevelRule: _multi_level,
    TieredRule: _tiered_sale,
    LevelDifferenceRule: _level_difference,
    PeerLevelRule: _peer_level,
}


def sale_commission_lines(sale: SaleFacts, plans: list[PlanVersion]) -> list[CommissionLine]:
    """Every sale rule in force: fixed, percentage, multi-level, tiered, level difference, peer.
    Nobody earns on their own purchase."""
    lines = []
    for plan in plans:
        for rule in plan.rules:
            compute = _SALE_RULES.get(type(rule))
            if compute is not None and rule.applies_to(sale.package_code):
                lines += compute(sale, plan, rule)
    return lines


def lines_for_sale(sale: SaleFacts, plans: list[PlanVersion]) -> list[CommissionLine]:
    in_force = versions_in_force_flat(plans, sale.effective_at)
    return price_difference_lines(sale, in_force) + sale_commission_lines(sale, in_force)


def _card_line(
    plan: PlanVersion,
    rule: Any,
    iccid: str,
    agent_code: str,
    amount: int,
    base: int,
    rate: Decimal | None,
    facts: dict[str, Any],
    kind: str | None = None,
) -> CommissionLine:
    return CommissionLine(
        beneficiary=agent_code,
        kind=kind or rule.kind,
        amount_fen=amount,
        base_fen=base,
        rate=rate_to_str(rate) if rate is not None else None,
        plan_code=plan.code,
        plan_version=plan.version,
        rule_code=rule.code,
        hold_days=rule.hold_days,
        source=iccid,
        iccid=iccid,
        facts=facts,
    )


def lines_for_card(card: CardFacts, plans: list[PlanVersion]) -> list[CommissionLine]:
    """One-time commission: activated (real-name) and first/cumulative recharge >= threshold."""
    if not card.activated or card.package_code is None:
        return []
    lines = []
    for plan in versions_in_force_flat(plans, card.effective_at):
        for rule in plan.rules:
            if not isinstance(rule, OneTimeRule):
                continue
            if not rule.in_scope(card.package_code, card.grades.get(card.agent_code)):
                continue
            recharge = (
                card.first_recharge_fen if rule.recharge == "FIRST" else card.total_recharge_fen
            )
            if recharge is None or recharge < rule.threshold_fen:
                continue
            factor = rule.factor(card.effective_at)
            amount = apply_rate(rule.amount_fen, factor)
            if card.package_kind == "TRAFFIC":  # traffic cards: never more than was recharged
                amount = min(amount, recharge)
            if amount <= 0:
                continue
            facts = {"recharge": format_money(recharge), "threshold": rule.recharge_threshold}
            if factor != ONE:
                facts["multiplier"] = rate_to_str(factor)
            lines.append(
                _card_line(plan, rule, card.iccid, card.agent_code, amount, recharge, None, facts)
            )
    return lines


def lines_for_card_volume(facts: CardVolumeFacts, plans: list[PlanVersion]) -> list[CommissionLine]:
    """Count-tiered rules (pickup / activation volume): each card counted pays the amount of the
    tier the agent's monthly count has reached with it (from the next commission on)."""
    lines = []
    for plan in versions_in_force_flat(plans, facts.effective_at):
        for rule in plan.rules:
            if not isinstance(rule, TieredRule) or rule.metric != facts.metric:
                continue
            if not rule.in_scope(facts.package_code, facts.grades.get(facts.agent_code)):
                continue
            tiers = rule.tier_table
            index = tier_for(tiers, facts.count_after)
            unit = tiers[index][2] or 0
            factor = rule.factor(facts.effective_at)
            amount = apply_rate(unit, factor)
            if amount <= 0:
                continue
            detail: dict[str, Any] = {
                "metric": facts.metric,
                "mode": rule.mode,
                "monthCount": facts.count_after,
                "tier": index + 1,
                "perCard": format_money(unit),
            }
            if factor != ONE:
                detail["multiplier"] = rate_to_str(factor)
            lines.append(
                _card_line(plan, rule, facts.iccid, facts.agent_code, amount, 0, None, detail)
            )
    return lines


def long_term_conditions(rule: LongTermRule, row: SettlementFacts) -> list[str]:
    """The conditions of a long-term rule that the row does not meet (empty = it pays)."""
    failed = []
    if not row.activated:
        failed.append("card not activated (real-name)")
    recharge = row.first_recharge_fen if rule.recharge == "FIRST" else row.total_recharge_fen
    if (recharge or 0) < _money(rule.recharge_threshold):
        failed.append(f"{rule.recharge.lower()} recharge below {rule.recharge_threshold}")
    if row.network_status != "NORMAL":
        failed.append(f"network status {row.network_status}, not NORMAL")
    if not (row.no_arrears and row.no_suspension and row.no_complaint):
        failed.append("not 三无 (arrears, suspension or complaint reported)")
    if rule.starts_at is not None and row.effective_at < rule.starts_at:
        failed.append(f"long-term starts at {rule.starts_at.isoformat()}")
    if rule.after_periods is not None and (row.periods_used or 0) < rule.after_periods:
        failed.append(f"card has used fewer than {rule.after_periods} package periods")
    return failed


def lines_for_settlement(
    row: SettlementFacts, plans: list[PlanVersion], *, cap: bool
) -> list[CommissionLine]:
    """Splits the carrier's total commission for a card by the long-term rules; the platform keeps
    the rest. A split above the total is refused (rule `overflow: REFUSE`, unless `cap`) or
    scaled down to the total by largest remainder, so the platform's share is never negative."""
    lines = []
    refuse = False
    for plan in versions_in_force_flat(plans, row.effective_at):
        for rule in plan.rules:
            if not isinstance(rule, LongTermRule):
                continue
            if not rule.in_scope(row.package_code, row.grades.get(row.agent_code)):
                continue
            if long_term_conditions(rule, row):
                continue
            factor = rule.factor(row.effective_at)
            rate = None
            if rule.rate is not None:
                rate = _rate(rule.rate) * factor
                amount = apply_rate(row.total_fen, rate)
            else:
                amount = apply_rate(_money(rule.amount or "0"), factor)
            if amount <= 0:
                continue
            refuse = refuse or rule.overflow == "REFUSE"
            facts: dict[str, Any] = {
                "rowId": row.row_id,
                "period": row.period,
                "carrierTotal": format_money(row.total_fen),
                "networkStatus": row.network_status,
                "threeNo": True,
            }
            if factor != ONE:
                facts["multiplier"] = rate_to_str(factor)
            lines.append(
                _card_line(
                    plan, rule, row.iccid, row.agent_code, amount, row.total_fen, rate, facts
                )
            )
    paid = sum(line.amount_fen for line in lines)
    if paid > row.total_fen:
        if refuse and not cap:
            raise PlanRefused(
                "totalCommission",
                f"the plan would pay agents {format_money(paid)} of the carrier's "
                f"{format_money(row.total_fen)}: the platform's share would be negative",
            )
        parts = allocate(row.total_fen, [line.amount_fen for line in lines])
        lines = [
            replace(
                line,
                amount_fen=part,
                facts={**line.facts, "cappedFrom": format_money(line.amount_fen)},
            )
            for line, part in zip(lines, parts, strict=True)
            if part > 0
        ]
    platform = row.total_fen - sum(line.amount_fen for line in lines)
    return [
        replace(line, facts={**line.facts, "platformShare": format_money(platform)})
        for line in lines
    ]


def versions_in_force_flat(plans: list[PlanVersion], at: datetime) -> list[PlanVersion]:
    by_code: dict[str, list[PlanVersion]] = {}
    for v in plans:
        by_code.setdefault(v.code, []).append(v)
    return versions_in_force(list(by_code.values()), at)


def has_one_time_rule(plans: list[PlanVersion], package_code: str, at: datetime) -> bool:
    return any(
        isinstance(rule, OneTimeRule) and rule.applies_to(package_code)
        for plan in versions_in_force_flat(plans, at)
        for rule in plan.rules
    )


def uses_levels(plans: list[PlanVersion]) -> bool:
    """Whether any rule needs agents' levels (grades): level scopes, 级差, 平级."""
    return any(
        isinstance(rule, LevelDifferenceRule | PeerLevelRule) or rule.agent_levels
        for plan in plans
        for rule in plan.rules
    )
