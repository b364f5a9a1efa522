"""The views: each turns events into rows. The runner calls them inside one transaction per batch
and commits their rows together with their tracking positions.

Every table keeps history keyed by log position, so "as of position P" is an index lookup for
the greatest position <= P, whatever the length of the history.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import Cursor
from psycopg.types.json import Jsonb

from domain.agent import Agent
from domain.book import LineEffect
from domain.card import Card
from domain.order import Order
from domain.plan import CommissionPlan
from domain.wallet import BUCKETS, Wallet
from projections.rows import Memory, copy_rows, insert_new, update_rows


class Names:
    """Business codes of aggregates, by aggregate id, for the events that do not repeat their
    owner's code (an agent's, a card's, a plan's; orders' and wallets' events do).

    Learned from creation events (kept in table aggregate_codes), cached per runner.
    """

    def __init__(self) -> None:
        self.codes: dict[Any, str] = {}
        self.new: list[tuple[Any, str, str]] = []
        self.cur: Cursor[Any] | None = None

    def learn(self, event: Any) -> None:
        """Every runner learns codes from creation events, whichever views it runs."""
        for cls, (kind, attribute) in _CREATED.items():
            if isinstance(event, cls):
                self.remember(event.originator_id, kind, getattr(event, attribute))
                return

    def remember(self, originator_id: Any, kind: str, code: str) -> None:
        self.codes[originator_id] = code
        self.new.append((originator_id, kind, code))

    def code(self, originator_id: Any) -> str:
        if originator_id not in self.codes:
            assert self.cur is not None
            self.cur.execute("SELECT code FROM aggregate_codes WHERE id = %s", (originator_id,))
            row = self.cur.fetchone()
            if row is None:
                raise LookupError(f"no code known for aggregate {originator_id}")
            self.codes[originator_id] = row[0]
        return self.codes[originator_id]

    def flush(self, cur: Cursor[Any]) -> None:
        insert_new(cur, "aggregate_codes", _CODE_COLUMNS, self.new)
        self.new = []

    def flush_each(self, cur: Cursor[Any]) -> None:
        """Each code in a savepoint of its own: a code the database refuses (a NUL character)
        is forgotten, so that only the views that need it fail, on their own events."""
        for row in self.new:
            try:
                with cur.connection.transaction():
                    cur.execute(_INSERT_CODE, row)
            except psycopg.DatabaseError as exc:
                if isinstance(exc, psycopg.OperationalError):
                    raise
                self.codes.pop(row[0], None)
        self.new = []


_CODE_COLUMNS = (("id", "uuid"), ("kind", "text"), ("code", "text"))
_INSERT_CODE = (
    "INSERT INTO aggregate_codes (id, kind, code) VALUES (%s, %s, %s) ON CONFLICT (id) DO NOTHING"
)


_CREATED: dict[type, tuple[str, str]] = {
    Agent.Registered: ("agent", "code"),
    Card.Assigned: ("card", "iccid"),
    CommissionPlan.Created: ("plan", "code"),
}


@dataclass(frozen=True)
class Position:
    position: int
    recorded_at: datetime


class View:
    """A read model: `handles` picks its events, `apply` stages rows, `flush` writes them."""

    name: str = ""
    tables: tuple[str, ...] = ()
    event_types: tuple[type, ...] = ()
    # (tracking name, position) that the view's memory matches: set by the runner whose batch
    # committed last, None while a batch is in flight (see forget)
    remembers: tuple[str, int] | None = None

    def __init__(self, names: Names) -> None:
        self.names = names

    def handles(self, event: Any) -> bool:
        return isinstance(event, self.event_types)

    def forget(self, empty: bool) -> None:
        """Drops what the view remembers across batches. The runner calls it before a batch
        unless it proved that the view's rows are the ones its last committed batch left (its
        tracking position is where that batch put it: nobody else wrote them, nothing rolled
        back). empty: the view's tables hold no row, so a key it has not seen has none."""

    def begin(self, cur: Cursor[Any]) -> None:
        """Called at the start of each batch, inside its transaction."""

    def apply(self, event: Any, at: Position) -> None:
        raise NotImplementedError

    def flush(self, cur: Cursor[Any]) -> None:
        raise NotImplementedError


