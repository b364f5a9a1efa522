"""The rule kinds a plan may contain, and plan documents read and written through them.

Adding a kind: its module (a `BaseRule` subclass with `kind: Literal["KIND"]`), one entry in
`KINDS`, and its section in docs/rules.md. Parsing, the plan overlap check, the engine and the
explanations then know it.
"""

import re
from enum import StrEnum
from typing import Annotated, Any, Union, get_args

from pydantic import Field, TypeAdapter, ValidationError

from domain.errors import PlanRefused
from domain.rules.base import MAX_LEVELS, BaseRule
from domain.rules.fixed import FixedRule
from domain.rules.level_difference import LevelDifferenceRule
from domain.rules.long_term import LongTermRule
from domain.rules.multi_level import MultiLevelRule
from domain.rules.one_time import OneTimeRule
from domain.rules.peer_level import PeerLevelRule
from domain.rules.percentage import PercentageRule
from domain.rules.price_difference import PriceDifferenceRule
from domain.rules.tiered import TieredRule
from domain.values import DOCUMENT

MAX_RULES = 100  # rules in one plan version

# In this order in refusals that list the kinds ("expected tags: 'PRICE_DIFFERENCE', ...").
KINDS: tuple[type[BaseRule], ...] = (
    PriceDifferenceRule,
    FixedRule,
    PercentageRule,
    OneTimeRule,
    MultiLevelRule,
    TieredRule,
    LevelDifferenceRule,
    PeerLevelRule,
    LongTermRule,
)

# Kinds that SPEC §7 forbids (pyramid-selling features); refused with a clear error.
FORBIDDEN_KINDS = {"ENTRY_FEE", "LEVEL_PURCHASE", "MEMBERSHIP_FEE"}


def kind_name(rule_class: type[BaseRule]) -> str:
    """The `kind` a rule class is written with in plan documents."""
    (name,) = get_args(rule_class.model_fields["kind"].annotation)
    return str(name)


RULE_CLASSES: dict[str, type[BaseRule]] = {kind_name(cls): cls for cls in KINDS}
CommissionKind = StrEnum(  # type: ignore[misc]
    "CommissionKind", [(name, name) for name in RULE_CLASSES], module=__name__
)
Rule = Annotated[Union[KINDS], Field(discriminator="kind")]  # type: ignore[valid-type]  # noqa: UP007
_RULES: TypeAdapter[list[Any]] = TypeAdapter(list[Rule])  # type: ignore[valid-type]


def rule_class(kind: str) -> type[BaseRule]:
    """The class of a registered kind; BaseRule (default answers) for a kind no longer known."""
    return RULE_CLASSES.get(kind, BaseRule)


def parse_rules(document: object, *, stored: bool = False) -> list[Any]:
    """Validates a plan's rules document; refuses forbidden and malformed rules with a clear error.

    stored: read back from a plan's event, as it was accepted (a bound tightened since does not
    stop a stored plan from loading)."""
    if not isinstance(document, list) or not document:
        raise PlanRefused("rules", "rules must be a non-empty list of rule objects")
    if not stored:
        DOCUMENT.check(document, "rules")
        if len(document) > MAX_RULES:
            raise PlanRefused("rules", f"a plan has at most {MAX_RULES} rules")
    for item in document:
        _refuse_pyramid_selling(item)
    try:
        rules = _RULES.validate_python(document, context={"stored": stored})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        message = re.sub(r"^(Value|Assertion) error, ", "", first["msg"])
        raise PlanRefused("rules", f"rules[{where}]: {message}") from None
    codes = [r.code for r in rules]
    if len(codes) != len(set(codes)):
        raise PlanRefused("rules", "rule codes must be unique within a plan")
    return rules


def _refuse_pyramid_selling(item: object) -> None:
    """SPEC §7, before any other check: entry fees and level purchases, more than 3 levels."""
    kind = item.get("kind") if isinstance(item, dict) else None
    if isinstance(kind, str) and kind in FORBIDDEN_KINDS:
        raise PlanRefused("rules", f"commission on {kind} is refused (SPEC §7: pyramid selling)")
    levels = item.get("levels") if isinstance(item, dict) else None
    if isinstance(levels, list) and len(levels) > MAX_LEVELS:
        raise PlanRefused("rules", "more than 3 commission levels is refused (SPEC §7)")


def dump_rules(rules: list[Any]) -> list[dict[str, Any]]:
    """The rules as stored in a plan event: byte-stable, so stored plans keep their digests."""
    dumped = []
    for rule in rules:
        document = rule.model_dump(by_alias=True, mode="json", exclude_none=True)
        if not document.get("agentLevels"):
            document.pop("agentLevels", None)
        dumped.append(document)
    return dumped
