"""domain.rules as a package: every kind a plan may contain is registered, has its own module, is
documented in docs/rules.md (whose examples are the samples here), answers the rule protocol,
and words its own lines for `explanation`. Forbidden kinds are refused by the registry."""

import inspect
import json
import re
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from domain.book import hold_until
from domain.errors import PlanRefused
from domain.explain import explain
from domain.rules import (
    FORBIDDEN_KINDS,
    KINDS,
    RULE_CLASSES,
    BaseRule,
    CardFacts,
    CardVolumeFacts,
    CommissionKind,
    CommissionLine,
    Metric,
    OneTimeRule,
    PlanVersion,
    SaleFacts,
    dump_rules,
    kind_name,
    parse_rules,
    rule_class,
)
from domain.rules import registry as registry_module
from tests.unit.test_rules_kinds import row as settlement_row

DOCS = Path(__file__).parents[2] / "docs" / "rules.md"
JAN = datetime(2026, 1, 1, tzinfo=UTC)
MAR = datetime(2026, 3, 1, tzinfo=UTC)


def documented_examples() -> dict[str, dict[str, Any]]:
    """The first example rule of each kind in docs/rules.md's JSON blocks."""
    examples: dict[str, dict[str, Any]] = {}
    for block in re.findall(r"```json\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S):
        for item in json.loads(block):
            if "kind" in item:
                examples.setdefault(item["kind"], item)
    return examples


EXAMPLES = documented_examples()
HEADINGS = re.findall(r"^## .*$", DOCS.read_text(encoding="utf-8"), re.M)

# Facts on which every documented example pays: a G1 seller C under a G1 upline B under a G2
# upline A, package TC-50; an activated traffic card that recharged 100.00 and used 3 periods.
GRADES = {"A": "G2", "B": "G1", "C": "G1"}
SALE = SaleFacts(
    order_id="o-1",
    package_code="TC-50",
    seller_code="C",
    buyer_code="customer",
    flow="CUSTOMER_PAYS",
    chain=(("A", 6000), ("B", 7000), ("C", 8000)),
    retail_fen=10000,
    paid_fen=10000,
    effective_at=MAR,
    grades=GRADES,
)
CARD = CardFacts("ICC1", "TC-50", "TRAFFIC", "C", True, 10000, 10000, MAR, GRADES)
ROW = replace(
    settlement_row(total=2000),
    iccid="ICC1",
    agent_code="C",
    package_code="TC-50",
    periods_used=3,
    grades=GRADES,
)
FACTS = [
    SALE,
    CARD,
    *(CardVolumeFacts("ICC1", "TC-50", "C", m, 1, MAR, GRADES) for m in Metric),
    ROW,
]


def plan_of(rule: dict[str, Any]) -> PlanVersion:
    return PlanVersion("p", 1, JAN, tuple(parse_rules([rule])))


def row_of(line: CommissionLine) -> dict[str, Any]:
    """The line as the read model returns it to `explain`."""
    return {
        **asdict(line),
        "kind": str(line.kind),
        "agent_code": line.beneficiary,
        "original_fen": line.amount_fen,
        "releasable_at": hold_until(MAR, line.hold_days),
        "status": "FROZEN",
    }


# ---- the registry ------------------------------------------------------------------------------


def test_every_kind_is_registered_documented_and_in_its_own_module() -> None:
    assert set(RULE_CLASSES) == {str(k) for k in CommissionKind} == set(EXAMPLES)
    assert [kind_name(cls) for cls in KINDS] == list(RULE_CLASSES)
    for kind, cls in RULE_CLASSES.items():
        assert issubclass(cls, BaseRule)
        assert cls.__module__ == f"domain.rules.{kind.lower()}"
        assert rule_class(kind) is cls
        assert any(kind in heading for heading in HEADINGS), f"docs/rules.md has no {kind}"


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_a_documented_example_parses_into_its_kind_and_is_stored_as_written(kind: str) -> None:
    example = EXAMPLES[kind]
    [rule] = parse_rules([example])
    assert type(rule) is RULE_CLASSES[kind]
    assert parse_rules(dump_rules([rule])) == [rule]


@pytest.mark.parametrize("kind", sorted(FORBIDDEN_KINDS))
def test_the_registry_refuses_the_kinds_spec_7_forbids(kind: str) -> None:
    assert kind not in RULE_CLASSES
    with pytest.raises(PlanRefused, match=r"SPEC §7: pyramid selling"):
        parse_rules([{"code": "x", "kind": kind, "amount": "5.00"}])


def test_an_unknown_kind_is_refused_naming_every_registered_kind() -> None:
    with pytest.raises(PlanRefused) as refused:
        parse_rules([{"code": "x", "kind": "BONUS"}])
    expected = ", ".join(f"'{kind}'" for kind in RULE_CLASSES)
    assert expected in refused.value.message


def test_a_kind_no_longer_registered_gets_the_default_answers() -> None:
    assert rule_class("RETIRED") is BaseRule
    row = {"kind": "RETIRED", "original_fen": 500, "base_fen": 0, "rate": None}
    assert BaseRule.words(row) == "retired 5.00"


# ---- the protocol --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_each_kind_answers_the_rule_protocol(kind: str) -> None:
    plan = plan_of(EXAMPLES[kind])
    [rule] = plan.rules
    paid = []
    for fact in FACTS:
        reacts = rule.reacts_to(fact)
        assert isinstance(reacts, bool)
        if reacts:
            lines = rule.lines(fact, plan)
            assert all(isinstance(line, CommissionLine) for line in lines)
            assert {(line.kind, line.rule_code, line.plan_code) for line in lines} <= {
                (kind, rule.code, "p")
            }
            paid += lines
    # PRICE_DIFFERENCE reacts to nothing: the price chain pays it, the rule only names it.
    assert bool(paid) == (kind != "PRICE_DIFFERENCE"), "the documented example pays on the facts"
    assert rule.overlap_key[0] == kind
    assert all(isinstance(part, str) for part in rule.overlap_key)
    for question in ("uses_levels", "rerates_month", "refuses_overflow"):
        assert isinstance(getattr(rule, question), bool)
    for question in ("needs_wallet_first_purchase", "unfreezes_on_accrual"):
        assert isinstance(getattr(type(rule), question), bool)
    assert isinstance(rule.explained_facts, frozenset)
    assert all(type(rule).words(row_of(line)) for line in paid)


def test_what_the_ledger_asks_of_each_kind() -> None:
    rules = {kind: plan_of(example).rules[0] for kind, example in EXAMPLES.items()}
    asks = {
        question: {kind for kind, rule in rules.items() if getattr(rule, question)}
        for question in (
            "uses_levels",
            "needs_wallet_first_purchase",
            "unfreezes_on_accrual",
            "refuses_overflow",
            "rerates_month",
        )
    }
    assert asks == {
        "uses_levels": {"LEVEL_DIFFERENCE", "PEER_LEVEL"},
        "needs_wallet_first_purchase": {"ONE_TIME"},
        "unfreezes_on_accrual": {"LONG_TERM"},
        "refuses_overflow": set(),  # the documented LONG_TERM example caps
        "rerates_month": set(),  # the documented TIERED example is graduated
    }
    scoped = plan_of({**EXAMPLES["FIXED"], "agentLevels": ["G1"]}).rules[0]
    assert scoped.uses_levels
    refusing = plan_of({**EXAMPLES["LONG_TERM"], "overflow": "REFUSE"}).rules[0]
    assert refusing.refuses_overflow
    rerating = {"code": "t", "kind": "TIERED", "tiers": [{"upTo": None, "rate": "1%"}]}
    assert plan_of({**rerating, "effect": "RERATE_MONTH"}).rules[0].rerates_month


# ---- explanations: each kind's words come from its module ------------------------------------------


@pytest.mark.parametrize("kind", sorted(set(EXAMPLES) - {"PRICE_DIFFERENCE"}))
def test_an_explanation_starts_with_the_words_of_the_lines_kind(kind: str) -> None:
    plan = plan_of(EXAMPLES[kind])
    [rule] = plan.rules
    [line, *_] = [ln for fact in FACTS if rule.reacts_to(fact) for ln in rule.lines(fact, plan)]
    row = row_of(line)
    assert explain(row).startswith(f"{type(rule).words(row)} for ")


def test_the_words_of_a_kind_that_has_its_own_are_defined_in_its_module() -> None:
    own = {
        kind: cls
        for kind, cls in RULE_CLASSES.items()
        if "words" in vars(cls)  # not inherited from BaseRule
    }
    assert set(own) == {"PRICE_DIFFERENCE", "ONE_TIME"}
    for kind, cls in own.items():
        assert inspect.getmodule(cls.words).__name__ == f"domain.rules.{kind.lower()}"


def test_explain_asks_the_registry_for_the_words(monkeypatch: pytest.MonkeyPatch) -> None:
    class Worded(OneTimeRule):
        @classmethod
        def words(cls, line: dict[str, Any]) -> str:
            return f"bonus of {line['original_fen']} fen"

    monkeypatch.setitem(registry_module.RULE_CLASSES, "ONE_TIME", Worded)
    [line] = plan_of(EXAMPLES["ONE_TIME"]).rules[0].lines(CARD, plan_of(EXAMPLES["ONE_TIME"]))
    text = explain(row_of(line))
    assert text.startswith("bonus of 1000 fen for card ICC1, to C;")
    assert "recharge" not in text  # the kind's explained facts are not listed again
