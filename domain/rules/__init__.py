"""Commission rules as pure functions: facts -> commission lines.

A plan document is a list of rules (docs/rules.md). Rules are parsed once into frozen models;
amounts in documents are money strings ('5.00'), rates decimal strings ('0.05' or '5%').

The package (docs/decisions/0011-rule-kinds-as-a-package.md):
- base.py: BaseRule, the fields every rule has and the questions every kind answers;
- facts.py: the facts rules react to (sales, cards, card volumes, settlement rows);
- line.py: CommissionLine and build_line, the one line builder every kind pays with;
- plans.py: plan versions in force, overlaps between plans, questions over the rules in force;
- registry.py: kind -> rule class; parse_rules / dump_rules; SPEC §7 refusals;
- engine.py: facts -> the lines of every rule in force that reacts to them;
- one module per kind: price_difference, fixed, percentage, one_time, multi_level, tiered,
  level_difference, peer_level, long_term; value_tiers.py holds the tiers that change a
  ONE_TIME or LONG_TERM value (an option of those kinds, not a kind).
"""

from domain.rules.base import DEFAULT_HOLD_DAYS, MAX_LEVELS, ZERO, BaseRule, OneRateRule
from domain.rules.engine import (
    lines_for_card,
    lines_for_card_volume,
    lines_for_sale,
    lines_for_settlement,
    sale_commission_lines,
    sale_lines_in_force,
)
from domain.rules.facts import (
    Base,
    CardFacts,
    CardVolumeFacts,
    Metric,
    SaleFacts,
    SettlementFacts,
)
from domain.rules.fixed import FixedRule
from domain.rules.level_difference import LevelDifferenceRule
from domain.rules.line import CommissionLine, build_line
from domain.rules.long_term import LongTermRule, long_term_conditions
from domain.rules.multi_level import MultiLevelRule
from domain.rules.one_time import OneTimeRule
from domain.rules.peer_level import PeerLevelRule
from domain.rules.percentage import PercentageRule
from domain.rules.plans import (
    PlansInForce,
    PlanVersion,
    active_metrics,
    has_one_time_rule,
    overlapping_rules,
    rerates_months,
    rerating_rules,
    uses_levels,
    versions_in_force,
    versions_in_force_flat,
)
from domain.rules.price_difference import (
    PRICE_MENU_PLAN,
    PriceDifferenceRule,
    price_difference_lines,
)
from domain.rules.registry import (
    FORBIDDEN_KINDS,
    KINDS,
    RULE_CLASSES,
    CommissionKind,
    Rule,
    dump_rules,
    kind_name,
    parse_rules,
    rule_class,
)
from domain.rules.tiered import (
    Tier,
    TieredRule,
    rerated_line,
    tier_changed,
    tier_for,
    tier_segments,
)
from domain.rules.value_tiers import ValueTier, becomes_active

__all__ = [
    "DEFAULT_HOLD_DAYS",
    "FORBIDDEN_KINDS",
    "KINDS",
    "MAX_LEVELS",
    "PRICE_MENU_PLAN",
    "RULE_CLASSES",
    "ZERO",
    "Base",
    "BaseRule",
    "CardFacts",
    "CardVolumeFacts",
    "CommissionKind",
    "CommissionLine",
    "FixedRule",
    "LevelDifferenceRule",
    "LongTermRule",
    "Metric",
    "MultiLevelRule",
    "OneRateRule",
    "OneTimeRule",
    "PeerLevelRule",
    "PercentageRule",
    "PlanVersion",
    "PlansInForce",
    "PriceDifferenceRule",
    "Rule",
    "SaleFacts",
    "SettlementFacts",
    "Tier",
    "TieredRule",
    "ValueTier",
    "active_metrics",
    "becomes_active",
    "build_line",
    "dump_rules",
    "has_one_time_rule",
    "kind_name",
    "lines_for_card",
    "lines_for_card_volume",
    "lines_for_sale",
    "lines_for_settlement",
    "long_term_conditions",
    "overlapping_rules",
    "parse_rules",
    "price_difference_lines",
    "rerated_line",
    "rerates_months",
    "rerating_rules",
    "rule_class",
    "sale_commission_lines",
    "sale_lines_in_force",
    "tier_changed",
    "tier_for",
    "tier_segments",
    "uses_levels",
    "versions_in_force",
    "versions_in_force_flat",
]
