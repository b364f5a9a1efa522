"""Withdrawals as finance reviews them and agents follow them, and the limits in force."""

from datetime import datetime
from enum import Enum
from functools import partial
from typing import Annotated, Any

import strawberry
from starlette.concurrency import run_in_threadpool

from api.graphql.scalars import DateTime, Money
from api.graphql.types import Connection, connection, page_size
from domain.withdrawal_limits import WithdrawalLimits as Limits
from projections.queries import encode_cursor

AsOf = Annotated[
    DateTime | None,
    strawberry.argument(description="What the ledger knew at this recorded time (default: now)."),
]

Pos = Annotated[
    str | None,
    strawberry.argument(
        description="A log position from a previous response's extensions, to repeat the same read."
    ),
]


@strawberry.enum
class WithdrawalStatus(Enum):
    PENDING_REVIEW = "PENDING_REVIEW"
    AWAITING_SECOND_APPROVAL = "AWAITING_SECOND_APPROVAL"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    PAID = "PAID"
    FAILED = "FAILED"


@strawberry.type(description="A withdrawal: requested, reviewed by finance, then paid or failed.")
class Withdrawal:
    id: str
    agent_code: str
    status: WithdrawalStatus
    amount: Money = strawberry.field(description="The gross amount set aside.")
    fee: Money | None = strawberry.field(description="Fixed on approval.")
    tax: Money | None = strawberry.field(description="劳务报酬 withheld, fixed on approval.")
    net: Money | None = strawberry.field(description="What the channel pays: amount - fee - tax.")
    large: bool = strawberry.field(description="It set off the large-withdrawal alert.")
    requested_at: DateTime
    changed_at: DateTime = strawberry.field(description="Effective time of its latest change.")
    approvers: list[str]
    actor: str = strawberry.field(description="Who made its latest change.")
    reason: str = strawberry.field(description="The reason of its latest change.")

    @classmethod
    def of(cls, r: dict[str, Any]) -> "Withdrawal":
        return cls(
            id=r["withdrawal_id"],
            agent_code=r["agent_code"],
            status=WithdrawalStatus(r["status"]),
            amount=r["amount_fen"],
            fee=r["fee_fen"],
            tax=r["tax_fen"],
            net=r["net_fen"],
            large=r["large"],
            requested_at=r["requested_at"],
            changed_at=r["effective_at"],
            approvers=list(r["approvers"]),
            actor=r["actor"],
            reason=r["reason"],
        )


def withdrawal_cursor(row: dict[str, Any]) -> str:
    return encode_cursor(row["requested_position"], row["agent_code"], row["withdrawal_id"])


@strawberry.type(description="The withdrawal parameters in force at a time (admins set them).")
class WithdrawalLimits:
    minimum: Money
    daily_max: Money | None
    monthly_max: Money | None
    daily_count: int | None
    fee_rate: str
    fee_min: Money
    fee_max: Money | None
    large_from: Money | None
    tax_method: str

    @classmethod
    def of(cls, limits: Limits) -> "WithdrawalLimits":
        return cls(
            minimum=limits.minimum_fen,
            daily_max=limits.daily_max_fen,
            monthly_max=limits.monthly_max_fen,
            daily_count=limits.daily_count,
            fee_rate=limits.fields()["fee_rate"],
            fee_min=limits.fee_min_fen,
            fee_max=limits.fee_max_fen,
            large_from=limits.large_from_fen,
            tax_method=limits.tax_method,
        )


@strawberry.type
class WithdrawalQueries:
    @strawberry.field(description="Withdrawals in the order they were requested.")
    async def withdrawals(
        self,
        info: strawberry.Info,
        agent_code: str | None = None,
        status: WithdrawalStatus | None = None,
        as_of: AsOf = None,
        position: Pos = None,
        first: int = 20,
        after: str | None = None,
    ) -> Connection[Withdrawal]:
        ctx = info.context
        pinned = await ctx.pin(as_of, position, info)
        page = await run_in_threadpool(
            partial(
                ctx.read(pinned.position).withdrawals,
                pinned.position,
                None if agent_code is None else [agent_code],
                status.value if status else None,
                page_size(info, first),
                after,
            )
        )
        return connection(page, Withdrawal.of, withdrawal_cursor, after)  # type: ignore[no-any-return]

    @strawberry.field
    async def withdrawal(
        self,
        info: strawberry.Info,
        agent_code: str,
        id: str,
        as_of: AsOf = None,
        position: Pos = None,
    ) -> Withdrawal | None:
        ctx = info.context
        pinned = await ctx.pin(as_of, position, info)
        page = await run_in_threadpool(
            partial(
                ctx.read(pinned.position).withdrawals,
                pinned.position,
                [agent_code],
                None,
                1,
                None,
                ids=[(agent_code, id)],
            )
        )
        return Withdrawal.of(page.rows[0]) if page.rows else None

    @strawberry.field(
        description="The limits, fee and tax method in force at asOf (an effective time)."
    )
    async def withdrawal_limits(
        self, info: strawberry.Info, as_of: AsOf = None
    ) -> WithdrawalLimits:
        ledger = info.context.app.ledger
        at: datetime = as_of or ledger.clock.now()
        history = await run_in_threadpool(ledger.withdrawal_limits)
        return WithdrawalLimits.of(history.as_of(at) if history else Limits())
