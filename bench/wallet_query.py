"""Benchmark 2: as-of wallet query latency, ReadModel.wallet(agent, position), by history length.

Two agents in one database: SMALL with `small` balance-history events, BIG with `big`. Their
histories are interleaved in the log (every save carries events of both), so both span the same
positions and share one table; only the length of each agent's own history differs.

How the history is built (the real path would take too long at 100k, see the report): the
events are real Wallet.CommissionAccrued events, made by the domain's Wallet.accrue() exactly as
the CommissionPolicy makes them, saved through Ledger.save() (eventsourcing, our transcoder,
ledger_events) in chunks, then projected by the real ProjectionRunner with all four views. What
is skipped is the orders and the policy that would have decided those accruals.

Each run then times `samples` calls per agent, the two agents alternating in random order, each
at a uniformly random position between the agent's first and last history position.
"""

from __future__ import annotations

import random
import time
from typing import Any

import psycopg

from bench.common import Timer, audit_time, check, database, progress, quantile, rnd, summarize

SMALL, BIG = "HIST_SMALL", "HIST_BIG"


def _line(agent: str, i: int) -> Any:
    from domain.rules import CommissionLine

    oid = f"{agent}-o{i:07d}"
    return CommissionLine(
        beneficiary=agent,
        kind="PERCENTAGE",
        amount_fen=400 + i % 7,
        base_fen=8000,
        rate="0.05",
        plan_code="pct",
        plan_version=1,
        rule_code="pct5",
        hold_days=7,
        source=oid,
        order_id=oid,
        facts={"base": "COST_PRICE", "paid": "100.00"},
    )


def build_history(app: Any, small: int, big: int, chunks: int) -> dict[str, Any]:
    from datetime import timedelta

    from domain.common import Audit, derived_id

    ledger = app.ledger
    setup = Audit("bench", audit_time(), "setup")
    for code in (SMALL, BIG):
        ledger.register_agent(code, f"Agent {code}", None, True, setup)
    app.catch_up()
    wallets = {SMALL: ledger.wallet(SMALL), BIG: ledger.wallet(BIG)}
    sizes = {SMALL: small, BIG: big}
    done = dict.fromkeys(sizes, 0)
    # No automatic snapshots while building: each one reloads and re-serialises the whole wallet,
    # which made a 100k build take ~7 minutes. The query reads only the projections, which are
    # the same either way; snapshot costs are measured separately below (measure_loads).
    own, intervals = "snapshotting_intervals" in vars(ledger), ledger.snapshotting_intervals
    ledger.snapshotting_intervals = {}
    try:
        with Timer() as t_save:
            for c in range(chunks):
                for code, wallet in wallets.items():
                    upto = sizes[code] * (c + 1) // chunks
                    for i in range(done[code], upto):
                        at = audit_time() + timedelta(seconds=i)
                        audit = Audit(
                            "system:commission-policy", at, f"order {code}-o{i} completed"
                        )
                        line = _line(code, i)
                        cid = derived_id("commission", "order", line.source, code, "pct", "pct5")
                        wallet.accrue(cid, line, audit)
                    done[code] = upto
                ledger.save(*wallets.values())
                if (c + 1) % max(1, chunks // 10) == 0:
                    progress(f"  saved {sum(done.values())} history events")
    finally:
        if own:
            ledger.snapshotting_intervals = intervals
        else:
            del ledger.snapshotting_intervals  # back to the class's setting
    with Timer() as t_project:
        projected = app.projections.run_until_idle()
    return {
        "events": sum(sizes.values()),
        "save_seconds": rnd(t_save.seconds),
        "save_events_per_s": rnd(sum(sizes.values()) / t_save.seconds),
        "projection_seconds": rnd(t_project.seconds),
        "projection_events_per_s": rnd(projected / t_project.seconds),
        "balances": {code: dict(w.balances) for code, w in wallets.items()},
    }


def measure_loads(app: Any, dsn: str) -> dict[str, Any]:
    """What the ledger and the policy pay to load such a wallet: a full replay, then taking a
    snapshot (what Ledger.snapshotting_intervals does every N events), then a load from it."""
    from domain.common import aggregate_id

    ledger = app.ledger
    out: dict[str, Any] = {}
    for code in (SMALL, BIG):
        wallet_id = aggregate_id("wallet", code)
        entry: dict[str, Any] = {}
        with Timer() as t:
            ledger.repository.get(wallet_id)
        entry["replay_seconds"] = rnd(t.seconds)
        if getattr(ledger, "snapshots", None) is not None:
            with Timer() as t:
                ledger.take_snapshot(wallet_id)
            entry["take_snapshot_seconds"] = rnd(t.seconds)
            with psycopg.connect(dsn) as conn:
                row = conn.execute(
                    "SELECT octet_length(state) FROM ledger_snapshots WHERE originator_id = %s"
                    " ORDER BY originator_version DESC LIMIT 1",
                    (wallet_id,),
                ).fetchone()
            entry["snapshot_bytes"] = row[0] if row else None
            with Timer() as t:
                ledger.wallet(code)
            entry["load_from_snapshot_seconds"] = rnd(t.seconds)
        out[code] = entry
    return out


def _positions(dsn: str, agent: str) -> tuple[int, int, int]:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT min(position), max(position), count(*) FROM wallet_balance_history"
            " WHERE agent_code = %s",
            (agent,),
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def _plan(dsn: str, agent: str, at: int) -> str:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)"
            " SELECT frozen, unfreezing, available, withdrawing, debt, deposit"
            " FROM wallet_balance_history WHERE agent_code = %s AND position <= %s"
            " ORDER BY position DESC LIMIT 1",
            (agent, at),
        ).fetchall()
    return " | ".join(r[0].strip() for r in rows)


