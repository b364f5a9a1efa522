"""A commission line in words and numbers a finance person can check by hand.

The words for what a line pays come from its kind's module (`words`, domain/rules/); this module
frames them: an adjustment's calculation, the source, the rule and plan, the other facts, the
hold and the status now."""

from typing import Any

from domain.money import format_money
from domain.rules import rule_class
from domain.rules.base import percent

# The facts an adjustment line's words already say.
ADJUSTMENT_FACTS = frozenset({"corrects", "corrected", "recorded"})


def _adjustment(line: dict[str, Any]) -> str:
    kind, amount, base = line["kind"], format_money(line["original_fen"]), line["base_fen"]
    facts = line.get("facts") or {}
    basis = f" at {percent(line['rate'])} x {format_money(base)}" if line.get("rate") else ""
    return (
        f"{kind.lower()} adjustment {amount} = {facts.get('corrected', '?')} now due{basis}"
        f" - {facts.get('recorded', '?')} recorded on line {facts['corrects']}"
    )


def explain(line: dict[str, Any]) -> str:
    """`line`: a commission line as the read model returns it (status and amount as of a time)."""
    kind = rule_class(line["kind"])
    source = (
        f"order {line['order_id']}"
        if line.get("order_id")
        else f"card {line['iccid']}"
        if line.get("iccid")
        else line.get("source", "?")
    )
    facts = line.get("facts") or {}
    said = kind.explained_facts | ADJUSTMENT_FACTS
    extra = "; ".join(
        f"{k} {v}" for k, v in sorted(facts.items()) if k not in said and v is not None
    )
    what = _adjustment(line) if "corrects" in facts else kind.words(line)
    parts = [
        f"{what} for {source}, to {line['agent_code']}",
        f"rule {line['rule_code']} of plan {line['plan_code']} version {line['plan_version']}",
        f"held {line['hold_days']} days, releasable from {line['releasable_at']:%Y-%m-%d %H:%M %Z}",
        f"now {line['status']} at {format_money(line['amount_fen'])}",
    ]
    if extra:
        parts.insert(2, f"facts: {extra}")
    return "; ".join(parts) + "."
