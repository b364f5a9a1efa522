"""The wallet movement ledger and the statements views (decision 0027).

`wallet_movements`: one row per balance event that moves money, with its kind (the event's
MOVEMENT), its deltas and every bucket's running balance after it, written with the view's
tracking in one transaction like every view. `statements`: statements as generated (immutable)
and their statuses by position, so both read as of any position.
"""

from typing import Any

from psycopg import Cursor
from psycopg.types.json import Jsonb

from domain.movements import BUCKETS
from domain.statement import StatementBook, StatementStatus
from domain.wallet import Wallet
from projections.rows import Memory, copy_rows
from projections.views import Names, Position, View

MOVEMENT_COLUMNS = (
    "agent_code",
    "position",
    "movement",
    "amount_fen",
    "reference",
    "recorded_at",
    "effective_at",
    "actor",
    "reason",
    *(f"d_{b}" for b in BUCKETS),
    *BUCKETS,
)
_REFERENCES = ("commission_id", "withdrawal_id", "adjustment_id", "order_id")


def reference_of(event: Any) -> str | None:
    """What the movement is about: its commission line, withdrawal, adjustment or order."""
    for name in _REFERENCES:
        value = getattr(event, name, None)
        if value:
            return str(value)
    return None


class WalletMovements(View):
    name = "wallet_movements"
    tables = ("wallet_movements",)
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
            row = self.latest.stored(
                self.cur, "wallet_movements", BUCKETS, "agent_code", agent_code
            )
            self.latest[agent_code] = list(row) if row else [0] * len(BUCKETS)
        return self.latest[agent_code]

    def apply(self, event: Any, at: Position) -> None:
        deltas = event.deltas()
        if not any(deltas.values()):
            return  # a decision recorded without money moving (a first approval, a proposal)
        balances = self._balances(event.agent_code)
        for bucket, delta in deltas.items():
            balances[BUCKETS.index(bucket)] += delta
        self.rows.append(
            (
                event.agent_code,
                at.position,
                type(event).MOVEMENT,
                event.movement_fen(),
                reference_of(event),
                at.recorded_at,
                event.effective_at,
                event.actor,
                event.reason,
                *(deltas.get(b, 0) for b in BUCKETS),
                *balances,
            )
        )

    def flush(self, cur: Cursor[Any]) -> None:
        copy_rows(cur, "wallet_movements", MOVEMENT_COLUMNS, self.rows)


class Statements(View):
    name = "statements"
    tables = ("statements", "statement_status_history")
    event_types = (StatementBook.StatementEvent,)

    def begin(self, cur: Cursor[Any]) -> None:
        self.generated: list[tuple[Any, ...]] = []
        self.history: list[tuple[Any, ...]] = []

    def apply(self, event: Any, at: Position) -> None:
        if isinstance(event, StatementBook.Generated):
            status = StatementStatus.DRAFT
            self.generated.append(
                (
                    event.statement_id,
                    event.agent_code,
                    event.cycle,
                    event.sequence,
                    event.supplementary,
                    event.starts_at,
                    event.ends_at,
                    event.through,
                    event.previous_id,
                    Jsonb(event.opening),
                    Jsonb(event.closing),
                    Jsonb(event.lines),
                    at.position,
                    at.recorded_at,
                    event.actor,
                )
            )
        elif isinstance(event, StatementBook.Approved):
            status = StatementStatus.APPROVED
        elif isinstance(event, StatementBook.Rejected):
            status = StatementStatus.REJECTED
        else:
            status = StatementStatus.VOIDED
        self.history.append(
            (event.statement_id, at.position, status.value, event.actor, event.reason,
             at.recorded_at)
        )  # fmt: skip

    def flush(self, cur: Cursor[Any]) -> None:
        copy_rows(
            cur,
            "statements",
            (
                "id",
                "agent_code",
                "cycle",
                "sequence",
                "supplementary",
                "starts_at",
                "ends_at",
                "through",
                "previous_id",
                "opening",
                "closing",
                "lines",
                "position",
                "recorded_at",
                "generated_by",
            ),
            self.generated,
        )
        copy_rows(
            cur,
            "statement_status_history",
            ("statement_id", "position", "status", "actor", "reason", "recorded_at"),
            self.history,
        )
