"""Benchmark: `simulatePlan` over 100,000 recorded sales, against the raw PostgreSQL read.

`application.simulation.simulate(ledger, candidate, position, tz)` replays the facts of the log
up to `position` through two shadow runs of the commission rules (the recorded plans, and the
same with the candidate in force over its period) and diffs what each commission line amounts
to. Measured here on a seeded history made by bench/history.py's generator:

- the history: the generator's agents, price menu, cards and orders (both flows, 3% refunded),
  with its plan `std` (MULTI_LEVEL 3%/2%/1%, TIERED graduated 1%/2%/3%), shaped for
  `sales` completed orders (`shape_for_sales`). The weekly release, finance's approvals and the
  monthly withdrawals are left out (`SalesHistory`): the replay never reads those events, and
  they would be most of the log (~35 events per sale instead of ~14), more than doubling the
  generation time (already ~10 min for 100,000 sales on 2 shared cores). All commissions thus
  stay frozen, so what the generator's wallets hold is exactly what the replay's baseline must
  find (checked). Saved 5,000 events per `Ledger.save` (see CHUNK).
- the candidate: plan `std` corrected over the whole history ([first business day, open)):
  MULTI_LEVEL 4%/2%/1% and the middle tier at 2.5%, made by `Ledger.correction_candidate`;
  position = the head of the log.
- `simulate`: `simulate()` wall time per run; sales/s (completed orders in the period) and
  facts/s (notifications replayed). `engine_seconds` / `engine_share`: the time spent inside
  the pure engine's `sale_lines_in_force` (both shadows), timed by a thin wrapper put in
  application.facts' namespace for the run. `--profile` adds one cProfile'd run's top
  functions.
- `raw`: what a replay cannot avoid, with psycopg in the same database: the same notifications
  read in the same batches (`topic = ANY(RELEVANT topics) AND notification_id <= head`, keyset,
  2,000 a batch) plus, per batch, the histories of the orders and cards it names (the replay's
  prefetch query), every state decoded with orjson. ratio_vs_raw = raw seconds / simulate
  seconds (higher is better; 1.0 would be a replay as cheap as reading its input).
- checks: sales = completed orders; the baseline total = the generator's wallets (net of
  refunds); differences non-zero and all upwards (rates only go up); and, once per benchmark,
  the recorded rules themselves as the candidate give zero differences (on the first tenth of
  the log at full size, on the whole log with --quick).
"""

from __future__ import annotations

import contextlib
import cProfile
import time
from typing import Any
from unittest import mock

import orjson
import psycopg

from bench import history
from bench.common import Timer, check, progress, rnd, summarize
from bench.history import RULES, Generator, Shape

PLAN = "std"  # bench.history's plan code
BATCH = 2_000  # application.simulation._BATCH
CHUNK = 5_000  # events per Ledger.save (20,000 hung once in psycopg's pipelined executemany)
EVENTS_PER_SALE = 14.1  # order lifecycle, ~8.8 commission lines, monthly volumes (no releases)
CANDIDATE = [
    {**RULES[0], "levels": ["4%", "2%", "1%"]},
    {
        **RULES[1],
        "tiers": [RULES[1]["tiers"][0], {"upTo": "2000.00", "rate": "2.5%"}, RULES[1]["tiers"][2]],
    },
]


class _NoRelease(list[Any]):
    """Stands in for the generator's queue of due commissions: nothing is ever released."""

    def append(self, item: Any) -> None:
        pass


class SalesHistory(Generator):
    """bench.history's generator without the weekly release (hence no approvals, rejections or
    withdrawals either: nothing becomes available)."""

    def order(self, day: Any, i: int, pkg: str, refunds: Any, due: Any) -> None:
        super().order(day, i, pkg, refunds, _NoRelease())


