"""Cards: assigned, activated, recharged."""

import strawberry

from api.graphql.mutations.base import Outcome, audit_of, fen, mutate
from api.graphql.scalars import DateTime, Money
from api.graphql.types import UserError
from application.results import CardRecorded, RechargeRecorded
from application.use_cases.cards import ActivateCard, AssignCard, RecordRecharge


@strawberry.input
class AssignCardInput:
    iccid: str
    agent_code: str
    package_code: str | None = None
    occurred_at: DateTime | None = None
    idempotency_key: str | None = None


@strawberry.input
class ActivateCardInput:
    iccid: str
    occurred_at: DateTime | None = None
    idempotency_key: str | None = None


@strawberry.input
class RecordRechargeInput:
    iccid: str
    amount: Money
    occurred_at: DateTime | None = None
    idempotency_key: str | None = None


@strawberry.type
class CardPayload:
    iccid: str | None
    user_errors: list[UserError]

    @classmethod
    def of(cls, done: Outcome[CardRecorded] | Outcome[RechargeRecorded]) -> "CardPayload":
        return cls(iccid=done.get(lambda r: r.iccid), user_errors=done.errors)


@strawberry.type
class CardMutations:
    @strawberry.mutation
    async def assign_card(self, info: strawberry.Info, input: AssignCardInput) -> CardPayload:
        return await mutate(
            info,
            lambda: AssignCard(
                iccid=input.iccid,
                agent_code=input.agent_code,
                package_code=input.package_code,
                audit=audit_of(info, input.occurred_at),
                key=input.idempotency_key,
            ),
            CardPayload.of,
        )

    @strawberry.mutation
    async def activate_card(self, info: strawberry.Info, input: ActivateCardInput) -> CardPayload:
        return await mutate(
            info,
            lambda: ActivateCard(
                iccid=input.iccid,
                audit=audit_of(info, input.occurred_at),
                key=input.idempotency_key,
            ),
            CardPayload.of,
        )

    @strawberry.mutation
    async def record_recharge(
        self, info: strawberry.Info, input: RecordRechargeInput
    ) -> CardPayload:
        return await mutate(
            info,
            lambda: RecordRecharge(
                iccid=input.iccid,
                amount_fen=fen(input.amount, "amount"),
                audit=audit_of(info, input.occurred_at),
                key=input.idempotency_key,
            ),
            CardPayload.of,
        )
