"""Benchmark (issue 4): as-of report latency, by history length (1,000 vs 1,000,000 events).

Two generated histories (bench/history.py, same generator and seed, scaled: ~10 agents and
~100 cards for 1,000 events; 10,000 agents and 100,000 cards for 1,000,000), each in its own
database with the live views caught up. Each run times `samples` calls of each report per
history, at a random agent, a random position in the whole log, and a random business month
of the history (team performance) or year (activation report):

- `Reports.performance(agent, month, at)`: the team-performance row of an agent and month as
  known at a position;
- `Reports.activation_report(agent, year, at)`: the twelve months' activation counts as
  reported, as known at a position.

Target: p99 at 1M <= 2 x p99 at 1k, for each report.
"""

from __future__ import annotations

import random
import time
from typing import Any

from bench.common import check, progress, quantile, rnd, summarize

REPORTS = ("performance", "activation_report")


def _stats(ts: list[float]) -> dict[str, Any]:
    return {
        "samples": len(ts),
        "p50_ms": rnd(quantile(ts, 0.50) * 1000),
        "p99_ms": rnd(quantile(ts, 0.99) * 1000),
        "mean_ms": rnd(sum(ts) / len(ts) * 1000),
        "max_ms": rnd(max(ts) * 1000),
    }


def measure(entry: Any, samples: int, seed: int) -> dict[str, Any]:
    from projections.reports import Reports

    rng = random.Random(seed)
    reports = Reports(entry.app.read)
    head = entry.app.read.log_head()
    agents, months = entry.built.agents, entry.built.months
    years = sorted({m.year for m in months})

    def one(kind: str) -> float:
        agent, at = rng.choice(agents), rng.randint(1, head)
        t0 = time.perf_counter()
        if kind == "performance":
            got: Any = reports.performance(agent, rng.choice(months), at)
        else:
            got = reports.activation_report(agent, rng.choice(years), at)
        took = time.perf_counter() - t0
        check(got is not None, f"{kind}: no answer")
        return took

    for _ in range(min(200, samples)):  # warm-up: connections, plans, buffers
        for kind in REPORTS:
            one(kind)
    times: dict[str, list[float]] = {k: [] for k in REPORTS}
    for _ in range(samples):
        kinds = list(REPORTS)
        rng.shuffle(kinds)
        for kind in kinds:
            times[kind].append(one(kind))
    return {kind: _stats(ts) for kind, ts in times.items()}


def facts(entry: Any) -> dict[str, Any]:
    """How much data the queries search, and how much of it answers (for the reader)."""
    row = entry.app.read._one(
        "SELECT (SELECT count(*) FROM performance_history) AS performance_rows,"
        " (SELECT count(*) FROM activations) AS activation_rows,"
        " (SELECT count(*) FILTER (WHERE effective_month < reporting_month) FROM activations)"
        " AS late_activations"
    )
    return dict(row or {})


def run(histories: Any, *, runs: int, small: int, big: int, samples: int) -> dict[str, Any]:
    sizes = {"small": small, "big": big}
    entries = {name: histories.projected(events) for name, events in sizes.items()}
    results = []
    for i in range(runs):
        progress(f"report query run {i + 1}/{runs}: {samples} samples per report per history")
        res: dict[str, Any] = {
            name: measure(entry, samples, seed=4000 + i) for name, entry in entries.items()
        }
        for kind in REPORTS:
            res[f"{kind}_p99_ratio"] = rnd(
                res["big"][kind]["p99_ms"] / res["small"][kind]["p99_ms"]
            )
            res[f"{kind}_p50_ratio"] = rnd(
                res["big"][kind]["p50_ms"] / res["small"][kind]["p50_ms"]
            )
        progress(f"  {res}")
        results.append(res)
    keys = [
        f"{size}.{kind}.{q}" for size in sizes for kind in REPORTS for q in ("p50_ms", "p99_ms")
    ] + [f"{kind}_{q}_ratio" for kind in REPORTS for q in ("p99", "p50")]
    return {
        "history_events": {name: e.built.events for name, e in entries.items()},
        "history_rows": {name: facts(e) for name, e in entries.items()},
        "target": "p99(1M) <= 2 x p99(1k), each report",
        "median": summarize(results, keys),
        "runs": results,
    }
