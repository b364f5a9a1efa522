"""Cards: assigned, activated, recharged, and the carrier's conditions of a card."""

import strawberry

from api.graphql.mutations.base import Outcome, audit_of, fen, mutate
from api.graphql.scalars import DateTime, Money
from api.graphql.types import UserError
from application.results import CardConditionsRecorded, CardRecorded, RechargeRecorded
from application.use_cases.cards import (
    ActivateCard,
    AssignCard,
    RecordRecharge,
    ReportCardConditions,
    conditions_reason,
)


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


@strawberry.input
class ReportCardConditionsInput:
    iccid: str
    stopped: bool = strawberry.field(description="The carrier stopped the card (停机).")
    arrears: bool = strawberry.field(description="The card is in arrears (欠费).")
    cancelled: bool = strawberry.field(description="The card was cancelled (销户).")
    complaint: bool = strawberry.field(description="A complaint was made about it (投诉).")
    source: str = strawberry.field(
        default="operator",
        description="Where the report came from: an operator, a carrier's status feed or file.",
    )
    reason: str | None = strawberry.field(
        default=None, description="Why, in words (added to the reason the voids record)."
    )
    occurred_at: DateTime | None = strawberry.field(
        default=None, description="When the carrier says the conditions held (effective time)."
    )
    idempotency_key: str | None = None


@strawberry.type
class ReportCardConditionsPayload:
    iccid: str | None
    failed: list[str] | None = strawberry.field(
        description="The conditions the report fails (stopped, arrears, cancelled, complaint); "
        "empty when all are normal."
    )
    user_errors: list[UserError]

    @classmethod
    def of(cls, done: Outcome[CardConditionsRecorded]) -> "ReportCardConditionsPayload":
        return cls(
            iccid=done.get(lambda r: r.iccid),
            failed=done.get(lambda r: list(r.failed)),
            user_errors=done.errors,
        )


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

    @strawberry.mutation(
        description="Records the carrier's conditions of a card (停机 / 欠费 / 销户 / 投诉). A failed "
        "condition voids the card's commissions not yet released, with the reason; released "
        "ones are clawed back only where the rule says `clawBackAfterRelease`."
    )
    async def report_card_conditions(
        self, info: strawberry.Info, input: ReportCardConditionsInput
    ) -> ReportCardConditionsPayload:
        def command() -> ReportCardConditions:
            flags = (input.stopped, input.arrears, input.cancelled, input.complaint)
            reason = conditions_reason(input.iccid, flags, input.source, input.reason or "")
            return ReportCardConditions(
                iccid=input.iccid,
                stopped=input.stopped,
                arrears=input.arrears,
                cancelled=input.cancelled,
                complaint=input.complaint,
                source=input.source,
                audit=audit_of(info, input.occurred_at, reason),
                key=input.idempotency_key,
            )

        return await mutate(info, command, ReportCardConditionsPayload.of)
