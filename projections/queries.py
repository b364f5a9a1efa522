"""Reads of the views as of a log position. One request resolves one position and reads all its
fields there, so the answer is one consistent picture of the ledger."""

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from domain.wallet import BUCKETS
from projections.figures import platform_net

# The values a read is pinned to live in projections/positions.py and the month reports in
# projections/reports.py; both stay importable from here, where readers have always found them.
from projections.positions import PRIMARY as PRIMARY
from projections.positions import REPLICA as REPLICA
from projections.positions import Page as Page
from projections.positions import Pinned as Pinned
from projections.positions import PositionNotReady as PositionNotReady
from projections.positions import Progress as Progress
from projections.positions import ViewState as ViewState
from projections.positions import decode_cursor as decode_cursor
from projections.positions import encode_cursor as encode_cursor
from projections.positions import keyset_page, view_names
from projections.reports import Reports as Reports
from projections.runner import SWITCH_LOCK

_LIVE_SCHEMAS = (
    "SELECT set_config('search_path', concat_ws(',',"
    " (SELECT string_agg(DISTINCT quote_ident(schema_name), ',') FROM public.projection_versions"
    "  WHERE schema_name <> 'public'), 'public'), true)"
)
# Each live view's position and failure, with the log's head.
_PROGRESS = (
    "SELECT v.name, coalesce(t.position, 0) AS position, t.last_error AS error,"
    " t.failed_position, (SELECT coalesce(max(notification_id), 0) FROM public.ledger_events)"
    " AS head FROM public.projection_versions v LEFT JOIN public.projection_tracking t"
    " ON t.name = v.name || '@' || v.version WHERE v.name = ANY(%s)"
)
# _PROGRESS, with the position the views read have all reached (0 when one of them has no
# version yet; the head when none is read) and that position's recorded time, from the same
# snapshot: what Progress.reached answers, so a pin costs one statement.
_PROGRESS_READY = (
    "WITH p AS (SELECT v.name, coalesce(t.position, 0) AS position, t.last_error AS error,"
    "  t.failed_position FROM public.projection_versions v LEFT JOIN public.projection_tracking t"
    "  ON t.name = v.name || '@' || v.version WHERE v.name = ANY(%(all)s)),"
    " h AS (SELECT coalesce(max(notification_id), 0) AS head FROM public.ledger_events),"
    " r AS (SELECT CASE WHEN cardinality(%(read)s::text[]) = 0 THEN (SELECT head FROM h)"
    "  WHEN (SELECT count(DISTINCT name) FROM p WHERE name = ANY(%(read)s))"
    "   < (SELECT count(DISTINCT x) FROM unnest(%(read)s::text[]) x) THEN 0"
    "  ELSE (SELECT min(position) FROM p WHERE name = ANY(%(read)s)) END AS ready)"
    " SELECT p.*, h.head, r.ready, (SELECT recorded_at FROM public.ledger_events"
    "  WHERE notification_id = r.ready) AS ready_at FROM p, h, r"
)
VIEWS = (
    "directory",
    "wallet_balances",
    "commissions",
    "platform_totals",
    "team_performance",
    "activations",
    "platform_months",
    "withdrawals",
    "payouts",
    "wallet_movements",
    "statements",
    "cards",
)


# An agent's subtree as the tree is now (parents as last bound), whatever the read position:
# access rights are today's (decision 0021). %(root)s is the agent.
_SUBTREE = (
    "WITH RECURSIVE sub(code) AS (SELECT %(root)s::text"
    " UNION SELECT a.code FROM agents a JOIN sub ON a.parent_code = sub.code)"
    " SELECT code FROM sub"
)


