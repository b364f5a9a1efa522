"""Payouts through the payment channel: read them, resubmit or cancel a failed one, and send
the payouts held for a batch (平台主动打款). Decision 0026."""

from enum import Enum
from typing import Any

import strawberry
from starlette.concurrency import run_in_threadpool

from api.graphql.mutations.base import Outcome, audit_of, mutate
from api.graphql.queries import AsOf, Pos
from api.graphql.scalars import DateTime, Money
from api.graphql.types import Connection, UserError, connection, page_size
from application.results import PayoutRecorded, PayoutsReleased
from application.use_cases.payouts import (
    MAX_BATCH,
    CancelPayout,
    PayApprovedWithdrawals,
    ResubmitPayout,
)
from domain.errors import InvalidInput
from projections import payouts as reads
from projections.queries import encode_cursor


@strawberry.enum
class PayoutStatus(Enum):
    PENDING = "PENDING"
    SUBMITTED = "SUBMITTED"
    PAID = "PAID"
    FAILED = "FAILED"
    RESUBMITTED = "RESUBMITTED"
    CANCELLED = "CANCELLED"


@strawberry.type(description="A withdrawal's money on its way through a payment channel.")
class Payout:
    withdrawal_id: str
    agent_code: str
    amount: Money
    channel: str
    out_request_id: str = strawberry.field(
        description="Kept by resubmissions: the channel dedupes."
    )
    status: PayoutStatus
    held: bool = strawberry.field(description="Waiting for a batch payout (平台主动打款).")
    submissions: int = strawberry.field(description="Requests sent to the channel so far.")
    channel_txn_id: str | None
    failure_reason: str | None
    created_at: DateTime
    updated_at: DateTime

    @classmethod
    def of(cls, r: dict[str, Any]) -> "Payout":
        return cls(
            withdrawal_id=r["withdrawal_id"],
            agent_code=r["agent_code"],
            amount=r["amount_fen"],
            channel=r["channel"],
            out_request_id=r["out_request_id"],
            status=PayoutStatus(r["status"]),
            held=r["status"] == "PENDING" and not r["sent"],
            submissions=r["submissions"],
            channel_txn_id=r["channel_txn_id"],
            failure_reason=r["failure_reason"],
            created_at=r["created_at"],
            updated_at=r["effective_at"],
        )


def payout_cursor(r: dict[str, Any]) -> str:
    return encode_cursor(r["created_position"], r["withdrawal_id"])


@strawberry.type
class PayoutQueries:
    @strawberry.field(description="Payouts in the order they started; agents name their own.")
    async def payouts(
        self,
        info: strawberry.Info,
        agent_code: str | None = None,
        status: PayoutStatus | None = None,
        as_of: AsOf = None,
        position: Pos = None,
        first: int = 20,
        after: str | None = None,
    ) -> Connection[Payout]:
        ctx = info.context
        pinned = await ctx.pin(as_of, position, info)
        page = await run_in_threadpool(
            reads.payouts,
            ctx.read(pinned.position),
            pinned.position,
            agent_code,
            status.value if status else None,
            page_size(info, first),
            after,
        )
        return connection(page, Payout.of, payout_cursor, after)  # type: ignore[no-any-return]

    @strawberry.field(description="The payout of one withdrawal.")
    async def payout(
        self,
        info: strawberry.Info,
        withdrawal_id: str,
        as_of: AsOf = None,
        position: Pos = None,
    ) -> Payout | None:
        ctx = info.context
        pinned = await ctx.pin(as_of, position, info)
        row = await run_in_threadpool(
            reads.payout, ctx.read(pinned.position), pinned.position, withdrawal_id
        )
        return Payout.of(row) if row else None


@strawberry.input
class ResubmitPayoutInput:
    withdrawal_id: str
    reason: str | None = None
    idempotency_key: str | None = None


@strawberry.input
class CancelPayoutInput:
    withdrawal_id: str
    reason: str | None = strawberry.field(default=None, description="Required: why.")
    idempotency_key: str | None = None


@strawberry.input
class PayApprovedWithdrawalsInput:
    ids: list[str] | None = strawberry.field(default=None, description="Withdrawal ids.")
    all: bool = strawberry.field(default=False, description="Every payout held for a batch.")
    idempotency_key: str | None = None


@strawberry.type
class PayoutPayload:
    withdrawal_id: str | None
    status: PayoutStatus | None
    user_errors: list[UserError]

    @classmethod
    def of(cls, done: Outcome[PayoutRecorded]) -> "PayoutPayload":
        r = done.result
        if r is None:
            return cls(withdrawal_id=None, status=None, user_errors=done.errors)
        return cls(withdrawal_id=r.withdrawal_id, status=PayoutStatus(r.status), user_errors=[])


@strawberry.type
class PayApprovedWithdrawalsPayload:
    withdrawal_ids: list[str]
    user_errors: list[UserError]

    @classmethod
    def of(cls, done: Outcome[PayoutsReleased]) -> "PayApprovedWithdrawalsPayload":
        ids = list(done.result.withdrawal_ids) if done.result else []
        return cls(withdrawal_ids=ids, user_errors=done.errors)


def _held(info: strawberry.Info) -> tuple[str, ...]:
    """Every payout held for a batch, as the views have them now (at most one batch's worth)."""
    read = info.context.app.read
    page = reads.payouts(read, read.caught_up(), None, None, MAX_BATCH, None, held=True)
    if not page.rows:
        raise InvalidInput("all", "no payout is waiting to be sent")
    return tuple(r["withdrawal_id"] for r in page.rows)


@strawberry.type
class PayoutMutations:
    @strawberry.mutation(description="Sends a FAILED payout again, under its out-request id.")
    async def resubmit_payout(
        self, info: strawberry.Info, input: ResubmitPayoutInput
    ) -> PayoutPayload:
        return await mutate(
            info,
            lambda: ResubmitPayout(
                withdrawal_id=input.withdrawal_id,
                audit=audit_of(info, None, input.reason),
                key=input.idempotency_key,
            ),
            PayoutPayload.of,
        )

    @strawberry.mutation(description="Gives up on a FAILED payout: the money is available again.")
    async def cancel_payout(self, info: strawberry.Info, input: CancelPayoutInput) -> PayoutPayload:
        return await mutate(
            info,
            lambda: CancelPayout(
                withdrawal_id=input.withdrawal_id,
                audit=audit_of(info, None, input.reason),
                key=input.idempotency_key,
            ),
            PayoutPayload.of,
        )

    @strawberry.mutation(description="平台主动打款: sends payouts held for a batch (ids or all).")
    async def pay_approved_withdrawals(
        self, info: strawberry.Info, input: PayApprovedWithdrawalsInput
    ) -> PayApprovedWithdrawalsPayload:
        def command() -> PayApprovedWithdrawals:
            if input.all == (input.ids is not None):
                raise InvalidInput("ids", "give either ids or all: true")
            ids = _held(info) if input.all else tuple(input.ids or ())
            return PayApprovedWithdrawals(
                withdrawal_ids=ids, audit=audit_of(info, None), key=input.idempotency_key
            )

        return await mutate(info, command, PayApprovedWithdrawalsPayload.of)
