"""The withdrawals view: each withdrawal's review and payout, as of any log position.

Statuses: PENDING_REVIEW (AWAITING_SECOND_APPROVAL once a first approver of an amount that needs
two has approved), APPROVED (fee, tax and net fixed), REJECTED, PAID, FAILED.
"""

from typing import Any

from psycopg import Cursor

from domain.wallet import Wallet
from projections.rows import Memory, copy_rows
from projections.views import Names, Position, View

COLUMNS = (
    "agent_code",
    "withdrawal_id",
    "position",
    "recorded_at",
    "effective_at",
    "requested_position",
    "requested_at",
    "status",
    "amount_fen",
    "fee_fen",
    "tax_fen",
    "net_fen",
    "large",
    "approvers",
    "actor",
    "reason",
)


class Withdrawals(View):
    name = "withdrawals"
    tables = ("withdrawal_history",)
    event_types = (
        Wallet.WithdrawalRequested,
        Wallet.WithdrawalApprovalRecorded,
        Wallet.WithdrawalApproved,
        Wallet.WithdrawalRejected,
        Wallet.WithdrawalPaid,
        Wallet.WithdrawalFailed,
    )

    def __init__(self, names: Names) -> None:
        super().__init__(names)
        self.latest = Memory()  # (agent code, withdrawal id) -> its latest row

    def forget(self, empty: bool) -> None:
        self.latest.reset(empty)

    def begin(self, cur: Cursor[Any]) -> None:
        self.cur = cur
        self.latest.trim()
        self.rows: list[tuple[Any, ...]] = []

    def _current(self, agent_code: str, withdrawal_id: str) -> dict[str, Any]:
        key = (agent_code, withdrawal_id)
        if key not in self.latest:
            row = None
            if not self.latest.complete:
                self.cur.execute(
                    f"SELECT {', '.join(COLUMNS)} FROM withdrawal_history"
                    " WHERE agent_code = %s AND withdrawal_id = %s ORDER BY position DESC LIMIT 1",
                    key,
                )
                row = self.cur.fetchone()
            assert row is not None, f"withdrawal {key} changed before it was requested"
            self.latest[key] = dict(zip(COLUMNS, row, strict=True))
        return self.latest[key]

    def apply(self, event: Any, at: Position) -> None:
        key = (event.agent_code, event.withdrawal_id)
        if isinstance(event, Wallet.WithdrawalRequested):
            row: dict[str, Any] = {
                "agent_code": event.agent_code,
                "withdrawal_id": event.withdrawal_id,
                "requested_position": at.position,
                "requested_at": event.effective_at,
                "status": "PENDING_REVIEW",
                "amount_fen": event.amount_fen,
                "fee_fen": None,
                "tax_fen": None,
                "net_fen": None,
                "large": event.large,
                "approvers": [],
            }
        else:
            row = dict(self._current(*key))
            if isinstance(event, Wallet.WithdrawalApprovalRecorded):
                row["status"] = "AWAITING_SECOND_APPROVAL"
                row["approvers"] = [*row["approvers"], event.approver]
            elif isinstance(event, Wallet.WithdrawalApproved):
                row.update(
                    status="APPROVED",
                    fee_fen=event.fee_fen,
                    tax_fen=event.tax_fen,
                    net_fen=event.net_fen,
                    approvers=[*row["approvers"], event.actor],
                )
            elif isinstance(event, Wallet.WithdrawalRejected):
                row["status"] = "REJECTED"
            elif isinstance(event, Wallet.WithdrawalPaid):
                row["status"] = "PAID"
            else:
                row["status"] = "FAILED"
        row.update(
            position=at.position,
            recorded_at=at.recorded_at,
            effective_at=event.effective_at,
            actor=event.actor,
            reason=event.reason,
        )
        self.latest[key] = row
        self.rows.append(tuple(row[c] for c in COLUMNS))

    def flush(self, cur: Cursor[Any]) -> None:
        copy_rows(cur, "withdrawal_history", COLUMNS, self.rows)
        self.rows = []
