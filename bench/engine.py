"""Benchmark (issue 3): sales per second through the pure commission engine, no database.

`domain.rules.lines_for_sale(facts, plans)` for a chain platform -> A -> B -> C (C sells), with
one plan version of three rules besides the price differences of the chain:
MULTI_LEVEL (3%, 2%, 1% of the paid amount to the uplines), TIERED `graduated` and TIERED
`volume` on the seller's monthly sales. The seller's month-to-date sales before each sale cycle
from 0 to 3,000.00 so sales land in every tier and some straddle two; the flows alternate
3:1 customer-paid : agent-prepaid. Facts are made before the clock starts; the timed loop is the
engine alone (plan versions in force, price differences, every sale rule, rounding).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.common import check, progress, rnd, summarize

RULES = [
    {"code": "ml", "kind": "MULTI_LEVEL", "levels": ["3%", "2%", "1%"], "base": "PAID_AMOUNT"},
    {
        "code": "tier-g",
        "kind": "TIERED",
        "metric": "SALES_AMOUNT",
        "mode": "graduated",
        "tiers": [
            {"upTo": "500.00", "rate": "1%"},
            {"upTo": "2000.00", "rate": "2%"},
            {"rate": "3%"},
        ],
    },
    {
        "code": "tier-v",
        "kind": "TIERED",
        "metric": "SALES_AMOUNT",
        "mode": "volume",
        "tiers": [{"upTo": "1000.00", "rate": "0.5%"}, {"rate": "1%"}],
    },
]
CHAIN = (("A", 6000), ("B", 7000), ("C", 8000))


def sales(n: int) -> list[Any]:
    from domain.rules import SaleFacts

    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        prepaid = i % 4 == 3
        out.append(
            SaleFacts(
                order_id=f"E{i:08d}",
                package_code="P",
                seller_code="C",
                buyer_code=None,
                flow="AGENT_PREPAID" if prepaid else "CUSTOMER_PAYS",
                chain=CHAIN,
                retail_fen=None if prepaid else 10_000,
                paid_fen=8000 if prepaid else 10_000,
                effective_at=t0 + timedelta(minutes=i % 40_000),
                month_sales_before_fen=(i * 9_700) % 300_000,
            )
        )
    return out


def plans() -> list[Any]:
    from domain.rules import PlanVersion, parse_rules

    start = datetime(2026, 1, 1, tzinfo=UTC)
    return [PlanVersion("std", 1, start, tuple(parse_rules(RULES)))]


def one_run(facts: list[Any], versions: list[Any]) -> dict[str, Any]:
    from domain.rules import lines_for_sale

    lines = 0
    t0 = time.perf_counter()
    for sale in facts:
        lines += len(lines_for_sale(sale, versions))
    seconds = time.perf_counter() - t0
    return {
        "sales": len(facts),
        "lines": lines,
        "seconds": rnd(seconds),
        "sales_per_s": rnd(len(facts) / seconds),
        "lines_per_s": rnd(lines / seconds),
        "us_per_sale": rnd(seconds / len(facts) * 1e6),
    }


def run(*, runs: int, count: int) -> dict[str, Any]:
    from domain.rules import lines_for_sale

    versions = plans()
    facts = sales(count)
    sample = lines_for_sale(facts[0], versions)
    kinds = sorted({str(line.kind) for line in sample})
    check(len(sample) == 7, f"expected 7 lines for a customer-paid sale, got {len(sample)}")
    one_run(facts[: min(2000, count)], versions)  # warm-up
    results = []
    for i in range(runs):
        res = one_run(facts, versions)
        progress(f"engine run {i + 1}/{runs}: {res}")
        results.append(res)
    return {
        "chain": "platform -> A -> B -> C (C sells)",
        "rules": [
            r["code"] + ":" + r["kind"] + (":" + r["mode"] if "mode" in r else "") for r in RULES
        ],
        "lines_per_customer_paid_sale": len(sample),
        "line_kinds": kinds,
        "median": summarize(results, ["sales_per_s", "lines_per_s", "us_per_sale", "seconds"]),
        "runs": results,
    }
