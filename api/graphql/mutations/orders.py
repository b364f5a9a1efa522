"""Orders: placed, completed, refunded."""

import strawberry

from api.graphql.mutations.base import Outcome, audit_of, fen, mutate
from api.graphql.scalars import DateTime, Money
from api.graphql.types import OrderFlow, UserError
from application.results import OrderCompleted, OrderPlaced, OrderRefunded
from application.use_cases.orders import CompleteOrder, PlaceOrder, RefundOrder


@strawberry.input
class PlaceOrderInput:
    order_id: str
    package_code: str
    agent_code: str
    flow: OrderFlow
    iccid: str | None = None
    buyer_code: str | None = None
    occurred_at: DateTime | None = None
    idempotency_key: str | None = None


@strawberry.type
class PlaceOrderPayload:
    order_id: str | None
    paid_amount: Money | None
    user_errors: list[UserError]

    @classmethod
    def of(cls, done: Outcome[OrderPlaced]) -> "PlaceOrderPayload":
        return cls(
            order_id=done.get(lambda r: r.order_id),
            paid_amount=done.get(lambda r: r.paid_fen),
            user_errors=done.errors,
        )


@strawberry.input
class CompleteOrderInput:
    order_id: str
    occurred_at: DateTime | None = None
    idempotency_key: str | None = None


@strawberry.type
class CompleteOrderPayload:
    order_id: str | None
    user_errors: list[UserError]

    @classmethod
    def of(cls, done: Outcome[OrderCompleted]) -> "CompleteOrderPayload":
        return cls(order_id=done.get(lambda r: r.order_id), user_errors=done.errors)


@strawberry.input
class RefundOrderInput:
    order_id: str
    amount: Money
    reason: str
    occurred_at: DateTime | None = None
    idempotency_key: str | None = None


@strawberry.type
class RefundOrderPayload:
    order_id: str | None
    refunded_amount: Money | None
    user_errors: list[UserError]

    @classmethod
    def of(cls, done: Outcome[OrderRefunded]) -> "RefundOrderPayload":
        return cls(
            order_id=done.get(lambda r: r.order_id),
            refunded_amount=done.get(lambda r: r.refunded_fen),
            user_errors=done.errors,
        )


@strawberry.type
class OrderMutations:
    @strawberry.mutation
    async def place_order(self, info: strawberry.Info, input: PlaceOrderInput) -> PlaceOrderPayload:
        return await mutate(
            info,
            lambda: PlaceOrder(
                order_id=input.order_id,
                package_code=input.package_code,
                agent_code=input.agent_code,
                iccid=input.iccid,
                buyer_code=input.buyer_code,
                flow=input.flow.value,
                audit=audit_of(info, input.occurred_at),
                key=input.idempotency_key,
            ),
            PlaceOrderPayload.of,
        )

    @strawberry.mutation
    async def complete_order(
        self, info: strawberry.Info, input: CompleteOrderInput
    ) -> CompleteOrderPayload:
        return await mutate(
            info,
            lambda: CompleteOrder(
                order_id=input.order_id,
                audit=audit_of(info, input.occurred_at),
                key=input.idempotency_key,
            ),
            CompleteOrderPayload.of,
        )

    @strawberry.mutation
    async def refund_order(
        self, info: strawberry.Info, input: RefundOrderInput
    ) -> RefundOrderPayload:
        return await mutate(
            info,
            lambda: RefundOrder(
                order_id=input.order_id,
                amount_fen=fen(input.amount, "amount"),
                audit=audit_of(info, input.occurred_at, input.reason),
                key=input.idempotency_key,
            ),
            RefundOrderPayload.of,
        )
