"""The payouts view: every change of a payout as a row, read as of a log position."""

from dataclasses import dataclass, replace
from typing import Any

from psycopg import Cursor

from domain.payout import Payout
from projections.positions import keyset_page
from projections.queries import Page, ReadModel
from projections.rows import Memory, copy_rows
from projections.views import Names, Position, View

COLUMNS = (
    "payout_id",
    "withdrawal_id",
    "position",
    "recorded_at",
    "effective_at",
    "agent_code",
    "amount_fen",
    "out_request_id",
    "channel",
    "status",
    "sent",
    "submissions",
    "channel_txn_id",
    "failure_reason",
    "created_position",
)


@dataclass(frozen=True)
class _State:
    payout_id: Any
    withdrawal_id: str
    agent_code: str
    amount_fen: int
    out_request_id: str
    channel: str
    status: str
    sent: bool
    submissions: int
    channel_txn_id: str | None
    failure_reason: str | None
    created_position: int


class Payouts(View):
    name = "payouts"
    tables = ("payout_history",)
    event_types = (
        Payout.Created,
        Payout.Released,
        Payout.Submitted,
        Payout.Paid,
        Payout.Failed,
        Payout.Resubmitted,
        Payout.Cancelled,
    )

    def __init__(self, names: Names) -> None:
        super().__init__(names)
        self.latest = Memory()  # payout id -> _State

    def forget(self, empty: bool) -> None:
        self.latest.reset(empty)

    def begin(self, cur: Cursor[Any]) -> None:
        self.cur = cur
        self.latest.trim()
        self.rows: list[tuple[Any, ...]] = []

    def _state(self, payout_id: Any) -> _State:
        if payout_id not in self.latest:
            columns = list(_State.__dataclass_fields__)
            row = self.latest.stored(self.cur, "payout_history", columns, "payout_id", payout_id)
            if row is None:
                raise LookupError(f"payout {payout_id} changed before it was created")
            self.latest[payout_id] = _State(*row)
        return self.latest[payout_id]

    def apply(self, event: Any, at: Position) -> None:
        if isinstance(event, Payout.Created):
            state = _State(
                event.originator_id,
                event.withdrawal_id,
                event.agent_code,
                event.amount_fen,
                event.out_request_id,
                event.channel,
                "PENDING",
                event.send_now,
                1 if event.send_now else 0,
                None,
                None,
                at.position,
            )
        else:
            state = _next(self._state(event.originator_id), event)
        self.latest[event.originator_id] = state
        self.rows.append(
            (
                state.payout_id,
                state.withdrawal_id,
                at.position,
                at.recorded_at,
                event.effective_at,
                state.agent_code,
                state.amount_fen,
                state.out_request_id,
                state.channel,
                state.status,
                state.sent,
                state.submissions,
                state.channel_txn_id,
                state.failure_reason,
                state.created_position,
            )
        )

    def flush(self, cur: Cursor[Any]) -> None:
        copy_rows(cur, "payout_history", COLUMNS, self.rows)


def _next(state: _State, event: Any) -> _State:
    """The payout after one of its events (the aggregate decided it: no checks here)."""
    if isinstance(event, Payout.Released):
        return replace(state, sent=True, submissions=state.submissions + 1)
    if isinstance(event, Payout.Submitted):
        return replace(state, status="SUBMITTED", channel_txn_id=event.channel_txn_id)
    if isinstance(event, Payout.Paid):
        return replace(
            state, status="PAID", channel_txn_id=event.channel_txn_id or state.channel_txn_id
        )
    if isinstance(event, Payout.Failed):
        return replace(state, status="FAILED", failure_reason=event.reason)
    if isinstance(event, Payout.Resubmitted):
        return replace(
            state, status="RESUBMITTED", submissions=state.submissions + 1, failure_reason=None
        )
    return replace(state, status="CANCELLED")


# The latest row of each payout at or before the read position.
_AS_OF = (
    "SELECT * FROM (SELECT DISTINCT ON (withdrawal_id) *, first_value(effective_at) OVER"
    " (PARTITION BY withdrawal_id ORDER BY position) AS created_at"
    " FROM payout_history WHERE position <= %(at)s"
    " ORDER BY withdrawal_id, position DESC) p WHERE true"
)


def payouts(
    read: ReadModel,
    at: int,
    agent_code: str | None,
    status: str | None,
    first: int,
    after: str | None,
    *,
    held: bool | None = None,
    ids: list[str] | None = None,
) -> Page:
    """Payouts as of `at`, in the order they were created."""
    sql, params = _AS_OF, {"at": at, "limit": first + 1}
    for column, value in (("agent_code", agent_code), ("status", status)):
        if value is not None:
            sql += f" AND p.{column} = %({column})s"
            params[column] = value
    if held is not None:
        sql += " AND (p.status = 'PENDING' AND NOT p.sent) = %(held)s"
        params["held"] = held
    if ids is not None:
        sql += " AND p.withdrawal_id = ANY(%(ids)s)"
        params["ids"] = ids
    return keyset_page(read, sql, params, first, after, ["p.created_position", "p.withdrawal_id"])


def payout(read: ReadModel, at: int, withdrawal_id: str) -> dict[str, Any] | None:
    return read._one(_AS_OF + " AND p.withdrawal_id = %(id)s", {"at": at, "id": withdrawal_id})
