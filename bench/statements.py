"""Benchmark (issue 11): settlement statements of one month for every agent of a generated history
(bench/history.py: 10,000 agents at 1,000,000 events), against reading the same events raw.

The movement ledger (a live view, written as the events arrive like every view) and the
statements view are caught up with the history first (timed apart: `project_movement_ledger`;
when this benchmark runs alone, only those two views are projected). Then, timed:

- `generate`: the GenerateStatements use case for the last full business month of the history,
  through `Ledger.commit` as finance or the statement job runs it: the movement ledger's
  position, the agents with movements, their statement books (one query), the grouped movements
  not yet stated (one query), a draft per agent checked to add up, and one save of them all;
- of which `lines_query`: the grouped read of the movement ledger alone (run once more apart);
- `raw`: the same wallet events read raw from the log in the same run: every stored wallet
  event up to the same position fetched (topic and state bytes), not decoded.

Checked: one draft per agent with movements, every statement's closing = opening + its lines
(the aggregate refuses otherwise; recomputed here from the view too), and each agent's closing
equal to the movement ledger's balances of what took effect before the month's end.

Target: `generate` <= 60 s for 10,000 agents from the 1M-event history.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from bench.common import check, progress, rnd

TARGET_SECONDS = 60.0


def run(histories: Any, events: int) -> dict[str, Any]:
    from domain.common import Audit
    from domain.movements import BUCKETS, StatementLine, closing_of
    from domain.statement import Cycle
    from projections.statement_queries import StatementReads

    entry = histories.get(events)
    app = entry.app
    project_ledger_s = _project_movement_ledger(entry)
    tz = app.settings.zone
    cycle = Cycle.last_ended(entry.built.end, "monthly", tz)
    reads = StatementReads(app.read)
    progress(f"statements: generating {cycle.code} for the history of {entry.built.events} events")

    t0 = time.perf_counter()
    done = app.ledger.commit(
        _command(cycle.code, Audit("bench:finance", datetime.now(UTC), "bench"))
    )
    generate_s = time.perf_counter() - t0
    result = done.result
    t1 = time.perf_counter()
    app.projections.run_until_idle()
    project_s = time.perf_counter() - t1

    t2 = time.perf_counter()
    through, agents = reads.movements_through(cycle.ends_at)
    lines = reads.statement_lines(through, cycle.starts_at, cycle.ends_at, {}, agents)
    lines_s = time.perf_counter() - t2

    t3 = time.perf_counter()
    raw_rows, raw_bytes = _raw(app, result.through)
    raw_s = time.perf_counter() - t3

    rows = app.read._all(
        "SELECT agent_code, opening, closing, lines FROM statements WHERE cycle = %s",
        (cycle.code,),
    )
    check(len(rows) == result.generated, (len(rows), result.generated))
    check(result.generated == len(agents), (result.generated, len(agents)))
    for r in rows:
        parsed = [StatementLine.of(x) for x in r["lines"]]
        check(closing_of(r["opening"], parsed) == r["closing"], r["agent_code"])
        check([x.as_record() for x in lines[r["agent_code"]]] == r["lines"], r["agent_code"])
    # The first statements: each closing is the sum of every movement effective before the
    # month's end and recorded by the position read (the running balances are in log order).
    sums = {
        r["agent_code"]: r
        for r in app.read._all(
            "SELECT agent_code, "
            + ", ".join(f"sum(d_{b})::bigint AS {b}" for b in BUCKETS)
            + " FROM wallet_movements WHERE position <= %s AND effective_at < %s"
            " GROUP BY agent_code",
            (result.through, cycle.ends_at),
        )
    }
    for r in rows:
        check(r["closing"] == {b: sums[r["agent_code"]][b] for b in BUCKETS}, r["agent_code"])
    if not entry.projected:
        app.projections = _full_runner  # type: ignore[assignment]
    movements = app.read._one(
        "SELECT count(*) AS n FROM wallet_movements WHERE position <= %s", (result.through,)
    )
    return {
        "history_events": entry.built.events,
        "cycle": cycle.code,
        "agents": len(agents),
        "statements": result.generated,
        "movements_in_ledger": movements["n"] if movements else None,
        "generate": {
            "seconds": rnd(generate_s),
            "statements_per_s": rnd(result.generated / generate_s),
            "lines_query_seconds": rnd(lines_s),
        },
        "project_movement_ledger_seconds": project_ledger_s,
        "project_statements_view_seconds": rnd(project_s),
        "raw": {"seconds": rnd(raw_s), "rows": raw_rows, "bytes": raw_bytes},
        "ratio_generate_over_raw": rnd(generate_s / raw_s) if raw_s else None,
        "target_seconds": TARGET_SECONDS,
        "meets_target": generate_s <= TARGET_SECONDS,
    }


_full_runner: Any = None


def _project_movement_ledger(entry: Any) -> float | None:
    """The movement ledger and the statements view caught up with the history (the other views
    are not needed here: when no other benchmark projected them, only these two are run, and
    the history's runner is put back afterwards). Seconds taken, None if already done."""
    global _full_runner
    if entry.projected:
        return None
    from projections.runner import ProjectionRunner
    from projections.statements import Statements, WalletMovements
    from projections.views import Names

    app = entry.app
    _full_runner = app.projections
    names = Names()
    app.projections = ProjectionRunner(
        app.pool,
        app.ledger.mapper.to_domain_event,
        [WalletMovements(names), Statements(names)],
        batch_size=app.settings.projection_batch_size,
    )
    t0 = time.perf_counter()
    app.projections.run_until_idle()
    return rnd(time.perf_counter() - t0)


def _command(cycle: str, audit: Any) -> Any:
    from application.use_cases.statements import GenerateStatements

    return GenerateStatements(cycle=cycle, audit=audit)


def _raw(app: Any, through: int) -> tuple[int, int]:
    """Every stored wallet event up to `through`, fetched as it lies in the log."""
    rows = nbytes = 0
    with app.pool.connection() as conn, conn.cursor(name="raw_wallet_events") as cur:
        cur.itersize = 50_000
        cur.execute(
            "SELECT topic, state FROM ledger_events WHERE notification_id <= %s"
            " AND topic LIKE 'domain.wallet:Wallet.%%'",
            (through,),
        )
        for _topic, state in cur:
            rows += 1
            nbytes += len(state)
    return rows, nbytes