def shape_for_sales(sales: int) -> Shape:
    """One agent per 20 sales a year, one card per 5 sales; the event budget gives ~`sales`."""
    agents = max(20, sales // 20)
    cards = max(100, sales // 5)
    events = round(sales * EVENTS_PER_SALE + agents * 8 + cards * 5)
    return Shape(events, agents, max(2, agents // 100), cards)


def generate(app: Any, dsn: str, sales: int) -> Any:
    """history.build() with this benchmark's shape and generator."""
    shape = shape_for_sales(sales)
    with (
        mock.patch.object(history, "shape_for", return_value=shape),
        mock.patch.object(history, "Generator", SalesHistory),
    ):
        return history.build(app, dsn, shape.events, chunk=CHUNK)


def relevant_topics() -> list[str]:
    from eventsourcing.utils import get_topic

    from application.facts import RELEVANT

    return [get_topic(cls) for cls in RELEVANT]


def log_head(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT max(notification_id) FROM ledger_events").fetchone()
    assert row is not None
    return int(row[0])


READ = (
    "SELECT * FROM public.ledger_events WHERE notification_id > %s AND notification_id <= %s"
    " AND topic = ANY(%s) ORDER BY notification_id LIMIT %s"
)
PREFETCH = (
    "SELECT originator_id, originator_version, topic, state FROM ledger_events"
    " WHERE originator_id = ANY(%s) AND notification_id <= %s"
    " ORDER BY originator_id, originator_version"
)


def raw_read(dsn: str, topics: list[str], head: int) -> dict[str, Any]:
    """The replay's reads (notifications in batches, each batch's prefetch) and orjson decoding
    of every state, nothing else."""
    from application.facts import OWN_LOOKUPS

    loads = orjson.loads
    notifications = prefetched = 0
    with psycopg.connect(dsn) as conn, conn.cursor() as cur, Timer() as t:
        last, nid, oid, topic, state = 0, -1, -1, -1, -1
        while last < head:
            cur.execute(READ, (last, head, topics, BATCH), prepare=True)
            rows = cur.fetchall()
            if not rows:
                break
            if nid < 0:  # SELECT *, as the recorder reads: find the columns once
                assert cur.description is not None
                at = {c.name: i for i, c in enumerate(cur.description)}
                nid, oid, topic, state = (
                    at[k] for k in ("notification_id", "originator_id", "topic", "state")
                )
            for row in rows:
                loads(row[state])
            wanted = {r[oid] for r in rows if not r[topic].endswith(OWN_LOOKUPS)}
            if wanted:
                cur.execute(PREFETCH, (list(wanted), rows[-1][nid]), prepare=True)
                found = cur.fetchall()
                for row in found:
                    loads(row[3])
                prefetched += len(found)
            notifications += len(rows)
            last = rows[-1][nid]
        conn.commit()
    return {"seconds": t.seconds, "notifications": notifications, "prefetched_rows": prefetched}


@contextlib.contextmanager
def engine_timer() -> Any:
    """Times every sale_lines_in_force call the replay makes (both shadows), through a thin wrapper
    put where application.facts looks it up."""
    import application.facts as facts

    real = facts.sale_lines_in_force
    spent = [0.0, 0]
    clock = time.perf_counter

    def timed(*args: Any) -> Any:
        t0 = clock()
        lines = real(*args)
        spent[0] += clock() - t0
        spent[1] += 1
        return lines

    facts.sale_lines_in_force = timed  # type: ignore[assignment]
    try:
        yield spent
    finally:
        facts.sale_lines_in_force = real  # type: ignore[assignment]


def one_run(app: Any, candidate: Any, head: int) -> tuple[Any, dict[str, Any]]:
    from application.simulation import simulate

    with engine_timer() as engine, Timer() as t:
        found = simulate(app.ledger, candidate, head, app.settings.zone)
    return found, {
        "seconds": t.seconds,
        "sales_per_s": found.sales / t.seconds,
        "facts_per_s": found.facts / t.seconds,
        "engine_seconds": engine[0],
        "engine_calls": engine[1],
        "engine_share": engine[0] / t.seconds,
    }


def open_total(built: Any) -> int:
    """What the generator's wallets hold, net of refunds (all frozen: nothing was released)."""
    return sum(c.amount_fen for w in built.wallets.values() for c in w.book.lines.values())


def identity_check(app: Any, built: Any, head: int, quick: bool) -> dict[str, Any]:
    """The recorded rules as the candidate: nothing may differ."""
    from application.simulation import simulate

    position = head if quick else head // 10
    same = app.ledger.correction_candidate(PLAN, RULES, built.start, None)
    with Timer() as t:
        found = simulate(app.ledger, same, position, app.settings.zone)
    check(found.sales > 0, f"identity check: no sale up to {position}")
    check(
        not found.commissions and not found.agents,
        f"the recorded rules as candidate differ: {len(found.commissions)} commissions,"
        f" {len(found.agents)} agents",
    )
    check(found.recorded_fen == found.simulated_fen, "identity check: totals differ")
    return {
        "position": position,
        "sales": found.sales,
        "facts": found.facts,
        "differences": 0,
        "seconds": rnd(t.seconds),
    }


def run(server_url: str, *, runs: int, sales: int, quick: bool, profile: bool) -> dict[str, Any]:
    from api.bootstrap import bootstrap
    from application.settings import Settings
    from bench.common import database

    with database(server_url, f"sim{sales}") as dsn:
        app = bootstrap(Settings(database_url=dsn), run_migrations=False)
        try:
            progress(f"simulate: generating a history of ~{sales} sales")
            built = generate(app, dsn, sales)
            progress(f"  built: {built.events} events, {built.counts}, {built.seconds}")
            return measure(app, dsn, built, runs=runs, quick=quick, profile=profile)
        finally:
            app.close()


def measure(
    app: Any, dsn: str, built: Any, *, runs: int, quick: bool, profile: bool
) -> dict[str, Any]:
    orders = built.counts["orders"]
    head = log_head(dsn)
    topics = relevant_topics()
    candidate = app.ledger.correction_candidate(PLAN, CANDIDATE, built.start, None)
    expected_total = open_total(built)
    raw_read(dsn, topics, head)  # warm-up: both sides then read from warm caches
    results = []
    found = None
    for i in range(runs):
        found, ours = one_run(app, candidate, head)
        check(found.sales == orders, f"simulate counted {found.sales} sales, {orders} completed")
        check(
            found.recorded_fen == expected_total,
            f"replayed baseline {found.recorded_fen} fen, the wallets hold {expected_total}",
        )
        check(found.commissions, "no commission differs under the candidate")
        check(
            all(d.difference_fen > 0 for d in found.commissions),
            "a difference went down, though the candidate only raises rates",
        )
        raw = raw_read(dsn, topics, head)
        check(
            raw["notifications"] == found.facts,
            f"raw read {raw['notifications']} notifications, simulate replayed {found.facts}",
        )
        res = {
            "simulate": {k: rnd(v) for k, v in ours.items()},
            "raw": {
                "seconds": rnd(raw["seconds"]),
                "notifications": raw["notifications"],
                "prefetched_rows": raw["prefetched_rows"],
                "sales_per_s": rnd(orders / raw["seconds"]),
            },
            "ratio_vs_raw": rnd(raw["seconds"] / ours["seconds"]),
        }
        progress(
            f"simulate run {i + 1}/{runs}: {res['simulate']['seconds']} s"
            f" ({res['simulate']['sales_per_s']} sales/s), raw {res['raw']['seconds']} s,"
            f" ratio {res['ratio_vs_raw']}"
        )
        results.append(res)
    assert found is not None
    identity = identity_check(app, built, head, quick)
    progress(f"  identity check: {identity}")
    out: dict[str, Any] = {
        "history": built.report(),
        "position": head,
        "sales": found.sales,
        "facts": found.facts,
        "candidate": {
            "plan": PLAN,
            "version": candidate.version,
            "effective_from": candidate.effective_from.isoformat(timespec="seconds"),
            "effective_to": None,
            "changes": "MULTI_LEVEL 3%/2%/1% -> 4%/2%/1%; TIERED middle tier 2% -> 2.5%",
        },
        "differences": {
            "commissions": len(found.commissions),
            "agents": len(found.agents),
            "recorded_fen": found.recorded_fen,
            "simulated_fen": found.simulated_fen,
        },
        "checks": {
            "sales_equal_completed_orders": True,
            "baseline_equals_generated_wallets_fen": expected_total,
            "identity": identity,
        },
        "median": summarize(
            results,
            [
                "simulate.seconds",
                "simulate.sales_per_s",
                "simulate.facts_per_s",
                "simulate.engine_seconds",
                "simulate.engine_share",
                "raw.seconds",
                "raw.sales_per_s",
                "ratio_vs_raw",
            ],
        ),
        "runs": results,
    }
    if profile:
        from application.simulation import simulate
        from bench.rebuild import top_functions

        prof = cProfile.Profile()
        prof.runcall(simulate, app.ledger, candidate, head, app.settings.zone)
        out["profile_top_tottime"] = top_functions(prof, 25)
    return out