def measure(app: Any, spans: dict[str, tuple[int, int, int]], samples: int, seed: int) -> dict:
    rng = random.Random(seed)
    read = app.read
    times: dict[str, list[float]] = {a: [] for a in spans}
    agents = list(spans)
    for _ in range(min(200, samples)):  # warm-up: connections, prepared plans, buffers
        for a in agents:
            read.wallet(a, rng.randint(spans[a][0], spans[a][1]))
    for _ in range(samples):
        rng.shuffle(agents)
        for a in agents:
            at = rng.randint(spans[a][0], spans[a][1])
            t0 = time.perf_counter()
            got = read.wallet(a, at)
            times[a].append(time.perf_counter() - t0)
            check(got is not None, f"no wallet for {a} at {at}")
    return {
        a: {
            "samples": len(ts),
            "p50_ms": rnd(quantile(ts, 0.50) * 1000),
            "p99_ms": rnd(quantile(ts, 0.99) * 1000),
            "mean_ms": rnd(sum(ts) / len(ts) * 1000),
            "max_ms": rnd(max(ts) * 1000),
        }
        for a, ts in times.items()
    }


def run(server_url: str, *, runs: int, small: int, big: int, samples: int) -> dict[str, Any]:
    from api.bootstrap import bootstrap
    from application.settings import Settings

    with database(server_url, "wallet") as dsn:
        app = bootstrap(Settings(database_url=dsn), run_migrations=False)
        try:
            progress(f"wallet query: building histories of {small} and {big} events")
            chunks = max(10, big // 2000)
            build = build_history(app, small, big, chunks)
            progress(f"  built: {build}")
            head = app.read.pin().position
            for code, balances in build.pop("balances").items():
                # the projection must agree with the aggregate it was built from
                check(app.read.wallet(code, head) == balances, f"{code}: projection != aggregate")
            spans = {SMALL: _positions(dsn, SMALL), BIG: _positions(dsn, BIG)}
            check(spans[SMALL][2] == small and spans[BIG][2] == big, f"history rows: {spans}")
            load = measure_loads(app, dsn)
            results = []
            for i in range(runs):
                progress(f"wallet query run {i + 1}/{runs}: {samples} samples per agent")
                by_agent = measure(app, spans, samples, seed=1000 + i)
                res = {
                    "history_small": by_agent[SMALL],
                    "history_big": by_agent[BIG],
                    "p99_ratio_big_over_small": rnd(
                        by_agent[BIG]["p99_ms"] / by_agent[SMALL]["p99_ms"]
                    ),
                    "p50_ratio_big_over_small": rnd(
                        by_agent[BIG]["p50_ms"] / by_agent[SMALL]["p50_ms"]
                    ),
                }
                progress(f"  {res}")
                results.append(res)
            plans = {code: _plan(dsn, code, (s[0] + s[1]) // 2) for code, s in spans.items()}
        finally:
            app.close()
    keys = [
        "history_small.p50_ms",
        "history_small.p99_ms",
        "history_big.p50_ms",
        "history_big.p99_ms",
        "p99_ratio_big_over_small",
        "p50_ratio_big_over_small",
    ]
    return {
        "history_events": {"small": small, "big": big},
        "target": "p99(big) <= 2 x p99(small)",
        "build": build
        | {
            "method": "Wallet.accrue() events via Ledger.save() in chunks (automatic snapshots off)"
            " + the real ProjectionRunner; no orders, no policy",
            "chunks": chunks,
        },
        "wallet_aggregate_load": {"small": load[SMALL], "big": load[BIG]},
        "balance_query_plan": plans,
        "median": summarize(results, keys),
        "runs": results,
    }