class WalletBalances(View):
    name = "wallet_balances"
    tables = ("wallet_balance_history",)
    event_types = (Wallet.BalanceEvent,)

    def __init__(self, names: Names) -> None:
        super().__init__(names)
        self.latest = Memory()  # agent code -> balances

    def forget(self, empty: bool) -> None:
        self.latest.reset(empty)

    def begin(self, cur: Cursor[Any]) -> None:
        self.cur = cur
        self.latest.trim()
        self.rows: list[tuple[Any, ...]] = []

    def _balances(self, agent_code: str) -> list[int]:
        if agent_code not in self.latest:
            row = None
            if not self.latest.complete:
                self.cur.execute(
                    "SELECT frozen, unfreezing, available, withdrawing, debt, deposit"
                    " FROM wallet_balance_history WHERE agent_code = %s"
                    " ORDER BY position DESC LIMIT 1",
                    (agent_code,),
                )
                row = self.cur.fetchone()
            self.latest[agent_code] = list(row) if row else [0] * len(BUCKETS)
        return self.latest[agent_code]

    def apply(self, event: Wallet.BalanceEvent, at: Position) -> None:
        agent_code = event.agent_code
        balances = self._balances(agent_code)
        for bucket, delta in event.deltas().items():
            balances[BUCKETS.index(bucket)] += delta
        self.rows.append(
            (agent_code, at.position, at.recorded_at, event.effective_at, *balances)  # type: ignore[attr-defined]
        )

    def flush(self, cur: Cursor[Any]) -> None:
        copy_rows(
            cur,
            "wallet_balance_history",
            (
                "agent_code",
                "position",
                "recorded_at",
                "effective_at",
                "frozen",
                "unfreezing",
                "available",
                "withdrawing",
                "debt",
                "deposit",
            ),
            self.rows,
        )


@dataclass
class _LineState:
    status: str
    amount: int
    releasable_at: datetime | None = None


class Commissions(View):
    """Commission lines with their status history, and the unfreeze requests made for them.
    Every status comes from the line effect its event declares (domain/book.py)."""

    name = "commissions"
    tables = (
        "commission_lines",
        "commission_status_history",
        "unfreeze_requests",
        "unfreeze_approvals",
    )
    event_types = (Wallet.LineEvent,)

    def begin(self, cur: Cursor[Any]) -> None:
        self.new_lines: dict[str, list[Any]] = {}
        self.current: dict[str, _LineState] = {}
        self.history: list[tuple[Any, ...]] = []
        self.requests: list[tuple[Any, ...]] = []
        self.decisions: list[tuple[Any, ...]] = []
        self.approvals: list[tuple[Any, ...]] = []

    def apply(self, event: Any, at: Position) -> None:
        effect: LineEffect = event.line_effect()
        if isinstance(event, Wallet.CommissionAccrued):
            self._accrued(event, at)
        if effect.opens_request is not None:
            self.requests.append(
                (
                    effect.opens_request,
                    event.commission_id,
                    event.agent_code,
                    effect.moved_fen,
                    at.position,
                    event.effective_at,
                )
            )
        if effect.closes_request is not None:
            self._decide(effect.closes_request, str(effect.decision), event, at)
        if effect.approver is not None:  # a first approval: the request waits for a second
            self.approvals.append(
                (event.request_id, at.position, effect.approver, event.actor, event.effective_at)
            )
        state = _LineState(effect.status, effect.remaining_fen, effect.releasable_at)
        previous = self.current.get(event.commission_id)
        if state.releasable_at is None and previous is not None:
            state.releasable_at = previous.releasable_at
        self.current[event.commission_id] = state
        self.history.append(
            (
                event.commission_id,
                at.position,
                str(state.status),
                state.amount,
                type(event).__qualname__.split(".")[-1],
                at.recorded_at,
                event.effective_at,
                event.actor,
                event.reason,
            )
        )

    def _accrued(self, event: Wallet.CommissionAccrued, at: Position) -> None:
        self.new_lines[event.commission_id] = [
            event.commission_id,
            event.agent_code,
            event.kind,
            event.amount_fen,
            event.base_fen,
            event.rate,
            event.order_id,
            event.iccid,
            event.source,
            event.plan_code,
            event.plan_version,
            event.rule_code,
            event.hold_days,
            Jsonb(event.facts),
            event.effective_at,
            at.recorded_at,
            at.position,
        ]

    def _decide(self, request_id: str, decision: str, event: Any, at: Position) -> None:
        self.decisions.append(
            (request_id, at.position, decision, event.effective_at, event.actor, event.reason)
        )

    def flush(self, cur: Cursor[Any]) -> None:
        lines = []
        for commission_id, row in self.new_lines.items():
            state = self.current[commission_id]
            lines.append((*row, str(state.status), state.amount, state.releasable_at))
        copy_rows(
            cur,
            "commission_lines",
            (
                "id",
                "agent_code",
                "kind",
                "original_fen",
                "base_fen",
                "rate",
                "order_id",
                "iccid",
                "source",
                "plan_code",
                "plan_version",
                "rule_code",
                "hold_days",
                "facts",
                "effective_at",
                "recorded_at",
                "position",
                "current_status",
                "current_fen",
                "releasable_at",
            ),
            lines,
        )
        update_rows(
            cur,
            "commission_lines",
            (
                ("id", "text"),
                ("current_status", "text"),
                ("current_fen", "bigint"),
                ("releasable_at", "timestamptz"),
            ),
            [
                (cid, str(s.status), s.amount, s.releasable_at)
                for cid, s in self.current.items()
                if cid not in self.new_lines
            ],
            "current_status = u.current_status, current_fen = u.current_fen,"
            " releasable_at = COALESCE(u.releasable_at, t.releasable_at)",
        )
        copy_rows(
            cur,
            "commission_status_history",
            (
                "commission_id",
                "position",
                "status",
                "amount_fen",
                "event",
                "recorded_at",
                "effective_at",
                "actor",
                "reason",
            ),
            self.history,
        )
        copy_rows(
            cur,
            "unfreeze_requests",
            (
                "id",
                "commission_id",
                "agent_code",
                "amount_fen",
                "requested_position",
                "requested_at",
            ),
            self.requests,
        )
        update_rows(
            cur,
            "unfreeze_requests",
            (
                ("id", "text"),
                ("decided_position", "bigint"),
                ("decision", "text"),
                ("decided_at", "timestamptz"),
                ("decided_by", "text"),
                ("reason", "text"),
            ),
            # A request closes once; were it twice in a batch, its last decision stands.
            list({d[0]: d for d in self.decisions}.values()),
        )
        copy_rows(
            cur,
            "unfreeze_approvals",
            ("request_id", "position", "approver", "actor", "approved_at"),
            self.approvals,
        )


