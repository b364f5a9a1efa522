"""The usage store: carriers' usage reports as rows in PostgreSQL, aggregated per card per day
and per month, in tables partitioned by month (migration 0018, decision 0030).

A batch is one transaction: COPY into a temporary table, one INSERT .. ON CONFLICT DO NOTHING
into usage_reports (a report id counts once), then the days it touched are aggregated again
(the newest report per period wins) and the months get the difference. The quota rules' work
is found in the same transaction, on the cards view's tables.
"""

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

import psycopg
from psycopg import Cursor
from psycopg_pool import ConnectionPool

from domain.usage import Ingested, UsageReport
from projections.queries import _LIVE_SCHEMAS

_COLUMNS = ("day", "report_id", "iccid", "period_start", "period_end", "bytes", "reported_at")

# Reports on cards another carrier reports on, taken out of the batch before it is stored. A
# card's carrier is set by its first carrier report and never changes (Card.require_carrier), so
# the cards view can only lag by a card whose first report is not yet projected.
_OTHER_CARRIERS = (
    "WITH known AS (SELECT i.iccid, h.carrier FROM (SELECT DISTINCT iccid FROM usage_in) i"
    "  CROSS JOIN LATERAL (SELECT carrier FROM card_history h WHERE h.iccid = i.iccid"
    "   AND h.carrier IS NOT NULL ORDER BY position DESC LIMIT 1) h),"
    " other AS (DELETE FROM usage_in u USING known c"
    "  WHERE c.iccid = u.iccid AND c.carrier <> %s RETURNING u.report_id, u.iccid, c.carrier)"
    " SELECT DISTINCT report_id, iccid, carrier FROM other ORDER BY report_id"
)

_NEW = (
    "WITH new AS ("
    " INSERT INTO usage_reports (day, report_id, iccid, period_start, period_end, bytes,"
    "  reported_at, recorded_at)"
    " SELECT DISTINCT ON (day, report_id) day, report_id, iccid, period_start, period_end, bytes,"
    "  reported_at, %s FROM usage_in ORDER BY day, report_id"
    " ON CONFLICT (day, report_id) DO NOTHING RETURNING day, iccid)"
    " INSERT INTO usage_touched SELECT day, iccid, count(*) FROM new GROUP BY day, iccid"
)

# The days touched, aggregated again from their reports (the newest per period), and the months
# moved by the difference from what the days held before.
_AGGREGATE = (
    "WITH fresh AS ("
    " SELECT day, iccid, sum(bytes)::bigint AS bytes, count(*)::int AS reports,"
    "  max(reported_at) AS last_reported_at"
    " FROM (SELECT DISTINCT ON (r.iccid, r.day, r.period_start, r.period_end)"
    "   r.day, r.iccid, r.bytes, r.reported_at"
    "   FROM usage_reports r JOIN usage_touched t ON r.day = t.day AND r.iccid = t.iccid"
    "   ORDER BY r.iccid, r.day, r.period_start, r.period_end, r.reported_at DESC,"
    "   r.report_id DESC) latest"
    " GROUP BY day, iccid),"
    " old AS (SELECT d.day, d.iccid, d.bytes FROM usage_daily d"
    "  JOIN usage_touched t ON d.day = t.day AND d.iccid = t.iccid),"
    " daily AS (INSERT INTO usage_daily (day, iccid, bytes, reports, last_reported_at)"
    "  SELECT day, iccid, bytes, reports, last_reported_at FROM fresh"
    "  ON CONFLICT (day, iccid) DO UPDATE SET bytes = EXCLUDED.bytes,"
    "  reports = EXCLUDED.reports, last_reported_at = EXCLUDED.last_reported_at)"
    " INSERT INTO usage_monthly (month, iccid, bytes)"
    " SELECT date_trunc('month', f.day)::date, f.iccid, sum(f.bytes - coalesce(o.bytes, 0))"
    " FROM fresh f LEFT JOIN old o ON o.day = f.day AND o.iccid = f.iccid"
    " GROUP BY 1, 2"
    " ON CONFLICT (month, iccid) DO UPDATE SET bytes = usage_monthly.bytes + EXCLUDED.bytes"
)

# Personal cards over their package's quota, not already stopped or being stopped.
_PERSONAL = (
    "SELECT DISTINCT m.iccid, m.month FROM usage_monthly m"
    " JOIN (SELECT DISTINCT iccid, date_trunc('month', day)::date AS month FROM usage_touched) t"
    "  ON t.iccid = m.iccid AND t.month = m.month"
    " JOIN cards_now c ON c.iccid = m.iccid"
    " JOIN package_quotas q ON q.package_code = c.package_code"
    " WHERE c.enterprise_code IS NULL AND m.bytes > q.quota_mb * 1048576"
    " AND c.state NOT IN ('SUSPENDED', 'CANCELLED') AND c.last_command IS DISTINCT FROM 'STOP'"
    " ORDER BY 1, 2"
)
_ENTERPRISES = (
    "SELECT DISTINCT c.enterprise_code, date_trunc('month', t.day)::date AS month"
    " FROM usage_touched t JOIN cards_now c ON c.iccid = t.iccid"
    " WHERE c.enterprise_code IS NOT NULL ORDER BY 1, 2"
)


