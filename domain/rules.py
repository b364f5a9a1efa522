"""Commission rules as pure functions: facts -> commission lines.

A plan document is a list of rules (see docs/rules.md). Rules are parsed once into frozen models;
amounts in documents are money strings ('5.00'), rates decimal strings ('0.05' or '5%').
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from domain.errors import PlanRefused
from domain.money import apply_rate, format_money, parse_money, parse_rate, rate_to_str

DEFAULT_HOLD_DAYS = 7
PRICE_MENU_PLAN = "price-menu"  # the built-in plan that credits price differences


class CommissionKind(StrEnum):
    PRICE_DIFFERENCE = "PRICE_DIFFERENCE"
    FIXED = "FIXED"
    PERCENTAGE = "PERCENTAGE"
    ONE_TIME = "ONE_TIME"


# Kinds that SPEC §7 forbids (pyramid-selling features); refused with a clear error.
FORBIDDEN_KINDS = {"ENTRY_FEE", "LEVEL_PURCHASE", "MEMBERSHIP_FEE"}


class Base(StrEnum):
    COST_PRICE = "COST_PRICE"
    PAID_AMOUNT = "PAID_AMOUNT"


class _Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    code: Annotated[str, Field(min_length=1, max_length=64)]
    packages: list[str] = Field(default_factory=list)
    hold_days: Annotated[StrictInt, Field(alias="holdDays", ge=0, le=3650)] = DEFAULT_HOLD_DAYS

    def applies_to(self, package_code: str) -> bool:
        return not self.packages or package_code in self.packages


def _money(value: object) -> int:
    return parse_money(value, field="rules")


class PriceDifferenceRule(_Rule):
    kind: Literal["PRICE_DIFFERENCE"]


class FixedRule(_Rule):
    kind: Literal["FIXED"]
    amount: StrictStr

    @field_validator("amount")
    @classmethod
    def _check_amount(cls, v: str) -> str:
        _money(v)
        return v

    @property
    def amount_fen(self) -> int:
        return _money(self.amount)


class PercentageRule(_Rule):
    kind: Literal["PERCENTAGE"]
    rate: StrictStr
    base: Base = Base.COST_PRICE

    @field_validator("rate")
    @classmethod
    def _check_rate(cls, v: str) -> str:
        parse_rate(v, field="rules")
        return v

    @property
    def rate_decimal(self) -> Decimal:
        return parse_rate(self.rate)


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

    @property
    def amount_fen(self) -> int:
        return _money(self.amount)

    @property
    def threshold_fen(self) -> int:
        return _money(self.recharge_threshold)


Rule = Annotated[
    PriceDifferenceRule | FixedRule | PercentageRule | OneTimeRule, Field(discriminator="kind")
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
        if isinstance(levels, list) and len(levels) > 3:
            raise PlanRefused("rules", "more than 3 commission levels is refused (SPEC §7)")
    try:
        rules = _RULES.validate_python(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise PlanRefused("rules", f"rules[{where}]: {first['msg']}") from None
    codes = [r.code for r in rules]
    if len(codes) != len(set(codes)):
        raise PlanRefused("rules", "rule codes must be unique within a plan")
    return rules


def dump_rules(rules: list[Rule]) -> list[dict[str, Any]]:
    return [r.model_dump(by_alias=True, mode="json") for r in rules]


@dataclass(frozen=True)
class PlanVersion:
    code: str
    version: int
    effective_from: datetime
    rules: tuple[Any, ...]


def versions_in_force(plans: list[list[PlanVersion]], at: datetime) -> list[PlanVersion]:
    """For each plan, the latest version whose effective_from <= at (effective-dated plans)."""
    chosen = []
    for versions in plans:
        eligible = [v for v in versions if v.effective_from <= at]
        if eligible:
            chosen.append(max(eligible, key=lambda v: (v.effective_from, v.version)))
    return chosen


# ---- facts and lines ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SaleFacts:
    """What a completed order tells the rules. chain: (agent_code, cost_fen) from the platform down."""

    order_id: str
    package_code: str
    seller_code: str
    buyer_code: str | None
    flow: str
    chain: tuple[tuple[str, int], ...]
    retail_fen: int | None
    paid_fen: int
    effective_at: datetime


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

    def releasable_at(self, effective_at: datetime) -> datetime:
        return effective_at + timedelta(days=self.hold_days)


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


def sale_commission_lines(sale: SaleFacts, plans: list[PlanVersion]) -> list[CommissionLine]:
    """Fixed and percentage rules pay the selling agent; never on its own purchase."""
    if sale.buyer_code == sale.seller_code:
        return []
    seller_cost = sale.chain[-1][1]
    lines = []
    for plan in plans:
        for rule in plan.rules:
            if not rule.applies_to(sale.package_code):
                continue
            if isinstance(rule, FixedRule):
                amount, base, rate = rule.amount_fen, 0, None
            elif isinstance(rule, PercentageRule):
                base = seller_cost if rule.base == Base.COST_PRICE else sale.paid_fen
                amount, rate = apply_rate(base, rule.rate_decimal), rate_to_str(rule.rate_decimal)
            else:
                continue
            if amount <= 0:
                continue
            lines.append(
                CommissionLine(
                    beneficiary=sale.seller_code,
                    kind=rule.kind,
                    amount_fen=amount,
                    base_fen=base,
                    rate=rate,
                    plan_code=plan.code,
                    plan_version=plan.version,
                    rule_code=rule.code,
                    hold_days=rule.hold_days,
                    source=sale.order_id,
                    order_id=sale.order_id,
                    facts={
                        "base": getattr(rule, "base", None),
                        "paid": format_money(sale.paid_fen),
                    },
                )
            )
    return lines


def lines_for_sale(sale: SaleFacts, plans: list[PlanVersion]) -> list[CommissionLine]:
    in_force = versions_in_force_flat(plans, sale.effective_at)
    return price_difference_lines(sale, in_force) + sale_commission_lines(sale, in_force)


def lines_for_card(card: CardFacts, plans: list[PlanVersion]) -> list[CommissionLine]:
    """One-time commission: activated (real-name) and first/cumulative recharge >= threshold."""
    if not card.activated or card.package_code is None:
        return []
    lines = []
    for plan in versions_in_force_flat(plans, card.effective_at):
        for rule in plan.rules:
            if not isinstance(rule, OneTimeRule) or not rule.applies_to(card.package_code):
                continue
            recharge = (
                card.first_recharge_fen if rule.recharge == "FIRST" else card.total_recharge_fen
            )
            if recharge is None or recharge < rule.threshold_fen:
                continue
            amount = rule.amount_fen
            if card.package_kind == "TRAFFIC":  # traffic cards: never more than was recharged
                amount = min(amount, recharge)
            if amount <= 0:
                continue
            lines.append(
                CommissionLine(
                    beneficiary=card.agent_code,
                    kind=CommissionKind.ONE_TIME,
                    amount_fen=amount,
                    base_fen=recharge,
                    rate=None,
                    plan_code=plan.code,
                    plan_version=plan.version,
                    rule_code=rule.code,
                    hold_days=rule.hold_days,
                    source=card.iccid,
                    iccid=card.iccid,
                    facts={
                        "recharge": format_money(recharge),
                        "threshold": rule.recharge_threshold,
                    },
                )
            )
    return lines


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