class ReadModel:
    def __init__(self, pool: ConnectionPool, statement_timeout_ms: int = 0) -> None:
        self.pool = pool
        self.statement_timeout = str(statement_timeout_ms)  # 0: none

    def _all(
        self, sql: str, params: Any = (), *, wait_s: float | None = None
    ) -> list[dict[str, Any]]:
        with self.pool.connection(wait_s) as conn, conn.cursor(row_factory=dict_row) as cur:
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

    def _one(
        self, sql: str, params: Any = (), *, wait_s: float | None = None
    ) -> dict[str, Any] | None:
        rows = self._all(sql, params, wait_s=wait_s)
        return rows[0] if rows else None

    # -- positions -------------------------------------------------------------------------------
    def progress(self) -> Progress:
        return self._progress(self._all(_PROGRESS, (list(VIEWS),)))

    def _progress(self, rows: list[dict[str, Any]]) -> Progress:
        head = rows[0]["head"] if rows else 0
        views = {
            r["name"]: ViewState(
                r["name"], r["position"], head - r["position"], r["error"], r["failed_position"]
            )
            for r in rows
        }
        return Progress(
            head, {name: views.get(name, ViewState(name, 0, head, None, None)) for name in VIEWS}
        )

    def caught_up(self, wait_s: float | None = None) -> int:
        """The position every live view has processed (0 until each has a tracking row).
        wait_s: how long to wait for a connection (default: the pool's)."""
        row = self._one(
            "SELECT coalesce(min(t.position), 0) AS p, count(*) AS n FROM projection_versions v"
            " JOIN projection_tracking t ON t.name = v.name || '@' || v.version"
            " WHERE v.name = ANY(%s)",
            (list(VIEWS),),
            wait_s=wait_s,
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

    def _as_of(self, as_of: datetime) -> tuple[datetime, int]:
        """The time a read as of `as_of` really reads at, and its position: a time still to
        come reads what is recorded now, and says so (the database's clock records events)."""
        row = self._one(
            "SELECT t.at, coalesce((SELECT notification_id FROM ledger_events"
            "  WHERE recorded_at <= t.at"
            "  ORDER BY recorded_at DESC, notification_id DESC LIMIT 1), 0) AS p"
            " FROM (SELECT least(%s::timestamptz, clock_timestamp()) AS at) t",
            (as_of,),
        )
        assert row is not None
        return (as_of if row["at"] == as_of else row["at"]), row["p"]

    def recorded_at(self, position: int) -> datetime | None:
        row = self._one(
            "SELECT recorded_at FROM ledger_events WHERE notification_id = %s", (position,)
        )
        return row["recorded_at"] if row else None

    def pin(
        self,
        as_of: datetime | None = None,
        position: int | None = None,
        views: Iterable[str] = VIEWS,
    ) -> Pinned:
        """Resolves a read's position: explicit, as of a time, or the newest that every view it
        reads has processed. A position beyond what one of those views has processed is
        refused, naming the views (a failing view stays behind until it is fixed)."""
        views = tuple(views)
        progress, ready_at = self._progress_for(views)
        ready, behind = progress.reached(views), progress.behind(views)
        if position is not None:
            if position < 0:
                raise PositionNotReady("position must not be negative")
            if position > ready:
                late = tuple(v for v in behind if v.position < position)
                raise PositionNotReady(
                    f"position {position} is not yet projected by {view_names(late)} (at {ready})",
                    late,
                    position,
                )
            return Pinned(position, self.recorded_at(position) if position else None, behind=behind)
        if as_of is not None:
            read_at, wanted = self._as_of(as_of)
            if wanted > ready:
                late = tuple(v for v in behind if v.position < wanted)
                raise PositionNotReady(
                    f"{view_names(late)} at {ready}, {as_of} needs {wanted}", late, wanted
                )
            return Pinned(wanted, read_at, behind=behind)
        if ready_at is None or ready_at[0] != ready:  # the statement's answer, unless it differs
            return Pinned(ready, self.recorded_at(ready) if ready else None, behind=behind)
        return Pinned(ready, ready_at[1], behind=behind)

    def _progress_for(
        self, views: tuple[str, ...]
    ) -> tuple[Progress, tuple[int, datetime | None] | None]:
        """Every view's progress, and the position the views read have all reached with its
        recorded time, in one statement on one pooled connection: the tables it reads are the
        public ones a switch never drops, so it needs neither the switch lock nor the live
        schemas (a read used to take three transactions before its own: decision 0033)."""
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(_PROGRESS_READY, {"all": list(VIEWS), "read": list(views)})
            rows = cur.fetchall()
        if not rows:
            return self._progress(rows), None
        return self._progress(rows), (rows[0]["ready"], rows[0]["ready_at"])

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

    def subtree(self, code: str) -> frozenset[str]:
        """The agent and its whole downline, as the tree is now."""
        return frozenset(r["code"] for r in self._all(_SUBTREE, {"root": code}))

    def parent_now(self, code: str) -> str | None:
        row = self._one("SELECT parent_code FROM agents WHERE code = %s", (code,))
        return row["parent_code"] if row else None

    # -- wallets ---------------------------------------------------------------------------------
    def wallet(self, agent_code: str, at: int) -> dict[str, int] | None:
        # One statement: whether the agent was registered at `at`, and its latest balances.
        row = self._one(
            "SELECT w.frozen, w.unfreezing, w.available, w.withdrawing, w.debt, w.deposit,"
            " w.known FROM agents a LEFT JOIN LATERAL (SELECT true AS known, frozen, unfreezing,"
            "  available, withdrawing, debt, deposit FROM wallet_balance_history"
            "  WHERE agent_code = %(agent)s AND position <= %(at)s"
            "  ORDER BY position DESC LIMIT 1) w ON true"
            " WHERE a.code = %(agent)s AND a.registered_position <= %(at)s",
            {"agent": agent_code, "at": at},
        )
        if row is None:
            return None
        if not row.pop("known"):
            return dict.fromkeys(BUCKETS, 0)
        return row

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
        if status is None:
            return self._commission_page(params, agent_code, order_id, first, after)
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

    def _commission_page(
        self,
        params: dict[str, Any],
        agent_code: str | None,
        order_id: str | None,
        first: int,
        after: str | None,
    ) -> Page:
        """A page whatever the status: the lines are paged first, then joined with their status.
        The same rows as _COMMISSION_AS_OF's join: a line is written with a status row at its
        own position (projections/views.py), so the join drops no line at or before `at`; and
        the status is no longer looked up for every line before the page is cut."""
        where = "position <= %(at)s"
        if agent_code is not None:
            where += " AND agent_code = %(agent)s"
            params["agent"] = agent_code
        if order_id is not None:
            where += " AND order_id = %(order)s"
            params["order"] = order_id
        if after:
            position, cid = decode_cursor(after, 2)
            where += " AND (position, id) > (%(apos)s, %(aid)s)"
            params.update(apos=int(position), aid=cid)
        rows = self._all(
            "SELECT l.*, h.status, h.amount_fen FROM (SELECT * FROM commission_lines"
            f" WHERE {where} ORDER BY position, id LIMIT %(limit)s) l"
            " JOIN LATERAL (SELECT status, amount_fen FROM commission_status_history h"
            "   WHERE h.commission_id = l.id AND h.position <= %(at)s"
            "   ORDER BY h.position DESC LIMIT 1) h ON true"
            " ORDER BY l.position, l.id",
            params,
        )
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
        *,
        awaiting: bool | None = None,
    ) -> Page:
        """Requests as of `at`, each with the approvals recorded on it while pending (a request
        that has some and is still pending awaits a second approver)."""
        sql = (
            "SELECT * FROM (SELECT r.id, r.commission_id, r.agent_code, r.amount_fen,"
            " r.requested_position, r.requested_at,"
            " CASE WHEN r.decided_position <= %(at)s THEN r.decision ELSE 'PENDING' END AS status,"
            " CASE WHEN r.decided_position <= %(at)s THEN r.decided_at END AS decided_at,"
            " CASE WHEN r.decided_position <= %(at)s THEN r.decided_by END AS decided_by,"
            " CASE WHEN r.decided_position <= %(at)s THEN r.reason END AS reason,"
            " coalesce((SELECT jsonb_agg(jsonb_build_object('approver', a.approver,"
            "   'actor', a.actor, 'approved_at', a.approved_at) ORDER BY a.position)"
            "   FROM unfreeze_approvals a WHERE a.request_id = r.id AND a.position <= %(at)s),"
            "  '[]'::jsonb) AS approvals"
            " FROM unfreeze_requests r WHERE r.requested_position <= %(at)s) u WHERE true"
        )
        params: dict[str, Any] = {"at": at, "limit": first + 1}
        if status is not None:
            sql += " AND u.status = %(status)s"
            params["status"] = status
        if awaiting is not None:
            sql += (
                " AND (u.status = 'PENDING' AND jsonb_array_length(u.approvals) > 0) = %(awaiting)s"
            )
            params["awaiting"] = awaiting
        if agent_code is not None:
            sql += " AND u.agent_code = %(agent)s"
            params["agent"] = agent_code
        if ids is not None:
            sql += " AND u.id = ANY(%(ids)s)"
            params["ids"] = ids
        return keyset_page(self, sql, params, first, after, ["u.requested_position", "u.id"])

    def withdrawals(
        self,
        at: int,
        agent_codes: list[str] | None,
        status: str | None,
        first: int,
        after: str | None,
        ids: list[tuple[str, str]] | None = None,
    ) -> Page:
        """Withdrawals as of `at`, in the order they were requested."""
        sql = (
            "SELECT * FROM (SELECT DISTINCT ON (agent_code, withdrawal_id) *"
            " FROM withdrawal_history WHERE position <= %(at)s"
            " ORDER BY agent_code, withdrawal_id, position DESC) w WHERE true"
        )
        params: dict[str, Any] = {"at": at, "limit": first + 1}
        if agent_codes is not None:
            sql += " AND w.agent_code = ANY(%(agents)s)"
            params["agents"] = agent_codes
        if status is not None:
            sql += " AND w.status = %(status)s"
            params["status"] = status
        if ids is not None:
            sql += (
                " AND (w.agent_code, w.withdrawal_id) IN"
                " (SELECT * FROM unnest(%(id_agents)s::text[], %(id_withdrawals)s::text[]))"
            )
            params.update(id_agents=[a for a, _ in ids], id_withdrawals=[w for _, w in ids])
        keys = ["w.requested_position", "w.agent_code", "w.withdrawal_id"]
        return keyset_page(self, sql, params, first, after, keys)

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

    def lifetime_totals(self) -> tuple[int, int]:
        row = self._one(
            "SELECT income_fen, credits_fen FROM platform_totals_history"
            " ORDER BY position DESC LIMIT 1"
        )
        return (row["income_fen"], row["credits_fen"]) if row else (0, 0)

    def plans(self, at: int) -> list[dict[str, Any]]:
        return self._all(
            "SELECT code, version, effective_from, effective_to, correction_reason, rules"
            " FROM commission_plans"
            " WHERE position <= %s ORDER BY code, version",
            (at,),
        )
