"""A commission line in words and numbers a finance person can check by hand."""

from decimal import Decimal
from typing import Any

from domain.money import format_money


def _percent(rate: str) -> str:
    return f"{(Decimal(rate) * 100).normalize():f}%"


def _what(line: dict[str, Any]) -> str:
    kind, amount, base = line["kind"], format_money(line["original_fen"]), line["base_fen"]
    facts = line.get("facts") or {}
    if "corrects" in facts:
        basis = f" at {_percent(line['rate'])} x {format_money(base)}" if line.get("rate") else ""
        return (
            f"{kind.lower()} adjustment {amount} = {facts.get('corrected', '?')} now due{basis}"
            f" - {facts.get('recorded', '?')} recorded on line {facts['corrects']}"
        )
    if kind == "PRICE_DIFFERENCE":
        return (
            f"price difference {amount} = sold at {facts.get('soldAt', format_money(base))}"
            f" - cost price {facts.get('costPrice', '?')}"
        )
    if line.get("rate"):
        return f"{kind.lower()} {amount} = {_percent(line['rate'])} x {format_money(base)}"
    if kind == "ONE_TIME":
        return (
            f"one-time {amount}: recharge {facts.get('recharge', format_money(base))}"
            f" reached the threshold {facts.get('threshold', '?')}"
        )
    return f"{kind.lower()} {amount}"


def explain(line: dict[str, Any]) -> str:
    """`line`: a commission line as the read model returns it (status and amount as of a time)."""
    source = (
        f"order {line['order_id']}"
        if line.get("order_id")
        else f"card {line['iccid']}"
        if line.get("iccid")
        else line.get("source", "?")
    )
    facts = line.get("facts") or {}
    extra = "; ".join(
        f"{k} {v}"
        for k, v in sorted(facts.items())
        if k
        not in {"soldAt", "costPrice", "recharge", "threshold", "corrects", "corrected", "recorded"}
        and v is not None
    )
    parts = [
        f"{_what(line)} for {source}, to {line['agent_code']}",
        f"rule {line['rule_code']} of plan {line['plan_code']} version {line['plan_version']}",
        f"held {line['hold_days']} days, releasable from {line['releasable_at']:%Y-%m-%d %H:%M %Z}",
        f"now {line['status']} at {format_money(line['amount_fen'])}",
    ]
    if extra:
        parts.insert(2, f"facts: {extra}")
    return "; ".join(parts) + "."
