"""Benchmark `usage`: carriers' usage reports ingested per second, against a raw COPY of the same
rows in the same run (issue 14, decision 0030).

Per run a fresh database: an agent, a package with a quota and `ledger_cards` cards assigned
through the ledger (a few of them over quota, so the rules decide stops), then `cards` daily
reports (the other cards are ICCIDs the ledger does not hold: ingestion does not ask). Timed:

- `ingest`: `Fenrun.record_usage_reports` in batches of `batch` reports (COPY into a temporary
  table, INSERT .. ON CONFLICT into the month's partition, the days and months aggregated, the
  quota rules found and decided);
- `duplicates`: the same batches again (every report id already counted: nothing changes);
- `raw`: COPY of the same rows into a plain table without index (what the disk and the server
  take to receive them, the floor).

`ratio_vs_raw` = ingest reports/s / raw rows/s. `seconds_for_1m_daily`: a million cards' daily
reports at the measured ingest rate.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from bench.common import Timer, check, database, progress, rnd, summarize

SH = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 11, 3)
MB = 1 << 20


def _reports(cards: int, ledger_cards: int) -> list[Any]:
    from domain.usage import UsageReport

    reported = datetime.combine(DAY, datetime.min.time(), SH) + timedelta(hours=23)
    out = []
    for n in range(cards):
        over = n < ledger_cards and n % 10 == 0  # a tenth of the ledger's cards go over quota
        out.append(
            UsageReport(
                iccid=f"8986{n:015d}",
                report_id=f"u-{n}",
                bytes_used=(200 if over else 1 + n % 50) * MB,
                reported_at=reported,
                day=DAY,
            )
        )
    return out


def one_run(server_url: str, cards: int, ledger_cards: int, batch: int) -> dict[str, Any]:
    from api.bootstrap import bootstrap
    from application.clock import SetClock
    from application.settings import Settings
    from domain.common import Audit

    with database(server_url, "usage") as dsn:
        clock = SetClock()
        clock.set(datetime.combine(DAY, datetime.min.time(), SH) + timedelta(days=1))
        app = bootstrap(Settings(database_url=dsn), run_migrations=False, clock=clock)
        try:
            audit = Audit("bench", datetime.combine(DAY, datetime.min.time(), SH))
            app.ledger.register_agent("A", "A", None, True, audit)
            app.ledger.define_package("P", "P", "TRAFFIC", 5000, 1, audit)
            app.ledger.set_package_quota("P", 100, audit)
            for n in range(ledger_cards):
                app.ledger.assign_card(f"8986{n:015d}", "A", "P", audit)
            app.catch_up()
            reports = _reports(cards, ledger_cards)
            batches = [reports[i : i + batch] for i in range(0, len(reports), batch)]
            app.usage.ensure_partitions({DAY.replace(day=1)})
            decided = accepted = 0
            with Timer() as ingest:
                for chunk in batches:
                    done = app.record_usage_reports(chunk, "bench")
                    accepted += done.accepted
                    decided += done.commands_decided
            check(accepted == cards, f"accepted {accepted} of {cards}")
            check(decided == (ledger_cards + 9) // 10, f"decided {decided}")
            duplicates = 0
            with Timer() as again:
                for chunk in batches:
                    duplicates += app.record_usage_reports(chunk, "bench").duplicates
            check(duplicates == cards, f"duplicates {duplicates} of {cards}")
            rows = [app.usage._row(r) for r in reports]
            with psycopg.connect(dsn) as conn:
                conn.execute(
                    "CREATE TABLE usage_raw (day date, report_id text, iccid text,"
                    " period_start timestamptz, period_end timestamptz, bytes bigint,"
                    " reported_at timestamptz)"
                )
                conn.commit()
                with Timer() as raw:
                    for i in range(0, len(rows), batch):
                        with conn.cursor() as cur, cur.copy("COPY usage_raw FROM STDIN") as copy:
                            for row in rows[i : i + batch]:
                                copy.write_row(row)
                        conn.commit()
                monthly = conn.execute("SELECT count(*) FROM usage_monthly").fetchone()
            check(monthly is not None and monthly[0] == cards, f"monthly rows {monthly}")
        finally:
            app.close()
    ingest_rate = cards / ingest.seconds
    raw_rate = cards / raw.seconds
    return {
        "ingest": {"seconds": rnd(ingest.seconds, 3), "reports_per_s": rnd(ingest_rate, 1)},
        "duplicates": {
            "seconds": rnd(again.seconds, 3),
            "reports_per_s": rnd(cards / again.seconds, 1),
        },
        "raw": {"seconds": rnd(raw.seconds, 3), "rows_per_s": rnd(raw_rate, 1)},
        "ratio_vs_raw": rnd(ingest_rate / raw_rate),
        "stop_decisions": decided,
        "seconds_for_1m_daily": rnd(1_000_000 / ingest_rate, 1),
    }


def run(server_url: str, runs: int, cards: int, ledger_cards: int, batch: int) -> dict[str, Any]:
    results = []
    for n in range(runs):
        progress(f"usage: run {n + 1}/{runs}, {cards} cards ({ledger_cards} in the ledger)")
        results.append(one_run(server_url, cards, ledger_cards, batch))
        progress(f"usage: {results[-1]}")
    keys = (
        "ingest.reports_per_s",
        "duplicates.reports_per_s",
        "raw.rows_per_s",
        "ratio_vs_raw",
        "seconds_for_1m_daily",
    )
    return {
        "cards": cards,
        "ledger_cards": ledger_cards,
        "batch": batch,
        "median": summarize(results, keys),
        "runs": results,
    }
