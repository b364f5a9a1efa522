"""Reads of the views as of a log position. One request resolves one position and reads all its
fields there, so the answer is one consistent picture of the ledger."""

import base64
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from domain.wallet import BUCKETS
from projections.figures import (
    PERFORMANCE,
    increment,
    month_credits,
    platform_net,
    previous_month,
)
from projections.runner import SWITCH_LOCK

_LIVE_SCHEMAS = (
    "SELECT set_config('search_path', concat_ws(',',"
    " (SELECT string_agg(DISTINCT quote_ident(schema_name), ',') FROM public.projection_versions"
    "  WHERE schema_name <> 'public'), 'public'), true)"
)
VIEWS = (
    "directory",
    "wallet_balances",
    "commissions",
    "platform_totals",
    "team_performance",
    "activations",
    "platform_months",
)


class PositionNotReady(Exception):
    """The requested position is beyond what the read models have processed."""


@dataclass(frozen=True)
class Pinned:
    position: int
    as_of: datetime | None  # the recorded time of that position (None before the first event)


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    has_next: bool


def encode_cursor(*parts: object) -> str:
    return base64.urlsafe_b64encode("|".join(str(p) for p in parts).encode()).decode()


def decode_cursor(cursor: str, arity: int) -> list[str]:
    try:
        parts = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
    except (ValueError, UnicodeDecodeError):
        raise ValueError("malformed cursor") from None
    if len(parts) != arity:
        raise ValueError("malformed cursor")
    return parts