class PgUsageStore:
    def __init__(self, pool: ConnectionPool, zone: tzinfo) -> None:
        self.pool = pool
        self.zone = zone
        self._months: set[date] = set()  # months whose partitions exist (this process knows)

    def month_of(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date().replace(day=1)

    def _row(self, report: UsageReport) -> tuple[Any, ...]:
        if report.day is not None:
            day = report.day
            start = datetime.combine(day, time(), self.zone)
            end = start + timedelta(days=1)
        else:
            assert report.period_start is not None
            start = report.period_start
            day = start.astimezone(self.zone).date()
            end = report.period_end or start
        return (
            day,
            report.report_id,
            report.iccid,
            start.astimezone(UTC),
            end.astimezone(UTC),
            report.bytes_used,
            report.reported_at,
        )

    def ensure_partitions(self, months: set[date]) -> None:
        missing = sorted(months - self._months)
        if not missing:
            return
        with self.pool.connection() as conn:
            for month in missing:
                conn.execute("SELECT fenrun_usage_partitions(%s)", (month,))
        self._months.update(missing)

    def ingest(self, reports: Sequence[UsageReport], carrier: str | None = None) -> Ingested:
        """`carrier`: who sent the batch; a report on a card another carrier reports on is
        refused (one carrier's key must not add to another carrier's cards' usage)."""
        rows = [self._row(r) for r in reports]
        if not rows:
            return Ingested(0, 0)
        months = {row[0].replace(day=1) for row in rows}
        self.ensure_partitions(months)
        try:
            return self._ingest(rows, carrier)
        except psycopg.errors.CheckViolation:
            # A month another process pruned since this one created it: create it again.
            self._months -= months
            self.ensure_partitions(months)
            return self._ingest(rows, carrier)

    def _ingest(self, rows: list[tuple[Any, ...]], carrier: str | None) -> Ingested:
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            cur.execute(_LIVE_SCHEMAS)  # the cards view's tables, wherever they live
            cur.execute(
                "CREATE TEMP TABLE usage_in (day date, report_id text, iccid text,"
                " period_start timestamptz, period_end timestamptz, bytes bigint,"
                " reported_at timestamptz) ON COMMIT DROP;"
                " CREATE TEMP TABLE usage_touched (day date, iccid text, reports int)"
                " ON COMMIT DROP"
            )
            copy_in(cur, rows)
            others: list[tuple[str, str, str]] = []
            if carrier is not None:
                cur.execute(_OTHER_CARRIERS, (carrier,))
                others = [(r[0], r[1], r[2]) for r in cur.fetchall()]
            cur.execute(_NEW, (datetime.now(UTC),))
            cur.execute("SELECT coalesce(sum(reports), 0) FROM usage_touched")
            accepted = int(cur.fetchone()[0])  # type: ignore[index]
            cur.execute("ANALYZE usage_touched")
            cur.execute(_AGGREGATE)
            cur.execute(_PERSONAL)
            personal = [(r[0], r[1]) for r in cur.fetchall()]
            cur.execute(_ENTERPRISES)
            enterprises = [(r[0], r[1]) for r in cur.fetchall()]
        new_or_repeated = len(rows) - len(others)
        return Ingested(accepted, new_or_repeated - accepted, personal, enterprises, others)

    def card_month_bytes(self, iccid: str, month: date) -> int:
        return self.cards_month_bytes([iccid], month).get(iccid, 0)

    def cards_month_bytes(self, iccids: Sequence[str], month: date) -> dict[str, int]:
        if not iccids:
            return {}
        with self.pool.connection() as conn:
            found = conn.execute(
                "SELECT iccid, bytes FROM usage_monthly WHERE month = %s AND iccid = ANY(%s)",
                (month, list(iccids)),
            ).fetchall()
        return {iccid: int(used) for iccid, used in found}

    def drop_before(self, keep_from: date) -> int:
        """Drops the months of every usage table before `keep_from` (whole partitions)."""
        self._months = {m for m in self._months if m >= keep_from}
        with self.pool.connection() as conn:
            return sum(
                conn.execute("SELECT fenrun_usage_drop_before(%s, %s)", (t, keep_from)).fetchone()[
                    0
                ]  # type: ignore[index]
                for t in ("usage_reports", "usage_daily", "usage_monthly")
            )


def copy_in(cur: Cursor[Any], rows: list[tuple[Any, ...]]) -> None:
    with cur.copy(f"COPY usage_in ({', '.join(_COLUMNS)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
