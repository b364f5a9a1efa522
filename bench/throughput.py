"""Benchmark 1: order completions per second end to end, against raw psycopg executemany.

End to end = the order events durable (commands phase), the commission events durable (the
CommissionPolicy run until idle), and the four read models caught up (the ProjectionRunner run
until idle). The phases run one after another so each is timed on its own; the end-to-end time
is their sum. Each (run, mode) gets a fresh database with the chain set up and caught up first.

"Rows": every row inserted into ledger_events and the read-model tables by the timed phases,
counted from the tables. The raw baseline then inserts that many rows, of the same average
on-disk row size (pg_column_size), into a table shaped like ledger_events (same columns and
three indexes), with one psycopg executemany in one transaction, in the same database.
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg

from bench.common import (
    NOT_CREDITED,
    TRACKING_TABLES,
    Timer,
    check,
    database,
    diff_stats,
    progress,
    rnd,
    summarize,
    table_stats,
)
from bench.fixtures import (
    LINES_PER_ORDER,
    place_and_complete,
    place_and_complete_batched,
    setup_chain,
)

RAW_TABLE = """
CREATE TABLE bench_raw (
    originator_id uuid NOT NULL,
    originator_version bigint NOT NULL,
    topic text,
    state bytea,
    notification_id bigserial,
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (originator_id, originator_version)
);
CREATE UNIQUE INDEX bench_raw_notification_id_idx ON bench_raw (notification_id);
CREATE INDEX bench_raw_recorded_at_idx ON bench_raw (recorded_at);
"""
RAW_TOPIC = "domain.wallet:Wallet.CommissionAccrued"
RAW_INSERT = (
    "INSERT INTO bench_raw (originator_id, originator_version, topic, state)"
    " VALUES (%s, %s, %s, %s)"
)


def raw_baseline(dsn: str, rows: int, avg_row_bytes: float) -> dict[str, Any]:
    """Inserts `rows` rows of about `avg_row_bytes` each with one executemany + commit."""
    with psycopg.connect(dsn) as conn:
        conn.execute(RAW_TABLE)
        conn.execute(RAW_INSERT, (uuid.uuid4(), 0, RAW_TOPIC, b""))
        row = conn.execute("SELECT pg_column_size(t.*) FROM bench_raw t").fetchone()
        assert row is not None
        empty_row_bytes = row[0]
        conn.execute("TRUNCATE bench_raw")
        conn.commit()
        # +1 for the varlena header a short bytea gains once it is not empty
        state_bytes = max(1, round(avg_row_bytes) - empty_row_bytes - 1)
        data = [(uuid.uuid4(), 1, RAW_TOPIC, os.urandom(state_bytes)) for _ in range(rows)]
        with Timer() as t, conn.cursor() as cur:
            cur.executemany(RAW_INSERT, data)
            conn.commit()
        row = conn.execute("SELECT count(*), avg(pg_column_size(t.*)) FROM bench_raw t").fetchone()
        check(row is not None and row[0] == rows, f"baseline wrote {row} rows, not {rows}")
    return {
        "rows": rows,
        "state_bytes": state_bytes,
        "avg_row_bytes": rnd(float(row[1])),
        "seconds": rnd(t.seconds),
        "rows_per_s": rnd(rows / t.seconds),
    }


def _count(dsn: str, sql: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(sql).fetchone()
        assert row is not None
        return int(row[0])


def _profile(fn: Callable[[], Any], top: int) -> tuple[Any, list[dict[str, Any]]]:
    prof = cProfile.Profile()
    result = prof.runcall(fn)
    stats = pstats.Stats(prof, stream=io.StringIO())
    rows = []
    for (file, line, name), (_cc, ncalls, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append(
            {
                "function": f"{_short(file)}:{line}({name})",
                "calls": ncalls,
                "tottime_s": round(tottime, 3),
                "cumtime_s": round(cumtime, 3),
            }
        )
    rows.sort(key=lambda r: r["cumtime_s"], reverse=True)
    return result, rows[:top]


def _short(path: str) -> str:
    for marker in ("site-packages/", "/work/main/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def one_run(
    server_url: str,
    mode: str,
    orders: int,
    chunk: int,
    run_label: str,
    profile: bool = False,
    baseline: bool = True,
) -> dict[str, Any]:
    from api.bootstrap import bootstrap
    from application.settings import Settings

    with database(server_url, f"tp_{mode}") as dsn:
        app = bootstrap(Settings(database_url=dsn), run_migrations=False)
        profiles: dict[str, Any] = {}
        try:
            setup_chain(app)
            before = table_stats(dsn)
            head0 = app.read.log_head()

            def commands() -> None:
                if mode == "batched":
                    place_and_complete_batched(app, run_label, 0, orders, chunk)
                else:
                    place_and_complete(app, run_label, 0, orders, keys=(mode == "per_command_keys"))

            phases: dict[str, Callable[[], Any]] = {
                "commands": commands,
                "policy": app.policy.run_until_idle,
                "levels": app.level_policy.run_until_idle,
                "projections": app.projections.run_until_idle,
            }
            timings: dict[str, float] = {}
            cpu: dict[str, float] = {}  # this process's CPU: steadier than wall on a busy machine
            heads: dict[str, int] = {}
            for name, fn in phases.items():
                cpu_start = time.process_time()
                with Timer() as t:
                    if profile:
                        _, profiles[name] = _profile(fn, 25)
                    else:
                        fn()
                timings[name] = t.seconds
                cpu[name] = time.process_time() - cpu_start
                heads[name] = app.read.log_head()
            leftover = app.catch_up()  # must be 0: the phases above left nothing to do
            after = table_stats(dsn)
            caught = app.read.caught_up()
        finally:
            app.close()
        written = diff_stats(before, after)
        lines = _count(dsn, "SELECT count(*) FROM commission_lines")
        check(lines == LINES_PER_ORDER * orders, f"{lines} commission lines for {orders} orders")
        check(
            leftover == 0 and caught == heads["projections"],
            f"not caught up after the phases: leftover {leftover}, at {caught}",
        )
        counted = {t: v for t, v in written.items() if t not in NOT_CREDITED}
        uncredited = {t: v for t, v in written.items() if t in NOT_CREDITED}
        rows = sum(v["rows"] for v in counted.values())
        row_bytes = sum(v["bytes"] for v in counted.values())
        raw = raw_baseline(dsn, rows, row_bytes / rows) if baseline and not profile else None

    command_events = heads["commands"] - head0
    policy_events = heads["policy"] - heads["commands"]
    total = sum(timings.values())
    result: dict[str, Any] = {
        "mode": mode,
        "orders": orders,
        "seconds": {k: rnd(v) for k, v in timings.items()} | {"end_to_end": rnd(total)},
        "client_cpu_seconds": {k: rnd(v) for k, v in cpu.items()},
        "completions_per_s": rnd(orders / total),
        "phases": {
            "commands": {
                "transactions": _saves(mode, orders, chunk),
                "events_written": command_events,
                "events_per_s": rnd(command_events / timings["commands"]),
                "completions_per_s": rnd(orders / timings["commands"]),
            },
            "policy": {
                # it reads its own log to the end, so also the commission events it wrote
                "notifications_read": command_events + policy_events,
                "events_written": policy_events,
                "events_written_per_s": rnd(policy_events / timings["policy"]),
                "notifications_per_s": rnd((command_events + policy_events) / timings["policy"]),
                "completions_per_s": rnd(orders / timings["policy"]),
            },
            "projections": {
                "events_read": command_events + policy_events,
                "events_per_s": rnd((command_events + policy_events) / timings["projections"]),
                "completions_per_s": rnd(orders / timings["projections"]),
            },
        },
        "rows_written": {t: v["rows"] for t, v in counted.items()},
        "rows_total": rows,
        "rows_per_completion": rnd(rows / orders),
        # written too, but not counted as rows: tracking rows change in place once per batch;
        # snapshots copy an aggregate's state (their bytes grow with the wallet's history)
        "not_credited": {
            t: ({"bytes": v["bytes"], "rows": v["rows"]} if t not in TRACKING_TABLES else "updated")
            for t, v in uncredited.items()
        },
        "avg_row_bytes": rnd(row_bytes / rows),
        "rows_per_s": rnd(rows / total),
    }
    if raw is not None:
        result["raw_executemany"] = raw
        result["ratio_vs_raw"] = rnd((rows / total) / raw["rows_per_s"])
    if profile:
        result["profile_top_cumulative"] = profiles
    return result


def _saves(mode: str, orders: int, chunk: int) -> int:
    if mode == "batched":
        return -(-orders // chunk)
    return 2 * orders


def run(server_url: str, *, runs: int, orders: int, chunk: int, modes: list[str]) -> dict[str, Any]:
    per_mode: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
    for i in range(runs):
        for mode in modes:
            progress(f"throughput run {i + 1}/{runs} mode={mode} orders={orders}")
            res = one_run(server_url, mode, orders, chunk, f"r{i}")
            progress(
                f"  {res['completions_per_s']} completions/s, {res['rows_per_s']} rows/s,"
                f" raw {res['raw_executemany']['rows_per_s']} rows/s,"
                f" ratio {res['ratio_vs_raw']}, seconds {res['seconds']}"
            )
            per_mode[mode].append(res)
    keys = [
        "completions_per_s",
        "rows_per_s",
        "raw_executemany.rows_per_s",
        "ratio_vs_raw",
        "seconds.commands",
        "seconds.policy",
        "seconds.projections",
        "seconds.end_to_end",
        "phases.commands.events_per_s",
        "phases.commands.completions_per_s",
        "phases.policy.notifications_per_s",
        "phases.policy.events_written_per_s",
        "phases.policy.completions_per_s",
        "phases.projections.events_per_s",
        "phases.projections.completions_per_s",
    ]
    return {
        "orders_per_run": orders,
        "batch_chunk": chunk,
        "target_ratio": 0.15,
        "modes": {
            mode: {"median": summarize(results, keys), "runs": results}
            for mode, results in per_mode.items()
        },
    }


def scaling(
    server_url: str, sizes: list[int], *, chunk: int, runs: int = 1
) -> list[dict[str, Any]]:
    """One batched run per size and run: whether the policy's rate stays flat as the wallets'
    histories grow (target: the rate at the largest size >= 0.9 of the smallest's).

    The policy keeps the wallets and monthly volumes it touched between batches (brought forward
    from the log, application/hot_aggregates.py) and snapshot intervals stretch with the state,
    so a batch should cost the same whatever the history (decision 0037). The sizes alternate
    within each run, so a busy machine's swings fall on all of them; each point is the median
    over runs. `policy_cpu_completions_per_s`: the bench process's own CPU time (the database
    server's is not in it), steadier than wall time on a shared machine.
    """
    per_size: dict[int, list[dict[str, Any]]] = {n: [] for n in sizes}
    for i in range(runs):
        for orders in sizes:
            progress(f"policy scaling: run {i + 1}/{runs} batched, orders={orders}")
            res = one_run(server_url, "batched", orders, chunk, f"s{i}-{orders}", baseline=False)
            point = {
                "seconds": res["seconds"],
                "policy_completions_per_s": res["phases"]["policy"]["completions_per_s"],
                "policy_cpu_completions_per_s": rnd(orders / res["client_cpu_seconds"]["policy"]),
                "policy_notifications_per_s": res["phases"]["policy"]["notifications_per_s"],
                "policy_events_written_per_s": res["phases"]["policy"]["events_written_per_s"],
                "projection_events_per_s": res["phases"]["projections"]["events_per_s"],
                "completions_per_s": res["completions_per_s"],
                "snapshots": res["not_credited"].get("ledger_snapshots"),
            }
            per_size[orders].append(point)
            progress(f"  {point}")
    keys = [
        "policy_completions_per_s",
        "policy_cpu_completions_per_s",
        "policy_notifications_per_s",
        "policy_events_written_per_s",
        "projection_events_per_s",
        "completions_per_s",
        "seconds.policy",
    ]
    return [
        {
            "orders": orders,
            "wallet_events_at_end": {"A": orders, "B": orders, "C": 2 * orders},
            **summarize(points, keys),
            "runs": points,
        }
        for orders, points in per_size.items()
    ]