class ReadModel:
    def __init__(self, pool: ConnectionPool, statement_timeout_ms: int = 0) -> None:
        self.pool = pool
        self.statement_timeout = str(statement_timeout_ms)  # 0: none

    def _all(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            # Read the live versions' tables; the shared lock keeps a switch from dropping
            # them under this transaction. Two statements: the versions must be read with a
            # snapshot taken after the lock is granted, not before. A read may take no longer
            # than a request (for this transaction only: the pool's connections also write).
            cur.execute(
                "SELECT pg_advisory_xact_lock_shared(%s),"
                " set_config('statement_timeout', %s, true)",
                (SWITCH_LOCK, self.statement_timeout),
            )
            cur.execute(_LIVE_SCHEMAS)
            cur.execute(sql, params)
            return cur.fetchall()

    def _one(self, sql: str, params: Any = ()) -> dict[str, Any] | None:
        rows = self._all(sql, params)
        return rows[0] if rows else None

    # -- positions -------------------------------------------------------------------------------
    def caught_up(self) -> int:
        row = self._one(
            "SELECT coalesce(min(t.position), 0) AS p, count(*) AS n FROM projection_versions v"
            " JOIN projection_tracking t ON t.name = v.name || '@' || v.version"
            " WHERE v.name = ANY(%s)",
            (list(VIEWS),),
        )
        assert row is not None
        return row["p"] if row["n"] == len(VIEWS) else 0

    def log_head(self) -> int:
        row = self._one("SELECT coalesce(max(notification_id), 0) AS p FROM ledger_events")
        assert row is not None
        return row["p"]

    def position_at(self, as_of: datetime) -> int:
        row = self._one(
            "SELECT notification_id AS p FROM ledger_events WHERE recorded_at <= %s"
            " ORDER BY recorded_at DESC, notification_id DESC LIMIT 1",
            (as_of,),
        )
        return row["p"] if row else 0

    def recorded_at(self, position: int) -> datetime | None:
        row = self._one(
            "SELECT recorded_at FROM ledger_events WHERE notification_id = %s", (position,)
        )
        return row["recorded_at"] if row else None

    def pin(self, as_of: datetime | None = None, position: int | None = None) -> Pinned:
        """Resolves a request's read position: explicit, as of a time, or the latest projected."""
        ready = self.caught_up()
        if position is not None:
            if position < 0:
                raise PositionNotReady("position must not be negative")
            if position > ready:
                raise PositionNotReady(f"position {position} is not yet projected (at {ready})")
            return Pinned(position, self.recorded_at(position) if position else None)
        if as_of is not None:
            wanted = self.position_at(as_of)
            if wanted > ready:
                raise PositionNotReady(f"read models are at {ready}, {as_of} needs {wanted}")
            return Pinned(wanted, as_of)
        return Pinned(ready, self.recorded_at(ready) if ready else None)

    # -- agents ----------------------------------------------------------------------------------
    def agent(self, code: str, at: int) -> dict[str, Any] | None:
        return self._one(
            "SELECT code, name, real_name_verified, registered_at,"
            " CASE WHEN parent_position <= %s THEN parent_code END AS parent_code,"
            " (SELECT level_code FROM agent_levels l WHERE l.agent_code = a.code"
            "  AND l.position <= %s ORDER BY l.position DESC LIMIT 1) AS level"
            " FROM agents a WHERE code = %s AND registered_position <= %s",
            (at, at, code, at),
        )

    def children(self, code: str, at: int, first: int, after: str | None) -> Page:
        start = decode_cursor(after, 1)[0] if after else ""
        rows = self._all(
            "SELECT code FROM agents WHERE parent_code = %s AND parent_position <= %s"
            " AND code > %s ORDER BY code LIMIT %s",
            (code, at, start, first + 1),
        )
        return Page(rows[:first], len(rows) > first)

    # -- wallets ---------------------------------------------------------------------------------
    def wallet(self, agent_code: str, at: int) -> dict[str, int] | None:
        if self.agent(agent_code, at) is None:
            return None
        row = self._one(
            "SELECT frozen, unfreezing, available, withdrawing, debt, deposit"
            " FROM wallet_balance_history WHERE agent_code = %s AND position <= %s"
            " ORDER BY position DESC LIMIT 1",
            (agent_code, at),
        )
        return row or dict.fromkeys(BUCKETS, 0)

    # -- commissions -----------------------------------------------------------------------------
    _COMMISSION_AS_OF = (
        "SELECT l.*, h.status, h.amount_fen FROM commission_lines l"
        " JOIN LATERAL (SELECT status, amount_fen FROM commission_status_history h"
        "   WHERE h.commission_id = l.id AND h.position <= %(at)s"
        "   ORDER BY h.position DESC LIMIT 1) h ON true"
        " WHERE l.position <= %(at)s"
    )

    def commissions(
        self,
        at: int,
        agent_code: str | None,
        status: str | None,
        order_id: str | None,
        first: int,
        after: str | None,
    ) -> Page:
        params: dict[str, Any] = {"at": at, "limit": first + 1}
        sql = self._COMMISSION_AS_OF
        if agent_code is not None:
            sql += " AND l.agent_code = %(agent)s"
            params["agent"] = agent_code
        if order_id is not None:
            sql += " AND l.order_id = %(order)s"
            params["order"] = order_id
        if after:
            position, cid = decode_cursor(after, 2)
            sql += " AND (l.position, l.id) > (%(apos)s, %(aid)s)"
            params.update(apos=int(position), aid=cid)
        if status is not None:
            sql = f"SELECT * FROM ({sql}) c WHERE c.status = %(status)s"
            params["status"] = status
        sql += " ORDER BY position, id LIMIT %(limit)s"
        rows = self._all(sql, params)
        return Page(rows[:first], len(rows) > first)

    def commission(self, commission_id: str, at: int) -> dict[str, Any] | None:
        return self._one(
            self._COMMISSION_AS_OF + " AND l.id = %(id)s", {"at": at, "id": commission_id}
        )  # type: ignore[arg-type]

    def commission_history(self, commission_id: str, at: int) -> list[dict[str, Any]]:
        return self.commission_histories([commission_id], at)[commission_id]

    def commission_histories(self, ids: list[str], at: int) -> dict[str, list[dict[str, Any]]]:
        """commission_history for many lines in one query (a page of commissions)."""
        found: dict[str, list[dict[str, Any]]] = {id: [] for id in ids}
        for row in self._all(
            "SELECT commission_id, status, amount_fen, event, recorded_at, effective_at, actor,"
            " reason FROM commission_status_history WHERE commission_id = ANY(%s)"
            " AND position <= %s ORDER BY commission_id, position",
            (ids, at),
        ):
            found[row.pop("commission_id")].append(row)
        return found

    def unfreeze_requests(
        self,
        at: int,
        status: str | None,
        agent_code: str | None,
        first: int,
        after: str | None,
        ids: list[str] | None = None,
    ) -> Page:
        sql = (
            "SELECT * FROM (SELECT r.id, r.commission_id, r.agent_code, r.amount_fen,"
            " r.requested_position, r.requested_at,"
            " CASE WHEN r.decided_position <= %(at)s THEN r.decision ELSE 'PENDING' END AS status,"
            " CASE WHEN r.decided_position <= %(at)s THEN r.decided_at END AS decided_at,"
            " CASE WHEN r.decided_position <= %(at)s THEN r.decided_by END AS decided_by,"
            " CASE WHEN r.decided_position <= %(at)s THEN r.reason END AS reason"
            " FROM unfreeze_requests r WHERE r.requested_position <= %(at)s) u WHERE true"
        )
        params: dict[str, Any] = {"at": at, "limit": first + 1}
        if status is not None:
            sql += " AND u.status = %(status)s"
            params["status"] = status
        if agent_code is not None:
            sql += " AND u.agent_code = %(agent)s"
            params["agent"] = agent_code
        if ids is not None:
            sql += " AND u.id = ANY(%(ids)s)"
            params["ids"] = ids
        if after:
            position, rid = decode_cursor(after, 2)
            sql += " AND (u.requested_position, u.id) > (%(apos)s, %(aid)s)"
            params.update(apos=int(position), aid=rid)
        sql += " ORDER BY u.requested_position, u.id LIMIT %(limit)s"
        rows = self._all(sql, params)  # type: ignore[arg-type]
        return Page(rows[:first], len(rows) > first)

    def platform_totals(self, at: int) -> dict[str, int]:
        """The platform's running totals, with what it keeps (`net_fen`)."""
        row = self._one(
            "SELECT income_fen, refunded_fen, credits_fen, paid_out_fen"
            " FROM platform_totals_history WHERE position <= %s ORDER BY position DESC LIMIT 1",
            (at,),
        )
        t = row or {"income_fen": 0, "refunded_fen": 0, "credits_fen": 0, "paid_out_fen": 0}
        return {**t, "net_fen": platform_net(t["income_fen"], t["refunded_fen"], t["credits_fen"])}

    # -- what the ledger asks of the read side (application.ledger.Directory) ---------------------
    def agents_with_due_commissions(self, now: datetime) -> list[str]:
        rows = self._all(
            "SELECT DISTINCT agent_code FROM commission_lines"
            " WHERE current_status = 'FROZEN' AND releasable_at <= %s ORDER BY agent_code",
            (now,),
        )
        return [r["agent_code"] for r in rows]

    def agent_of_unfreeze_request(self, request_id: str) -> str | None:
        row = self._one("SELECT agent_code FROM unfreeze_requests WHERE id = %s", (request_id,))
        return row["agent_code"] if row else None

    def plans(self, at: int) -> list[dict[str, Any]]:
        return self._all(
            "SELECT code, version, effective_from, effective_to, correction_reason, rules"
            " FROM commission_plans"
            " WHERE position <= %s ORDER BY code, version",
            (at,),
        )


class Reports:
    """Reads of the bitemporal views: period (business month) as known at a log position."""

    def __init__(self, read: ReadModel) -> None:
        self.read = read

    def performance(self, agent_code: str, month: date, at: int) -> dict[str, int]:
        row = self.read._one(
            "SELECT personal_fen, personal_orders, team_fen, team_orders, activations"
            " FROM performance_history WHERE agent_code = %s AND month = %s AND position <= %s"
            " ORDER BY position DESC LIMIT 1",
            (agent_code, month, at),
        )
        return row or dict.fromkeys((*PERFORMANCE, "activations"), 0)

    def performance_increment(self, agent_code: str, month: date, at: int) -> dict[str, int]:
        """The month's performance minus the month before's, both as known at `at`."""
        before = self.performance(agent_code, previous_month(month), at)
        return increment(self.performance(agent_code, month, at), before)

    def activation_report(self, agent_code: str, year: int, at: int) -> list[dict[str, Any]]:
        """Each month's count as reported, and how many of those took effect in an earlier one."""
        rows = self.read._all(
            "SELECT reporting_month AS month, count(*) AS count,"
            " count(*) FILTER (WHERE effective_month < reporting_month) AS late"
            " FROM activations WHERE agent_code = %s AND position <= %s"
            " AND reporting_month >= %s AND reporting_month < %s GROUP BY reporting_month",
            (agent_code, at, date(year, 1, 1), date(year + 1, 1, 1)),
        )
        found = {r["month"]: r for r in rows}
        return [
            {
                "month": date(year, m, 1),
                "count": found.get(date(year, m, 1), {}).get("count", 0),
                "late": found.get(date(year, m, 1), {}).get("late", 0),
            }
            for m in range(1, 13)
        ]

    def platform_month(self, month: date, at: int) -> dict[str, int]:
        """A business month's figures, with agent credits and what the platform keeps."""
        columns = (
            "income_fen",
            "refunded_fen",
            "price_difference_fen",
            "frozen_fen",
            "unfreezing_fen",
            "approved_fen",
            "voided_fen",
            "clawed_back_fen",
        )
        row = self.read._one(
            f"SELECT {', '.join(columns)} FROM platform_month_history WHERE month = %s"
            " AND position <= %s ORDER BY position DESC LIMIT 1",
            (month, at),
        )
        t = row or dict.fromkeys(columns, 0)
        credits = month_credits(t["frozen_fen"], t["unfreezing_fen"], t["approved_fen"])
        net = platform_net(t["income_fen"], t["refunded_fen"], credits)
        return {**t, "agent_credits_fen": credits, "net_fen": net}

    def ranking(self, month: date, at: int, first: int) -> list[dict[str, Any]]:
        return self.read._all(
            "SELECT agent_code, team_fen, personal_fen, team_orders FROM ("
            " SELECT DISTINCT ON (agent_code) agent_code, team_fen, personal_fen, team_orders"
            " FROM performance_history WHERE month = %s AND position <= %s"
            " ORDER BY agent_code, position DESC) latest"
            " WHERE team_fen > 0 OR personal_fen > 0"
            " ORDER BY team_fen DESC, personal_fen DESC, agent_code LIMIT %s",
            (month, at, first),
        )
