"""`python -m bench`: runs every benchmark and prints one JSON document on stdout.

Progress goes to stderr. Each benchmark makes its own database on the server named by
--server-url, else FENRUN_DATABASE_URL / DATABASE_URL, else on the embedded server under
.fenrun/bench-server (started and stopped here), migrates it, and drops it at the end.

  python -m bench                 # full run, 3 runs each, medians + all runs
  python -m bench --quick         # small sizes, a smoke run
  python -m bench --runs 5 --only throughput
  python -m bench --profile       # one cProfile'd run per write mode, top functions per phase
  python -m bench --only rebuild --only report_query --events 200000
  python -m bench --only engine
  python -m bench --only simulate --runs 3
  python -m bench --only chain    # the hash chain's cost on the write path (on vs off)
  python -m bench --only cost     # a light read's latency under four heavy clients (issue 9)
  python -m bench --only statements --events 200000  # a month's statements for every agent
  python -m bench --only settlement_import --rows 100000   # a carrier file vs raw COPY (issue 13)
  python -m bench --only carrier  # a usage report to its stop command leaving the outbox
  python -m bench --only usage --cards 100000  # usage reports ingested/s vs raw COPY (issue 14)
  python -m bench --only graphql_reads  # GraphQL reads vs a plain route, wrk at 16 connections
  python -m bench --only http_orders  # orders over HTTP, 16 clients, vs in-process per_command
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SIZES = {
    # orders per throughput run; orders per point of the policy-scaling series;
    # history lengths of the wallet-query agents; query samples per agent per run
    "full": {
        "orders": 2000,
        "chunk": 500,
        "scaling": [1000, 2000, 4000],
        "small": 1_000,
        "big": 100_000,
        "samples": 5000,
        # rebuild + report_query: events of the generated history (--events); the small history
        # of report_query; report samples per report per history per run; engine sales per run
        "events": 1_000_000,
        "report_small": 1_000,
        "report_samples": 2000,
        "engine_sales": 100_000,
        # simulate: completed sales of its own generated history
        "simulate_sales": 100_000,
        # chain: saves of 1,000 synthetic events per half per run (10x as many of one event)
        "chain_saves": 20,
        # cost: completed sales of its history; seconds per scenario
        "cost_sales": 5_000,
        "cost_seconds": 20,
        # issue 13's size is 1,000,000 (--rows 1000000, ~1 h here): the summary extrapolates
        "settlement_rows": 100_000,
        # usage: cards reporting one day each; of them assigned through the ledger; per batch
        "cards": 200_000,
        "ledger_cards": 1_000,
        "usage_batch": 50_000,
        # carrier: cards pushed over quota one after another (report -> command latencies)
        "carrier_cards": 500,
        # graphql_reads: completed sales of its history; seconds of wrk per side per query
        "reads_sales": 3_000,
        "reads_seconds": 5,
        # http_orders: orders placed + completed over HTTP per run (and in-process per_command)
        "http_orders": 1000,
    },
    "quick": {
        "orders": 200,
        "chunk": 100,
        "scaling": [100, 200],
        "small": 1_000,
        "big": 10_000,
        "samples": 500,
        "events": 20_000,
        "report_small": 1_000,
        "report_samples": 300,
        "engine_sales": 10_000,
        "simulate_sales": 10_000,
        "chain_saves": 5,
        "cost_sales": 1_000,
        "cost_seconds": 8,
        "settlement_rows": 10_000,
        "cards": 20_000,
        "ledger_cards": 100,
        "usage_batch": 10_000,
        "carrier_cards": 100,
        "reads_sales": 500,
        "reads_seconds": 2,
        "http_orders": 100,
    },
}
MODES = ("per_command", "per_command_keys", "batched")
# per_command_keys (every command with an idempotency key) is left out of the default run to keep
# it near 5 minutes on 2 cores; add it with --modes per_command per_command_keys batched.
DEFAULT_MODES = ("per_command", "batched")
BENCHMARKS = (
    "throughput",
    "policy_scaling",
    "wallet_query",
    "rebuild",
    "report_query",
    "engine",
    "simulate",
    "chain",
    "cost",
    "statements",
    "settlement_import",
    "usage",
    "carrier",
    "graphql_reads",
    "http_orders",
)
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
# `fenrun projections rebuild NAME` per view (one pass over the log each) costs 7 passes for all
# views: by default only up to this many events (else none; name views with --rebuild-views).
PER_VIEW_DEFAULT_MAX_EVENTS = 200_000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    parser.add_argument("--runs", type=int, default=3, help="runs per benchmark (default 3)")
    parser.add_argument("--orders", type=int, help="orders per throughput run")
    parser.add_argument("--chunk", type=int, help="orders per save in the batched mode")
    parser.add_argument("--big", type=int, help="history events of the big wallet")
    parser.add_argument("--samples", type=int, help="wallet queries per agent per run")
    parser.add_argument(
        "--events", type=int, help="events of the generated history (rebuild, report_query)"
    )
    parser.add_argument(
        "--rebuild-views",
        nargs="+",
        choices=(*VIEW_NAMES, "all", "none"),
        help="views to rebuild one by one with projections.rebuild.rebuild (default: all up to"
        f" {PER_VIEW_DEFAULT_MAX_EVENTS} events, else none)",
    )
    parser.add_argument("--rows", type=int, help="rows of the settlement_import file")
    parser.add_argument("--cards", type=int, help="cards reporting usage (usage)")
    parser.add_argument("--only", choices=BENCHMARKS, action="append", help="run only these")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(DEFAULT_MODES))
    parser.add_argument("--server-url", help="server to make databases on (overrides env)")
    parser.add_argument("--profile", action="store_true", help="add cProfile top functions")
    parser.add_argument("--save", action="store_true", help="also write bench/results/*.json")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    sizes = dict(SIZES["quick" if args.quick else "full"])
    for key in ("orders", "chunk", "big", "samples", "events", "cards"):
        if getattr(args, key) is not None:
            sizes[key] = getattr(args, key)
    if args.rows is not None:
        sizes["settlement_rows"] = args.rows
    selected = args.only or list(BENCHMARKS)

    # Anything printed to stdout by libraries (structlog's default logger prints there) would
    # corrupt the JSON document: send it all to stderr and keep stdout for the result alone.
    real_stdout = sys.stdout
    sys.stdout = sys.stderr
    import structlog

    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

    from bench import (
        carrier,
        chain,
        cost,
        engine,
        graphql_reads,
        http_orders,
        report_query,
        settlement_import,
        simulate,
        statements,
        throughput,
        usage,
        wallet_query,
    )
    from bench.common import ROOT, code_version, progress, server
    from bench.history import Histories

    started = time.perf_counter()
    failed = False
    doc: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "runs": args.runs,
        "sizes": sizes,
        "code": code_version(),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        },
    }
    per_view = args.rebuild_views
    if per_view is None:
        per_view = ["all"] if sizes["events"] <= PER_VIEW_DEFAULT_MAX_EVENTS else ["none"]
    if "all" in per_view:
        # directory last: the others read its tables (platform_totals reads `orders`)
        per_view = [v for v in VIEW_NAMES if v != "directory"] + ["directory"]
    per_view = [v for v in per_view if v != "none"]
    with server(args.server_url) as srv, contextlib.ExitStack() as stack:
        histories = Histories(srv.url, stack)
        doc["server"] = {"kind": srv.kind, "version": srv.version}
        progress(f"server: {srv.kind} PostgreSQL {srv.version}")
        jobs = {
            "throughput": lambda: throughput.run(
                srv.url,
                runs=args.runs,
                orders=sizes["orders"],
                chunk=sizes["chunk"],
                modes=args.modes,
            ),
            "policy_scaling": lambda: throughput.scaling(
                srv.url, sizes["scaling"], chunk=sizes["chunk"], runs=args.runs
            ),
            "wallet_query": lambda: wallet_query.run(
                srv.url,
                runs=args.runs,
                small=sizes["small"],
                big=sizes["big"],
                samples=sizes["samples"],
            ),
            "rebuild": lambda: _rebuild(histories, sizes["events"], per_view, args.profile),
            "report_query": lambda: report_query.run(
                histories,
                runs=args.runs,
                small=sizes["report_small"],
                big=sizes["events"],
                samples=sizes["report_samples"],
            ),
            "engine": lambda: engine.run(runs=args.runs, count=sizes["engine_sales"]),
            "simulate": lambda: simulate.run(
                srv.url,
                runs=args.runs,
                sales=sizes["simulate_sales"],
                quick=args.quick,
                profile=args.profile,
            ),
            "chain": lambda: chain.run(
                srv.url,
                runs=args.runs,
                orders=sizes["orders"],
                chunk=sizes["chunk"],
                saves=sizes["chain_saves"],
            ),
            "cost": lambda: cost.run(
                srv.url, sales=sizes["cost_sales"], seconds=sizes["cost_seconds"]
            ),
            "statements": lambda: statements.run(histories, sizes["events"]),
            "settlement_import": lambda: settlement_import.run(
                srv.url, rows=sizes["settlement_rows"]
            ),
            "usage": lambda: usage.run(
                srv.url,
                runs=args.runs,
                cards=sizes["cards"],
                ledger_cards=min(sizes["ledger_cards"], sizes["cards"]),
                batch=sizes["usage_batch"],
            ),
            "carrier": lambda: carrier.run(srv.url, runs=args.runs, cards=sizes["carrier_cards"]),
            "graphql_reads": lambda: graphql_reads.run(
                srv.url, runs=args.runs, sales=sizes["reads_sales"], seconds=sizes["reads_seconds"]
            ),
            "http_orders": lambda: http_orders.run(
                srv.url,
                runs=args.runs,
                orders=sizes["http_orders"],
                per_command_orders=sizes["http_orders"],
            ),
        }
        if args.profile and "throughput" in selected:
            jobs["profile"] = lambda: {
                mode: throughput.one_run(
                    srv.url, mode, sizes["orders"], sizes["chunk"], "prof", profile=True
                )["profile_top_cumulative"]
                for mode in ("per_command", "batched")
            }
        for name, job in jobs.items():
            if name != "profile" and name not in selected:
                continue
            try:
                doc[name] = job()
            except Exception as exc:  # report it and go on: the other figures still stand
                failed = True
                traceback.print_exc()
                doc[name] = {"error": f"{type(exc).__name__}: {exc}"}
    doc["seconds_total"] = round(time.perf_counter() - started, 1)
    doc["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    doc["summary"] = _summary(doc)
    text = json.dumps(doc, indent=2, default=str)
    if args.save:
        folder = ROOT / "bench" / "results"
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        (folder / f"{stamp}{'-quick' if args.quick else ''}.json").write_text(text + "\n")
    sys.stdout = real_stdout
    print(text)
    progress(f"done in {doc['seconds_total']} s" + (" (with errors)" if failed else ""))
    return 1 if failed else 0


def _rebuild(histories: Any, events: int, per_view: list[str], profile: bool) -> dict[str, Any]:
    from bench import rebuild

    entry = histories.get(events)
    result = {"history": entry.built.report()}
    result |= rebuild.measure(entry.app, entry.dsn, entry.built, views=per_view, profile=profile)
    entry.projected = True
    return result


def _summary(doc: dict[str, Any]) -> dict[str, Any]:
    """The headline figures (medians), so the answer to the issue is in one place."""
    out: dict[str, Any] = {}
    with contextlib.suppress(KeyError, TypeError):
        for mode, data in doc["throughput"]["modes"].items():
            m = data["median"]
            out[f"e2e_{mode}"] = {
                "completions_per_s": m["completions_per_s"],
                "rows_per_s": m["rows_per_s"],
                "raw_executemany_rows_per_s": m["raw_executemany.rows_per_s"],
                "ratio_vs_raw": m["ratio_vs_raw"],
                "rows_per_completion": data["runs"][0]["rows_per_completion"],
                "meets_15pct": m["ratio_vs_raw"] >= 0.15,
                "phase_completions_per_s": {
                    k: m[f"phases.{k}.completions_per_s"]
                    for k in ("commands", "policy", "projections")
                },
                "seconds": {k: m[f"seconds.{k}"] for k in ("commands", "policy", "projections")},
            }
    with contextlib.suppress(KeyError, TypeError):
        from bench.common import rnd

        points = doc["policy_scaling"]
        out["policy_scaling"] = {
            f"policy_completions_per_s_at_{p['orders']}_orders": p["policy_completions_per_s"]
            for p in points
        } | {
            # the largest size's rate over the smallest's (target >= 0.9: flat)
            "ratio_last_over_first": rnd(
                points[-1]["policy_completions_per_s"] / points[0]["policy_completions_per_s"]
            ),
            "cpu_ratio_last_over_first": rnd(
                points[-1]["policy_cpu_completions_per_s"]
                / points[0]["policy_cpu_completions_per_s"]
            ),
        }
    with contextlib.suppress(KeyError, TypeError):
        w = doc["wallet_query"]["median"]
        sizes = doc["wallet_query"]["history_events"]
        out["wallet_query"] = {
            f"p50_ms_{sizes['small']}": w["history_small.p50_ms"],
            f"p99_ms_{sizes['small']}": w["history_small.p99_ms"],
            f"p50_ms_{sizes['big']}": w["history_big.p50_ms"],
            f"p99_ms_{sizes['big']}": w["history_big.p99_ms"],
            "p99_ratio": w["p99_ratio_big_over_small"],
            "meets_2x": w["p99_ratio_big_over_small"] <= 2.0,
        }
    with contextlib.suppress(KeyError, TypeError):
        r = doc["rebuild"]
        out["rebuild"] = {
            "events": r["all_views"]["events"],
            "all_views_events_per_s": r["all_views"]["events_per_s"],
            "raw_events_per_s": r["raw"]["events_per_s"],
            "ratio_vs_raw": r["ratio_vs_raw"],
            "meets_25pct": r["ratio_vs_raw"] >= 0.25,
            "seconds": r["all_views"]["seconds"],
            "generate_events_per_s": r["history"]["generate_and_save_events_per_s"],
        }
        if "one_pass" in r:
            out["rebuild"]["one_pass_events_per_s"] = r["one_pass"]["events_per_s"]
            out["rebuild"]["one_pass_ratio_vs_raw"] = r["one_pass_ratio_vs_raw"]
        if "per_view_all_events_per_s" in r:
            out["rebuild"]["per_view_all_events_per_s"] = r["per_view_all_events_per_s"]
            out["rebuild"]["per_view_all_ratio_vs_raw"] = r["per_view_all_ratio_vs_raw"]
    with contextlib.suppress(KeyError, TypeError):
        q = doc["report_query"]["median"]
        sizes = doc["report_query"]["history_events"]
        out["report_query"] = {"history_events": sizes} | {
            f"{kind}_{q_}_ms_{size}": q[f"{size}.{kind}.{q_}_ms"]
            for kind in ("performance", "activation_report")
            for size in ("small", "big")
            for q_ in ("p50", "p99")
        }
        for kind in ("performance", "activation_report"):
            out["report_query"][f"{kind}_p99_ratio"] = q[f"{kind}_p99_ratio"]
            out["report_query"][f"{kind}_meets_2x"] = q[f"{kind}_p99_ratio"] <= 2.0
    with contextlib.suppress(KeyError, TypeError):
        e = doc["engine"]["median"]
        out["engine"] = {"sales_per_s": e["sales_per_s"], "lines_per_s": e["lines_per_s"]}
    with contextlib.suppress(KeyError, TypeError):
        s = doc["simulate"]
        m = s["median"]
        out["simulate"] = {
            "sales": s["sales"],
            "facts": s["facts"],
            "seconds": m["simulate.seconds"],
            "sales_per_s": m["simulate.sales_per_s"],
            "facts_per_s": m["simulate.facts_per_s"],
            "engine_share": m["simulate.engine_share"],
            "raw_seconds": m["raw.seconds"],
            "ratio_vs_raw": m["ratio_vs_raw"],
            "commission_differences": s["differences"]["commissions"],
            "agent_differences": s["differences"]["agents"],
        }
    with contextlib.suppress(KeyError, TypeError):
        c = doc["chain"]
        out["chain"] = {
            "ratio_on_over_off": c["ratio"],
            "events_per_s_on": {p: c["chain_on"][f"{p}.events_per_s"] for p in c["ratio"]},
            "events_per_s_off": {p: c["chain_off"][f"{p}.events_per_s"] for p in c["ratio"]},
            "verify_events_per_s": c["verify_events_per_s"],
        }
    with contextlib.suppress(KeyError, TypeError):
        c = doc["cost"]
        out["cost"] = {
            name: {k: c[name][k] for k in ("light_p50_ms", "light_p99_ms", "meets_p99_under_100ms")}
            for name in ("baseline", "simulations", "largest_reads", "refused")
        }
    with contextlib.suppress(KeyError, TypeError):
        s = doc["statements"]
        out["statements"] = {
            "history_events": s["history_events"],
            "statements": s["statements"],
            "generate_seconds": s["generate"]["seconds"],
            "raw_seconds": s["raw"]["seconds"],
            "ratio_generate_over_raw": s["ratio_generate_over_raw"],
            "meets_60s": s["meets_target"],
        }
    with contextlib.suppress(KeyError, TypeError):
        s = doc["settlement_import"]
        out["settlement_import"] = {
            k: s[k]
            for k in ("rows", "total_seconds", "raw_copy_seconds", "ratio_total_over_raw",
                      "projected_seconds_for_1m", "meets_60s_per_1m", "floor_seconds_for_1m",
                      "rows_stored_per_row")
        }  # fmt: skip
    with contextlib.suppress(KeyError, TypeError):
        out["graphql_reads"] = {
            name: {
                "req_per_s": m["fenrun"]["req_per_s"],
                "p99_ms": m["fenrun"]["p99_ms"],
                "baseline_req_per_s": m["baseline"]["req_per_s"],
                "ratio": m["ratio"],
                "meets_half": m["meets_half"],
            }
            for name, m in doc["graphql_reads"]["median"].items()
        }
    with contextlib.suppress(KeyError, TypeError):
        u = doc["usage"]
        out["usage"] = {"cards": u["cards"]} | u["median"]
    with contextlib.suppress(KeyError, TypeError):
        out["http_orders"] = {"clients": doc["http_orders"]["clients"]} | doc["http_orders"][
            "median"
        ]
    # Issue 15's table (and issue 13's import): every row, null where its benchmark did not run.
    from bench.issue15 import met_count, table

    out["issue15_table"] = table(doc)
    out["issue15_met"] = met_count(out["issue15_table"])
    return out


if __name__ == "__main__":
    sys.exit(main())
