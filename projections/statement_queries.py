"""Reads of the movement ledger and the statements, as of a log position; and what generating
statements asks of the read side (application.use_cases.statements.StatementSource)."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from domain.errors import InvalidState
from domain.movements import BUCKETS, StatementLine, line_order
from projections.positions import keyset_page
from projections.queries import Page, ReadModel, decode_cursor

_STATUS_AT = (
    "(SELECT h.status FROM statement_status_history h WHERE h.statement_id = s.id"
    " AND h.position <= %(at)s ORDER BY h.position DESC LIMIT 1)"
)
# Statements are stated at the movement ledger's position: when it is rebuilding or stopped, far
# behind the log, they would state as late what was only not projected yet. In-flight writes
# keep any view a few events behind.
MAX_LAG = 1000
_DELTAS = ", ".join(f"sum(m.d_{b})::bigint AS d_{b}" for b in BUCKETS)


class StatementReads:
    def __init__(self, read: ReadModel) -> None:
        self.read = read

    # -- generating ------------------------------------------------------------------------------
    def movements_through(self, ends_at: datetime) -> tuple[int, list[str]]:
        """The position the movement ledger has reached, and the agents with a movement that
        took effect before `ends_at` by then."""
        state = self.read.progress().views["wallet_movements"]
        if state.error is not None or state.lag > MAX_LAG:
            raise InvalidState(
                "cycle",
                f"the movement ledger is at position {state.position}, {state.lag} events behind"
                f" the log{' and stopped: ' + state.error if state.error else ''}: statements"
                " are generated once it has caught up",
            )
        at = state.position
        rows = self.read._all(
            "SELECT DISTINCT agent_code FROM wallet_movements"
            " WHERE position <= %s AND effective_at < %s ORDER BY agent_code",
            (at, ends_at),
        )
        return at, [r["agent_code"] for r in rows]

    def statement_lines(
        self,
        through: int,
        starts_at: datetime,
        ends_at: datetime,
        covered: Mapping[str, tuple[datetime, int]],
        agents: list[str],
    ) -> dict[str, list[StatementLine]]:
        """Per agent, its movements by kind that took effect before `ends_at`, recorded by
        `through`, and not covered by its approved statements (effective before their end and
        recorded by their position); late: effective before `starts_at`."""
        codes = list(agents)
        ends = [covered[a][0] if a in covered else None for a in codes]
        positions = [covered[a][1] if a in covered else None for a in codes]
        rows = self.read._all(
            "WITH c(agent_code, ends_at, through) AS ("
            "  SELECT * FROM unnest(%(codes)s::text[], %(ends)s::timestamptz[], %(pos)s::bigint[]))"
            " SELECT m.agent_code, m.movement, m.effective_at < %(start)s AS late,"
            f" count(*) AS n, sum(m.amount_fen)::bigint AS amount, {_DELTAS}"
            " FROM wallet_movements m JOIN c ON c.agent_code = m.agent_code"
            " WHERE m.position <= %(through)s AND m.effective_at < %(end)s"
            " AND NOT (c.ends_at IS NOT NULL AND m.effective_at < c.ends_at"
            "          AND m.position <= c.through)"
            " GROUP BY 1, 2, 3",
            {
                "codes": codes,
                "ends": ends,
                "pos": positions,
                "start": starts_at,
                "end": ends_at,
                "through": through,
            },
        )
        found: dict[str, list[StatementLine]] = {}
        for r in rows:
            deltas = {b: r[f"d_{b}"] for b in BUCKETS if r[f"d_{b}"]}
            found.setdefault(r["agent_code"], []).append(
                StatementLine(r["movement"], r["late"], r["n"], r["amount"], deltas)
            )
        for agent_lines in found.values():
            agent_lines.sort(key=line_order)  # one order, so equal drafts compare equal
        return found

    # -- reading ---------------------------------------------------------------------------------
    def movement_summary(self, agent_code: str, at: int) -> tuple[int, list[int]]:
        """How many movements the agent's wallet made by `at`, and its balances after the last
        (what `fenrun verify` compares with a replay)."""
        row = self.read._one(
            f"SELECT count(*) OVER () AS n, {', '.join(BUCKETS)} FROM wallet_movements"
            " WHERE agent_code = %s AND position <= %s ORDER BY position DESC LIMIT 1",
            (agent_code, at),
        )
        if row is None:
            return 0, [0] * len(BUCKETS)
        return row["n"], [row[b] for b in BUCKETS]

    def movements(
        self,
        agent_code: str,
        at: int,
        starts_at: datetime | None,
        ends_at: datetime | None,
        first: int,
        after: str | None,
    ) -> Page:
        sql = "SELECT * FROM wallet_movements WHERE agent_code = %(agent)s AND position <= %(at)s"
        params: dict[str, Any] = {"agent": agent_code, "at": at, "limit": first + 1}
        if starts_at is not None:
            sql += " AND effective_at >= %(from)s"
            params["from"] = starts_at
        if ends_at is not None:
            sql += " AND effective_at < %(to)s"
            params["to"] = ends_at
        if after:
            sql += " AND position > %(after)s"
            params["after"] = int(decode_cursor(after, 1)[0])
        rows = self.read._all(sql + " ORDER BY position LIMIT %(limit)s", params)
        return Page(rows[:first], len(rows) > first)

    _STATEMENTS = (
        f"SELECT * FROM (SELECT s.*, {_STATUS_AT} AS status FROM statements s"
        " WHERE s.position <= %(at)s) s WHERE true"
    )

    def statements(
        self,
        at: int,
        agent_code: str | None,
        cycle: str | None,
        status: str | None,
        first: int,
        after: str | None,
    ) -> Page:
        sql, params = self._STATEMENTS, {"at": at, "limit": first + 1}
        for column, value in (("agent_code", agent_code), ("cycle", cycle), ("status", status)):
            if value is not None:
                sql += f" AND s.{column} = %({column})s"
                params[column] = value
        return keyset_page(self.read, sql, params, first, after, ["s.position", "s.id"])

    def statement(self, statement_id: str, at: int) -> dict[str, Any] | None:
        return self.read._one(
            self._STATEMENTS + " AND s.id = %(id)s", {"at": at, "id": statement_id}
        )

    def statement_history(self, statement_id: str, at: int) -> list[dict[str, Any]]:
        return self.read._all(
            "SELECT * FROM statement_status_history WHERE statement_id = %s AND position <= %s"
            " ORDER BY position",
            (statement_id, at),
        )
