"""Benchmark `settlement_import`: a carrier settlement file of N rows imported and accrued, against
a raw COPY of the same rows into a plain table, in the same run on the same server (issue 13;
target: 1,000,000 rows in at most 60 s).

Setup (untimed): a number-card package, a LONG_TERM plan paying 40%, and N/10 cards assigned
and activated (saved 1,000 per save through the domain), 100 cards per agent. The file is a CSV in the
default (Chinese) profile, ten periods per card.

Timed:
- `import`: SettlementImporter.run (read, check every row against the ledger, save 500 rows per
  command, record the import) — what `fenrun import settlements` does;
- `accrue`: the commission policy and the views until idle (every row's long-term line accrued
  and sent to "unfreeze requested", platform totals and months updated);
- `raw_copy`: COPY of the same file into a table of text columns (no checks, no events).

`ratio` = (import + accrue seconds) / raw COPY seconds.

`storage_floor`: what PostgreSQL alone takes to store what the import and the accrual stored for
these rows, with no Python in between: every table that gained rows (the log's events, the
views' rows, the settlement-row claims), its rows dumped with `COPY ... TO STDOUT` and loaded
again with `COPY ... FROM STDIN` into an empty copy with the same indexes (`LIKE ... INCLUDING
ALL`), the bytes sent as they came. A table that held rows before the import (the setup's
cards) counts the share of its time its new rows are. `floor_seconds_for_1m` extrapolated
above 60 s means no implementation that stores these rows reaches issue 13's target here.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import psycopg
from psycopg import sql

from bench.common import (
    NOT_CREDITED,
    Timer,
    audit_time,
    check,
    database,
    diff_stats,
    plan_start,
    progress,
    rnd,
    table_stats,
)

PERIODS = [f"2025-{m:02d}" for m in range(1, 11)]
CARDS_PER_AGENT = 100  # so 1,000 settlement rows per agent's wallet
HEADER = [
    "ICCID",
    "结算月份",
    "佣金金额",
    "网络状态",
    "是否欠费",
    "是否停机",
    "是否投诉",
    "在网月数",
]


def _cards(rows: int) -> list[str]:
    return [f"8986{i:012d}" for i in range((rows + len(PERIODS) - 1) // len(PERIODS))]


def _file(rows: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    written = 0
    for iccid in _cards(rows):
        for n, period in enumerate(PERIODS, 1):
            if written == rows:
                break
            writer.writerow([iccid, period, f"{30 + written % 7}.{written % 100:02d}", "正常",
                             "否", "否", "否", n])  # fmt: skip
            written += 1
    return out.getvalue().encode("utf-8")


def _setup(app: Any, rows: int) -> None:
    from domain.card import Card
    from domain.common import Audit

    ledger = app.ledger
    audit = Audit("bench", audit_time(), "setup")
    cards = _cards(rows)
    agents = [f"A{i:05d}" for i in range((len(cards) + CARDS_PER_AGENT - 1) // CARDS_PER_AGENT)]
    for code in agents:
        ledger.register_agent(code, f"Agent {code}", None, True, audit)
    ledger.define_package("NC", "Number card", "NUMBER", 0, 1, audit)
    ledger.define_commission_plan(
        "lt", plan_start(), [{"code": "lt40", "kind": "LONG_TERM", "rate": "40%"}], audit
    )
    for lo in range(0, len(cards), 1000):
        made = []
        for n, iccid in enumerate(cards[lo : lo + 1000], lo):
            card = Card.assign(iccid, agents[n // CARDS_PER_AGENT], "NC", "NUMBER", audit)
            card.activate(audit)
            made.append(card)
        ledger.save(*made)
    app.catch_up()


def _raw_copy(dsn: str, content: bytes) -> float:
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "CREATE TABLE raw_settlement_rows (iccid text, period text, total text, status text,"
            " arrears text, suspended text, complained text, periods_used text)"
        )
        conn.commit()
        with Timer() as t:
            with (
                conn.cursor() as cur,
                cur.copy("COPY raw_settlement_rows FROM STDIN (FORMAT csv, HEADER true)") as copy,
            ):
                for lo in range(0, len(content), 1 << 20):
                    copy.write(content[lo : lo + (1 << 20)])
            conn.commit()
        return t.seconds


def run(server_url: str, rows: int) -> dict[str, Any]:
    from api.bootstrap import bootstrap
    from application.settings import Settings
    from application.settlement_files import load_profiles
    from application.settlement_import import SettlementImporter
    from domain.common import Audit

    with database(server_url, "settlement_import") as dsn:
        app = bootstrap(Settings(database_url=dsn), run_migrations=False)
        try:
            progress(f"settlement_import: setting up {len(_cards(rows))} cards")
            _setup(app, rows)
            content = _file(rows)
            progress(f"settlement_import: importing {rows} rows ({len(content) >> 20} MiB csv)")
            audit = Audit("bench", audit_time(), "bench file")
            importer = SettlementImporter(app.ledger, load_profiles()["default"], audit)
            before = table_stats(dsn)
            with Timer() as imported:
                report = importer.run(content, "bench.csv")
            check(report.status == "APPLIED", report.message())
            check(report.applied == rows, f"{report.applied} of {rows} rows applied")
            progress(f"settlement_import: imported in {imported.seconds:.1f} s; accruing")
            with Timer() as accrued:
                _catch_up(app)
            totals = app.read.platform_totals(app.read.log_head())
            check(totals["income_fen"] == sum(_totals(content)), "income differs from the file")
            check(totals["credits_fen"] > 0, "nothing accrued")
            progress(f"settlement_import: accrued in {accrued.seconds:.1f} s; raw COPY")
            added = diff_stats(before, table_stats(dsn))
            raw = _raw_copy(dsn, content)
            progress("settlement_import: storage floor (COPY of every row stored)")
            floor = storage_floor(dsn, added, before)
        finally:
            app.close()
    total = imported.seconds + accrued.seconds
    return {
        "rows": rows,
        "file_bytes": len(content),
        "import_seconds": rnd(imported.seconds, 2),
        "accrue_seconds": rnd(accrued.seconds, 2),
        "total_seconds": rnd(total, 2),
        "rows_per_s": rnd(rows / total, 1),
        "raw_copy_seconds": rnd(raw, 3),
        "raw_copy_rows_per_s": rnd(rows / raw, 1),
        "ratio_total_over_raw": rnd(total / raw, 1),
        "projected_seconds_for_1m": rnd(total * 1_000_000 / rows, 1),
        "meets_60s_per_1m": total * 1_000_000 / rows <= 60,
        "storage_floor": floor,
        "floor_seconds_for_1m": rnd(floor["seconds"] * 1_000_000 / rows, 1),
        "rows_stored_per_row": rnd(floor["rows"] / rows, 2),
        "platform_income_fen": totals["income_fen"],
        "agent_credits_fen": totals["credits_fen"],
    }


def storage_floor(
    dsn: str, added: dict[str, dict[str, int]], before: dict[str, dict[str, int]]
) -> dict[str, Any]:
    """Seconds PostgreSQL takes to store again, by COPY alone, the rows the run added."""
    tables: dict[str, Any] = {}
    seconds, stored = 0.0, 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA bench_floor")
        for name, grew in sorted(added.items()):
            schema, _, table = name.rpartition(".")
            if table in NOT_CREDITED or grew["rows"] <= 0:
                continue
            source = sql.Identifier(schema or "public", table)
            copy_of = sql.Identifier("bench_floor", table)
            conn.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(copy_of, source))
            dumped = bytearray()
            with conn.cursor().copy(sql.SQL("COPY {} TO STDOUT").format(source)) as copy:
                for block in copy:
                    dumped += block
            load = sql.SQL("COPY {} FROM STDIN").format(copy_of)
            with Timer() as t, conn.transaction(), conn.cursor() as cur, cur.copy(load) as copy:
                copy.write(dumped)
            held = grew["rows"] + before.get(name, {"rows": 0})["rows"]
            share = t.seconds * grew["rows"] / max(held, 1)
            tables[table] = {"rows": grew["rows"], "seconds": rnd(share, 3)}
            seconds += share
            stored += grew["rows"]
        conn.execute("DROP SCHEMA bench_floor CASCADE")
    return {"seconds": rnd(seconds, 3), "rows": stored, "tables": tables}


def _catch_up(app: Any, attempts: int = 5) -> None:
    """The policy and views until idle. On a shared server other work may terminate our
    connections (a test of dropped connections): the followers resume from their tracking
    positions, so the time of a retry is counted and the run goes on."""
    from application.catch_up import CatchUpFailed

    for attempt in range(attempts):
        try:
            app.catch_up()
            return
        except CatchUpFailed as exc:
            progress(f"settlement_import: catch-up failed ({exc}); resuming ({attempt + 1})")
    app.catch_up()


def _totals(content: bytes) -> list[int]:
    reader = csv.reader(io.StringIO(content.decode("utf-8")))
    next(reader)
    return [int(r[2].replace(".", "")) for r in reader]
