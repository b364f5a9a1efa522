"""Statements and the wallet movement ledger: types and queries (decision 0027). Every read is
as of a log position, like every other query."""

from enum import Enum
from functools import partial
from typing import Annotated, Any

import strawberry
from starlette.concurrency import run_in_threadpool

from api.graphql.scalars import DateTime, Money
from api.graphql.types import Connection, connection, page_size
from domain.movements import BUCKETS, CATEGORY_LABELS, StatementLine, category_of, category_totals
from projections.queries import encode_cursor
from projections.statement_queries import StatementReads

AsOf = Annotated[
    DateTime | None, strawberry.argument(description="What the ledger knew at this recorded time.")
]
Pos = Annotated[str | None, strawberry.argument(description="A log position to read at.")]


@strawberry.enum
class StatementStatus(Enum):
    DRAFT = "DRAFT"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    VOIDED = "VOIDED"


@strawberry.type(
    description="An amount per wallet bucket (balances, or how a movement moved them)."
)
class Buckets:
    frozen: Money
    unfreezing: Money
    available: Money
    withdrawing: Money
    debt: Money
    deposit: Money

    @classmethod
    def of(cls, values: dict[str, int], prefix: str = "") -> "Buckets":
        return cls(**{b: int(values.get(f"{prefix}{b}", 0)) for b in BUCKETS})  # type: ignore[arg-type]


@strawberry.type(description="One money movement of a wallet, with every balance after it.")
class WalletMovement:
    agent_code: str
    position: str
    movement: str = strawberry.field(description="Its kind (the event's MOVEMENT).")
    category: str = strawberry.field(description="Where statements put it.")
    amount: Money
    reference: str | None = strawberry.field(
        description="Its commission line, withdrawal, adjustment or order."
    )
    recorded_at: DateTime
    effective_at: DateTime
    actor: str
    reason: str
    deltas: Buckets
    balances: Buckets = strawberry.field(description="Running balances after this movement.")

    @classmethod
    def of(cls, r: dict[str, Any]) -> "WalletMovement":
        return cls(
            agent_code=r["agent_code"],
            position=str(r["position"]),
            movement=r["movement"],
            category=category_of(r["movement"]),
            amount=r["amount_fen"],
            reference=r["reference"],
            recorded_at=r["recorded_at"],
            effective_at=r["effective_at"],
            actor=r["actor"],
            reason=r["reason"],
            deltas=Buckets.of(r, "d_"),
            balances=Buckets.of(r),
        )


@strawberry.type(name="StatementLine")
class StatementLineType:
    movement: str
    category: str
    late: bool = strawberry.field(
        description="Took effect in an earlier cycle, recorded after that cycle was approved."
    )
    count: int
    amount: Money
    deltas: Buckets


@strawberry.type
class StatementCategory:
    category: str
    label: str
    label_zh: str
    count: int
    amount: Money


@strawberry.type
class StatementDecision:
    status: StatementStatus
    position: str
    actor: str
    reason: str
    recorded_at: DateTime


