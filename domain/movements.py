"""Wallet movements as statements name them: the one place a movement kind gets its category.

Every Wallet balance event declares its kind (`MOVEMENT`) and how it moves the buckets
(`deltas()`); the movement ledger, statements and their PDF derive everything from those two.
Kinds that no event on this branch records yet (fees, tax, transfers to the deposit, withdrawal
reviews) are known here already, so that their events appear on statements as soon as they exist.
A kind this table does not know is still stated, under "other": nothing that moves is left out.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from domain.errors import InvalidState

BUCKETS = ("frozen", "unfreezing", "available", "withdrawing", "debt", "deposit")

# category -> (English, 中文), in statement order.
CATEGORY_LABELS: dict[str, tuple[str, str]] = {
    "accrued": ("Commissions accrued", "佣金计提"),
    "unfreezing": ("Unfreeze requests", "解冻申请"),
    "approved": ("Commissions approved", "佣金审核通过"),
    "voided": ("Commissions voided", "佣金作废"),
    "clawed_back": ("Commissions clawed back", "佣金追回"),
    "adjustments": ("Adjustments", "佣金调整"),
    "withdrawals": ("Withdrawals", "提现"),
    "fees": ("Fees", "手续费"),
    "tax": ("Tax withheld", "代扣个税"),
    "deposit_transfers": ("Transfers to deposit", "转入预存款"),
    "deposit": ("Deposit", "预存款"),
    "other": ("Other movements", "其他变动"),
}

# movement kind -> category (None: the event records a decision and moves no money).
CATEGORIES: dict[str, str | None] = {
    "commission_accrued": "accrued",
    "unfreeze_requested": "unfreezing",
    "unfreeze_rejected": "unfreezing",
    "unfreeze_approval_recorded": None,
    "withdrawal_approval_recorded": None,
    "commission_approved": "approved",
    "commission_voided": "voided",
    "commission_clawed_back": "clawed_back",
    "adjustment_proposed": None,
    "adjustment_approval_recorded": None,
    "adjustment_rejected": None,
    "commission_adjusted": "adjustments",
    "withdrawal_requested": "withdrawals",
    "withdrawal_approved": "withdrawals",
    "withdrawal_rejected": "withdrawals",
    "withdrawal_paid": "withdrawals",
    "withdrawal_failed": "withdrawals",
    "fee": "fees",
    "tax": "tax",
    "deposit_transfer": "deposit_transfers",
    "deposit_top_up": "deposit",
    "deposit_debit": "deposit",
    "deposit_refund": "deposit",
}


def category_of(movement: str) -> str:
    return CATEGORIES.get(movement) or "other"


@dataclass(frozen=True)
class StatementLine:
    """The movements of one kind on a statement: those of its cycle, or (late) those that took
    effect in an earlier cycle but were recorded after that cycle's statement was approved."""

    movement: str
    late: bool
    count: int
    amount_fen: int
    deltas: dict[str, int] = field(default_factory=dict)

    @property
    def category(self) -> str:
        return category_of(self.movement)

    def as_record(self) -> dict[str, object]:
        return {
            "movement": self.movement,
            "late": self.late,
            "count": self.count,
            "amount_fen": self.amount_fen,
            "deltas": {b: self.deltas.get(b, 0) for b in BUCKETS},
        }

    @classmethod
    def of(cls, record: Mapping[str, object]) -> "StatementLine":
        deltas = record["deltas"]
        assert isinstance(deltas, dict)
        return cls(
            str(record["movement"]),
            bool(record["late"]),
            int(record["count"]),  # type: ignore[call-overload]
            int(record["amount_fen"]),  # type: ignore[call-overload]
            {str(k): int(v) for k, v in deltas.items()},
        )


def line_order(line: StatementLine) -> tuple[int, str, bool]:
    categories = list(CATEGORY_LABELS)
    return categories.index(line.category), line.movement, line.late


def closing_of(opening: Mapping[str, int], lines: Iterable[StatementLine]) -> dict[str, int]:
    """closing = opening + every line's movements, bucket by bucket, to the fen."""
    closing = {b: int(opening.get(b, 0)) for b in BUCKETS}
    for line in lines:
        for bucket, delta in line.deltas.items():
            if bucket not in closing:
                raise InvalidState("lines", f"a statement line moves an unknown bucket {bucket}")
            closing[bucket] += delta
    return closing


def check_adds_up(
    opening: Mapping[str, int], lines: Iterable[StatementLine], closing: Mapping[str, int]
) -> None:
    """Refuses a statement whose closing is not its opening plus its movements."""
    expected = closing_of(opening, lines)
    if dict(closing) != expected:
        raise InvalidState("closing", f"closing {dict(closing)} is not opening + lines {expected}")


def category_totals(lines: Iterable[StatementLine]) -> dict[str, tuple[int, int]]:
    """Per category: (count, amount) over a statement's lines, late or not."""
    totals: dict[str, tuple[int, int]] = {}
    for line in lines:
        count, amount = totals.get(line.category, (0, 0))
        totals[line.category] = (count + line.count, amount + line.amount_fen)
    return totals