class Directory(View):
    """Agents, wallets' owners, orders and plans: the reference data other views and queries use."""

    name = "directory"
    tables = ("agents", "orders", "commission_plans", "agent_levels")
    event_types = (
        Agent.Registered,
        Agent.UplineBound,
        Agent.LevelChanged,
        Order.Placed,
        CommissionPlan.VersionDefined,
        CommissionPlan.CorrectionDefined,
    )

    def begin(self, cur: Cursor[Any]) -> None:
        self.agents: list[tuple[Any, ...]] = []
        self.uplines: list[tuple[Any, ...]] = []
        self.levels: list[tuple[Any, ...]] = []
        self.orders: list[tuple[Any, ...]] = []
        self.plans: list[tuple[Any, ...]] = []

    def apply(self, event: Any, at: Position) -> None:
        if isinstance(event, Agent.Registered):
            self.agents.append(
                (
                    event.code,
                    event.name,
                    event.real_name_verified,
                    at.position,
                    event.effective_at,
                    event.parent_code,
                    at.position if event.parent_code else None,
                )
            )
        elif isinstance(event, Agent.UplineBound):
            self.uplines.append(
                (event.parent_code, at.position, self.names.code(event.originator_id))
            )
        elif isinstance(event, Agent.LevelChanged):
            self.levels.append((event.agent_code, at.position, event.level_code))
        elif isinstance(event, Order.Placed):
            self.orders.append(
                (event.order_id, event.agent_code, event.flow, event.paid_fen, at.position)
            )
        elif isinstance(event, CommissionPlan.VersionDefined | CommissionPlan.CorrectionDefined):
            correction = isinstance(event, CommissionPlan.CorrectionDefined)
            self.plans.append(
                (
                    self.names.code(event.originator_id),
                    event.version,
                    event.effective_from,
                    event.effective_to if correction else None,
                    event.reason if correction else None,
                    Jsonb(event.rules),
                    at.position,
                )
            )

    def flush(self, cur: Cursor[Any]) -> None:
        # New rows by COPY, then the rebindings in log order (an agent may be registered and
        # rebound in the same batch).
        copy_rows(
            cur,
            "agents",
            (
                "code",
                "name",
                "real_name_verified",
                "registered_position",
                "registered_at",
                "parent_code",
                "parent_position",
            ),
            self.agents,
        )
        cur.executemany(
            "UPDATE agents SET parent_code = %s, parent_position = %s WHERE code = %s",
            self.uplines,
        )
        copy_rows(cur, "agent_levels", ("agent_code", "position", "level_code"), self.levels)
        copy_rows(
            cur, "orders", ("order_id", "agent_code", "flow", "paid_fen", "position"), self.orders
        )
        copy_rows(
            cur,
            "commission_plans",
            (
                "code",
                "version",
                "effective_from",
                "effective_to",
                "correction_reason",
                "rules",
                "position",
            ),
            self.plans,
        )