@strawberry.type(description="An agent's settlement statement (对账单) for one cycle.")
class Statement:
    id: str
    agent_code: str
    cycle: str
    sequence: int
    supplementary: bool = strawberry.field(description="Late items of a cycle already approved.")
    status: StatementStatus
    starts_at: DateTime
    ends_at: DateTime
    through_position: str = strawberry.field(description="The log position it was generated at.")
    previous_id: str | None = strawberry.field(description="The approved statement it follows.")
    generated_by: str
    generated_at: DateTime
    opening: Buckets
    closing: Buckets = strawberry.field(description="Opening + every line, to the fen.")
    lines: list[StatementLineType]
    categories: list[StatementCategory]
    commissions_accrued: Money
    commissions_approved: Money
    commissions_voided: Money
    commissions_clawed_back: Money
    adjustments: Money
    withdrawals_requested: Money
    withdrawals_paid: Money
    fees: Money
    tax: Money
    transfers_to_deposit: Money
    deposit_change: Money = strawberry.field(description="Closing minus opening deposit.")
    read_at: strawberry.Private[int]

    @strawberry.field(description="Its review: generated, then approved, rejected or voided.")
    async def history(self, info: strawberry.Info) -> list[StatementDecision]:
        reads = StatementReads(info.context.read(self.read_at))
        rows = await run_in_threadpool(reads.statement_history, self.id, self.read_at)
        return [
            StatementDecision(
                status=StatementStatus(r["status"]),
                position=str(r["position"]),
                actor=r["actor"],
                reason=r["reason"],
                recorded_at=r["recorded_at"],
            )
            for r in rows
        ]

    @classmethod
    def of(cls, r: dict[str, Any], at: int) -> "Statement":
        lines = [StatementLine.of(line) for line in r["lines"]]
        totals = category_totals(lines)
        by_movement: dict[str, int] = {}
        for line in lines:
            by_movement[line.movement] = by_movement.get(line.movement, 0) + line.amount_fen
        return cls(
            id=r["id"],
            agent_code=r["agent_code"],
            cycle=r["cycle"],
            sequence=r["sequence"],
            supplementary=r["supplementary"],
            status=StatementStatus(r["status"]),
            starts_at=r["starts_at"],
            ends_at=r["ends_at"],
            through_position=str(r["through"]),
            previous_id=r["previous_id"],
            generated_by=r["generated_by"],
            generated_at=r["recorded_at"],
            opening=Buckets.of(r["opening"]),
            closing=Buckets.of(r["closing"]),
            lines=[
                StatementLineType(
                    movement=line.movement,
                    category=line.category,
                    late=line.late,
                    count=line.count,
                    amount=line.amount_fen,  # type: ignore[arg-type]
                    deltas=Buckets.of(line.deltas),
                )
                for line in lines
            ],
            categories=[
                StatementCategory(
                    category=c,
                    label=CATEGORY_LABELS[c][0],
                    label_zh=CATEGORY_LABELS[c][1],
                    count=totals[c][0],
                    amount=totals[c][1],  # type: ignore[arg-type]
                )
                for c in CATEGORY_LABELS
                if c in totals
            ],
            commissions_accrued=_fen(totals, "accrued"),
            commissions_approved=_fen(totals, "approved"),
            commissions_voided=_fen(totals, "voided"),
            commissions_clawed_back=_fen(totals, "clawed_back"),
            adjustments=_fen(totals, "adjustments"),
            withdrawals_requested=by_movement.get("withdrawal_requested", 0),  # type: ignore[arg-type]
            withdrawals_paid=by_movement.get("withdrawal_paid", 0),  # type: ignore[arg-type]
            fees=_fen(totals, "fees"),
            tax=_fen(totals, "tax"),
            transfers_to_deposit=_fen(totals, "deposit_transfers"),
            deposit_change=r["closing"]["deposit"] - r["opening"]["deposit"],
            read_at=at,
        )


def _fen(totals: dict[str, tuple[int, int]], category: str) -> Any:
    return totals.get(category, (0, 0))[1]


def movement_cursor(row: dict[str, Any]) -> str:
    return encode_cursor(row["position"])


def statement_cursor(row: dict[str, Any]) -> str:
    return encode_cursor(row["position"], row["id"])


@strawberry.type
class StatementQueries:
    @strawberry.field(
        description="Every money movement of an agent's wallet with its running balances, in log "
        "order; `from`/`to` bound the effective time."
    )
    async def wallet_movements(
        self,
        info: strawberry.Info,
        agent_code: str,
        from_: Annotated[DateTime | None, strawberry.argument(name="from")] = None,
        to: DateTime | None = None,
        as_of: AsOf = None,
        position: Pos = None,
        first: int = 50,
        after: str | None = None,
    ) -> Connection[WalletMovement]:
        ctx = info.context
        pinned = await ctx.pin(as_of, position, info)
        reads = StatementReads(ctx.read(pinned.position))
        page = await run_in_threadpool(
            reads.movements, agent_code, pinned.position, from_, to, page_size(info, first), after
        )
        return connection(page, WalletMovement.of, movement_cursor, after)  # type: ignore[no-any-return]

    @strawberry.field
    async def statements(
        self,
        info: strawberry.Info,
        agent_code: str | None = None,
        cycle: str | None = None,
        status: StatementStatus | None = None,
        as_of: AsOf = None,
        position: Pos = None,
        first: int = 20,
        after: str | None = None,
    ) -> Connection[Statement]:
        ctx = info.context
        pinned = await ctx.pin(as_of, position, info)
        reads = StatementReads(ctx.read(pinned.position))
        page = await run_in_threadpool(
            partial(
                reads.statements,
                pinned.position,
                agent_code,
                cycle,
                status.value if status else None,
                page_size(info, first),
                after,
            )
        )
        return connection(  # type: ignore[no-any-return]
            page, lambda r: Statement.of(r, pinned.position), statement_cursor, after
        )

    @strawberry.field
    async def statement(
        self, info: strawberry.Info, id: str, as_of: AsOf = None, position: Pos = None
    ) -> Statement | None:
        ctx = info.context
        pinned = await ctx.pin(as_of, position, info)
        reads = StatementReads(ctx.read(pinned.position))
        row = await run_in_threadpool(reads.statement, id, pinned.position)
        return Statement.of(row, pinned.position) if row else None
