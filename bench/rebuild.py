"""Benchmark (issue 4): rebuilding every view from a realistic history, against raw psycopg.

The history (bench/history.py) is generated into a fresh database; no view has seen it. Then:

1. `all_views`: one ProjectionRunner with `build_views(zone)` (the seven views, as bootstrap wires
   them) and the rebuild's batch size (2000, `projections.rebuild.rebuild`'s default) runs until
   idle into the empty tables: every view built from the whole log in one pass. This is the
   work of rebuilding all views, read once; `fenrun projections rebuild NAME` does the same per
   view, each with its own pass over the log (measured in 3).
2. `raw`: the same events read with psycopg (the runner's own keyset query, same batch size,
   fetchall), and the rows the build wrote (every row of every table it filled, counted from
   the tables) written again with COPY (psycopg `copy.write_row`, one transaction) into empty
   copies of those tables with the same indexes (`LIKE ... INCLUDING ALL`). The rows are read
   into memory first, untimed. ratio_vs_raw = our events/s / raw events/s (target >= 0.25).
3. `one_pass`: `projections.rebuild.rebuild_views(pool, decode, every view)`, as `fenrun
   projections rebuild all` runs it: every view's next version built in one pass over the log
   (into fresh schemas), then all switched at once. events/s and its ratio to `raw`.
4. `per_view` (optional): `projections.rebuild.rebuild(pool, decode, view)` for the named views,
   one after another, exactly as `fenrun projections rebuild NAME` runs it (prepare the next
   version's schema, build it, switch): events/s of each, and all of them summed when all seven
   are rebuilt this way.

Checks: every view's position reaches the head of the log; commission_lines has one row per
accrued commission; sampled agents' wallet balances as of the head equal the aggregates'.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import random
import time
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from bench.common import NOT_CREDITED, Timer, check, diff_stats, progress, rnd, table_stats

BATCH = 2000  # projections.rebuild.rebuild's default batch size
READ = (
    "SELECT notification_id, originator_id, originator_version, topic, state, recorded_at"
    " FROM public.ledger_events WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
)
NOT_VIEW_TABLES = (*NOT_CREDITED, "ledger_events")
JSON_OIDS = (114, 3802)  # json, jsonb


def build_all(app: Any, batch: int, profile: bool = False) -> tuple[int, float, Any]:
    from api.bootstrap import build_views
    from application.collector import collector_paused
    from projections.runner import ProjectionRunner

    runner = ProjectionRunner(
        app.pool,
        app.ledger.mapper.to_domain_event,
        build_views(app.settings.zone),
        batch,
        around_batch=collector_paused,  # as bootstrap wires the live runner
    )
    prof = cProfile.Profile() if profile else None
    with Timer() as t:
        done = prof.runcall(runner.run_until_idle) if prof else runner.run_until_idle()
    return done, t.seconds, prof


def top_functions(prof: cProfile.Profile, top: int = 30) -> list[dict[str, Any]]:
    stats = pstats.Stats(prof, stream=io.StringIO())
    rows = []
    for (file, line, name), (_cc, ncalls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        short = file.split("site-packages/")[-1].split("/work/main/")[-1]
        rows.append(
            {
                "function": f"{short}:{line}({name})",
                "calls": ncalls,
                "tottime_s": round(tottime, 2),
                "cumtime_s": round(cumtime, 2),
            }
        )
    rows.sort(key=lambda r: r["tottime_s"], reverse=True)
    return rows[:top]


def raw_read(dsn: str, batch: int) -> tuple[int, float]:
    """The events, read the way the runner reads them, with nothing done to them."""
    with psycopg.connect(dsn) as conn, conn.cursor() as cur, Timer() as t:
        last, total = 0, 0
        while True:
            cur.execute(READ, (last, batch))
            rows = cur.fetchall()
            if not rows:
                break
            total += len(rows)
            last = rows[-1][0]
        conn.commit()
    return total, t.seconds


def raw_write(dsn: str, tables: dict[str, int]) -> dict[str, Any]:
    """COPYs the rows of `tables` again into empty copies (same columns and indexes)."""
    out: dict[str, Any] = {"tables": {}}
    with psycopg.connect(dsn) as conn:
        conn.execute("CREATE SCHEMA bench_raw")
        conn.commit()
        seconds = 0.0
        rows_total = 0
        for table, expected in tables.items():
            conn.execute(
                sql.SQL("CREATE TABLE bench_raw.{} (LIKE public.{} INCLUDING ALL)").format(
                    sql.Identifier(table), sql.Identifier(table)
                )
            )
            conn.commit()
            with conn.cursor() as cur:
                cur.execute(sql.SQL("SELECT * FROM public.{}").format(sql.Identifier(table)))
                assert cur.description is not None
                columns = [c.name for c in cur.description]
                # json(b) columns by their type (a list may be a text[] too: approvers)
                json_at = [i for i, c in enumerate(cur.description) if c.type_code in JSON_OIDS]
                rows = cur.fetchall()
            check(len(rows) == expected, f"{table}: {len(rows)} rows, expected {expected}")
            if json_at:
                rows = [
                    tuple(Jsonb(v) if i in json_at else v for i, v in enumerate(r)) for r in rows
                ]
            copy_sql = sql.SQL("COPY bench_raw.{} ({}) FROM STDIN").format(
                sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
            )
            t0 = time.perf_counter()
            with conn.cursor() as cur, cur.copy(copy_sql) as copy:
                for row in rows:
                    copy.write_row(row)
            conn.commit()
            took = time.perf_counter() - t0
            seconds += took
            rows_total += len(rows)
            out["tables"][table] = {"rows": len(rows), "seconds": rnd(took)}
            del rows
        out["rows"] = rows_total
        out["seconds"] = seconds
        conn.execute("DROP SCHEMA bench_raw CASCADE")
        conn.commit()
    return out


def checks(app: Any, dsn: str, built: Any, sample: int = 200) -> dict[str, Any]:
    head = app.read.log_head()
    caught = app.read.caught_up()
    check(caught == head, f"views at {caught}, log head at {head}")
    lines = app.read._one("SELECT count(*) AS n FROM commission_lines")["n"]
    accrued = built.by_topic.get("Wallet.CommissionAccrued", 0)
    check(lines == accrued, f"{lines} commission lines for {accrued} accruals")
    rng = random.Random(7)
    agents = rng.sample(built.agents, min(sample, len(built.agents)))
    for code in agents:
        got = app.read.wallet(code, head)
        check(got == built.wallets[code].balances, f"{code}: {got} != {built.wallets[code]}")
    return {"head": head, "commission_lines": lines, "wallets_checked": len(agents)}


def per_view(app: Any, names: list[str], batch: int) -> dict[str, Any]:
    """projections.rebuild.rebuild for each view, as `fenrun projections rebuild NAME` does."""
    from api.bootstrap import build_views
    from application.collector import collector_paused
    from projections.rebuild import rebuild

    head = app.read.log_head()
    out: dict[str, Any] = {}
    for name in names:
        view = next(v for v in build_views(app.settings.zone) if v.name == name)
        progress(f"  rebuild() {name}")
        with Timer() as t:
            version = rebuild(
                app.pool, app.ledger.mapper.to_domain_event, view, batch,
                around_batch=collector_paused,
            )  # fmt: skip
        out[name] = {
            "version": version,
            "seconds": rnd(t.seconds),
            "events_per_s": rnd(head / t.seconds),
        }
        progress(f"    {out[name]}")
    return out


def one_pass(app: Any, batch: int) -> dict[str, Any]:
    """rebuild_views over every view, as `fenrun projections rebuild all` does."""
    from api.bootstrap import build_views
    from application.collector import collector_paused
    from projections.rebuild import rebuild_views

    head = app.read.log_head()
    views = build_views(app.settings.zone)
    progress(f"  rebuild_views() of {len(views)} views in one pass")
    with Timer() as t:
        versions = rebuild_views(
            app.pool, app.ledger.mapper.to_domain_event, views, batch,
            around_batch=collector_paused,
        )  # fmt: skip
    check(app.read.caught_up() == head, "the switched views are not at the head of the log")
    return {
        "views": len(versions),
        "versions": sorted(set(versions.values())),
        "seconds": rnd(t.seconds),
        "events_per_s": rnd(head / t.seconds),
    }


def measure(
    app: Any,
    dsn: str,
    built: Any,
    *,
    batch: int = BATCH,
    views: list[str] | None = None,
    profile: bool = False,
    rebuild_all: bool = True,
) -> dict[str, Any]:
    events = built.events
    before = table_stats(dsn)
    progress(f"rebuild: all views from {events} events (batch {batch})")
    done, seconds, prof = build_all(app, batch, profile)
    check(done == events, f"the build read {done} events, the log has {events}")
    after = table_stats(dsn)
    written = {
        t: v["rows"]
        for t, v in diff_stats(before, after).items()
        if t not in NOT_VIEW_TABLES and v["rows"] > 0
    }
    check(
        all(before.get(t, {"rows": 0})["rows"] == 0 for t in written),
        "view tables were not empty before the build",
    )
    rows = sum(written.values())
    ours = {
        "events": events,
        "seconds": rnd(seconds),
        "events_per_s": rnd(events / seconds),
        "rows_written": rows,
        "rows_per_s": rnd(rows / seconds),
        "rows_by_table": dict(sorted(written.items(), key=lambda kv: -kv[1])),
    }
    progress(f"  all views: {ours['events_per_s']} events/s, {rows} rows in {ours['seconds']} s")
    verified = checks(app, dsn, built)
    progress("rebuild: raw baseline (psycopg read + COPY)")
    read_events, read_s = raw_read(dsn, batch)
    check(read_events == events, f"raw read {read_events} events")
    write = raw_write(dsn, written)
    raw_s = read_s + write["seconds"]
    raw = {
        "read_seconds": rnd(read_s),
        "read_events_per_s": rnd(events / read_s),
        "copy_seconds": rnd(write["seconds"]),
        "copy_rows_per_s": rnd(rows / write["seconds"]),
        "copy_by_table": write["tables"],
        "seconds": rnd(raw_s),
        "events_per_s": rnd(events / raw_s),
    }
    progress(
        f"  raw: {raw['events_per_s']} events/s (read {raw['read_seconds']} s,"
        f" copy {raw['copy_seconds']} s)"
    )
    result: dict[str, Any] = {
        "all_views": ours,
        "raw": raw,
        "ratio_vs_raw": rnd((events / seconds) / (events / raw_s)),
        "target_ratio": 0.25,
        "checks": verified,
    }
    if profile and prof is not None:
        result["profiled"] = "all_views timings include cProfile overhead"
        result["profile_top_tottime"] = top_functions(prof)
    if rebuild_all:
        result["one_pass"] = one_pass(app, batch)
        result["one_pass_ratio_vs_raw"] = rnd(
            float(result["one_pass"]["events_per_s"]) / (events / raw_s)
        )
        progress(f"    {result['one_pass']}, ratio {result['one_pass_ratio_vs_raw']}")
    if views:
        pv = per_view(app, views, batch)
        result["per_view"] = pv
        if set(pv) == set(VIEW_NAMES):
            total = sum(float(v["seconds"]) for v in pv.values())
            result["per_view_all_seconds"] = rnd(total)
            result["per_view_all_events_per_s"] = rnd(events / total)
            result["per_view_all_ratio_vs_raw"] = rnd((events / total) / (events / raw_s))
    return result


VIEW_NAMES = (
    "directory",
    "wallet_balances",
    "commissions",
    "platform_totals",
    "team_performance",
    "activations",
    "platform_months",
    "wallet_movements",
    "statements",
    "payouts",
    "withdrawals",
    "cards",
)
