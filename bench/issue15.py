"""Issue 15's table (and issue 13's settlement import) in the summary of a `python -m bench` run.

One row per path of the issue: what we measured, the baseline of the same run, the ratio, the
target and whether it is met. A benchmark that did not run (`--only`) or failed still has its
row, with nulls and `ran: false`: the table always shows every row. Everything is read with
`.get`: a benchmark may change its own JSON (or not have run)
without breaking the summary.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Row = dict[str, Any]


def _get(doc: Any, *path: str | int) -> Any:
    """doc[path[0]][path[1]]..., or None where anything is missing."""
    for key in path:
        if isinstance(doc, dict):
            doc = doc.get(key)
        elif isinstance(doc, list) and isinstance(key, int) and -len(doc) <= key < len(doc):
            doc = doc[key]
        else:
            return None
    return doc


def _row(
    path: str,
    ours: Any,
    baseline: Any,
    ratio: Any,
    target: str,
    met: Callable[[float], bool],
    unit: str,
) -> Row:
    ran = isinstance(ratio, int | float) and not isinstance(ratio, bool)
    return {
        "path": path,
        "ours": ours,
        "baseline": baseline,
        "unit": unit,
        "ratio": ratio if ran else None,
        "target": target,
        "met": met(ratio) if ran else None,
        "ran": ran,
    }


def _graphql(doc: dict[str, Any]) -> list[Row]:
    labels = {
        "commissions": "GraphQL commissions(first: 100), 16 connections",
        "wallet": "GraphQL wallet",
        "typename": "GraphQL { __typename }",
    }
    rows = []
    for name, label in labels.items():
        m = _get(doc, "graphql_reads", "median", name)
        rows.append(
            _row(
                label,
                _get(m, "fenrun", "req_per_s"),
                _get(m, "baseline", "req_per_s"),
                _get(m, "ratio"),
                ">= 0.5 of a plain route",
                lambda r: r >= 0.5,
                "req/s",
            )
        )
    return rows


def _http_orders(doc: dict[str, Any]) -> Row:
    h = doc.get("http_orders")
    m = _get(h, "median") if isinstance(_get(h, "median"), dict) else h
    return _row(
        "orders placed + completed over HTTP",
        _get(m, "http_completions_per_s"),
        _get(m, "per_command_completions_per_s"),
        _get(m, "ratio"),
        ">= 0.5 of in-process per_command",
        lambda r: r >= 0.5,
        "completions/s",
    )


def _per_command(doc: dict[str, Any]) -> Row:
    m = _get(doc, "throughput", "modes", "per_command", "median")
    return _row(
        "throughput per_command",
        _get(m, "completions_per_s"),
        _get(m, "raw_executemany.rows_per_s"),
        _get(m, "ratio_vs_raw"),
        ">= 0.15 of raw executemany (rows/s)",
        lambda r: r >= 0.15,
        "completions/s (baseline: raw rows/s)",
    )


def _policy_scaling(doc: dict[str, Any]) -> Row:
    points = doc.get("policy_scaling")
    rates: dict[int, float] = {}
    if isinstance(points, list):
        for p in points:
            orders, rate = _get(p, "orders"), _get(p, "policy_completions_per_s")
            if isinstance(orders, int) and isinstance(rate, int | float):
                rates[orders] = rate
    ratio = ours = baseline = None
    path = "commission policy as history grows (largest ÷ smallest size)"
    if len(rates) >= 2:
        small, big = min(rates), max(rates)
        ours, baseline = rates[big], rates[small]
        ratio = round(ours / baseline, 4) if baseline else None
        path = f"commission policy at {big} orders ÷ at {small} orders"
    return _row(path, ours, baseline, ratio, ">= 0.9 (flat)", lambda r: r >= 0.9, "completions/s")


def _rebuild(doc: dict[str, Any]) -> Row:
    r = doc.get("rebuild")
    events = _get(r, "all_views", "events")
    return _row(
        f"rebuild of all views, {events} events" if events else "rebuild of all views",
        _get(r, "all_views", "events_per_s"),
        _get(r, "raw", "events_per_s"),
        _get(r, "ratio_vs_raw"),
        ">= 0.25 of raw read + COPY",
        lambda x: x >= 0.25,
        "events/s",
    )


def _simulate(doc: dict[str, Any]) -> Row:
    s = doc.get("simulate")
    m = _get(s, "median")
    sales = _get(s, "sales")
    raw_s = _get(m, "raw.seconds")
    return _row(
        f"simulatePlan over {sales} sales" if sales else "simulatePlan",
        _get(m, "simulate.sales_per_s"),
        round(sales / raw_s, 1) if isinstance(sales, int) and raw_s else None,
        _get(m, "ratio_vs_raw"),
        ">= 0.2 of the raw read of the same facts",
        lambda r: r >= 0.2,
        "sales/s",
    )


def _settlement_import(doc: dict[str, Any]) -> Row:
    s = doc.get("settlement_import")
    rows, raw = _get(s, "rows"), _get(s, "raw_copy_seconds")
    raw_1m = round(raw * 1_000_000 / rows, 2) if isinstance(rows, int) and rows and raw else None
    projected = _get(s, "projected_seconds_for_1m")
    row = _row(
        f"settlement import (issue 13), {rows} rows, seconds per 1M rows"
        if rows
        else "settlement import (issue 13), seconds per 1M rows",
        projected,
        raw_1m,
        _get(s, "ratio_total_over_raw"),
        "<= 60 s per 1M rows (ratio: ours ÷ raw COPY, lower is better)",
        lambda r: isinstance(projected, int | float) and projected <= 60,
        "seconds per 1M rows",
    )
    # What PostgreSQL alone takes to store the rows the run stored, per 1M settlement rows
    # (COPY, no Python): above 60, no implementation storing them meets the target here.
    row["storage_floor_seconds_per_1m"] = _get(s, "floor_seconds_for_1m")
    return row


def table(doc: dict[str, Any]) -> list[Row]:
    """Every row of issue 15's table, then issue 13's settlement import."""
    return [
        *_graphql(doc),
        _http_orders(doc),
        _per_command(doc),
        _policy_scaling(doc),
        _rebuild(doc),
        _simulate(doc),
        _settlement_import(doc),
    ]


def met_count(rows: list[Row]) -> dict[str, int]:
    ran = [r for r in rows if r["ran"]]
    return {"rows": len(rows), "ran": len(ran), "met": sum(1 for r in ran if r["met"])}
