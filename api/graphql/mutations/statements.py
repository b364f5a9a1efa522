"""Statements (generate, then finance approves, rejects or voids) and manual commission
adjustments (佣金调整: proposed with a reason, approved by someone else). Decision 0027."""

from collections.abc import Callable
from enum import Enum
from typing import Any

import strawberry

from api.graphql.mutations.base import Outcome, audit_of, fen, mutate
from api.graphql.scalars import Money
from api.graphql.statements import Statement
from api.graphql.types import UserError, Wallet
from application.results import AdjustmentRecorded, StatementDecided, StatementsGenerated
from application.use_cases.statements import (
    DecideAdjustment,
    DecideStatement,
    GenerateStatements,
    ProposeAdjustment,
)
from projections.statement_queries import StatementReads


@strawberry.input
class GenerateStatementsInput:
    cycle: str = strawberry.field(description="2026-11 (month), 2026-W47 (week) or 2026-11-30.")
    idempotency_key: str | None = None


@strawberry.type
class GenerateStatementsPayload:
    cycle: str | None
    generated: int
    unchanged: int
    through_position: str | None
    user_errors: list[UserError]

    @classmethod
    def of(cls, done: Outcome[StatementsGenerated]) -> "GenerateStatementsPayload":
        r = done.result
        if r is None:
            return cls(cycle=None, generated=0, unchanged=0, through_position=None,
                       user_errors=done.errors)  # fmt: skip
        return cls(cycle=r.cycle, generated=r.generated, unchanged=r.unchanged,
                   through_position=str(r.through), user_errors=[])  # fmt: skip


@strawberry.input
class ApproveStatementInput:
    id: str
    reason: str | None = None
    idempotency_key: str | None = None


@strawberry.input
class RejectStatementInput:
    id: str
    reason: str
    idempotency_key: str | None = None


@strawberry.input
class VoidStatementInput:
    id: str
    reason: str
    idempotency_key: str | None = None


@strawberry.type
class StatementPayload:
    statement: Statement | None
    user_errors: list[UserError]

    @classmethod
    def of(cls, done: Outcome[StatementDecided]) -> "StatementPayload":
        if done.result is None or done.at is None:
            return cls(statement=None, user_errors=done.errors)
        row = StatementReads(done.read).statement(done.result.statement_id, done.at)
        return cls(statement=Statement.of(row, done.at) if row else None, user_errors=[])


@strawberry.enum
class AdjustmentDirection(Enum):
    INCREASE = "INCREASE"
    DECREASE = "DECREASE"


@strawberry.input
class ProposeCommissionAdjustmentInput:
    agent_code: str
    adjustment_id: str
    amount: Money
    direction: AdjustmentDirection
    reason: str
    idempotency_key: str | None = None


@strawberry.input
class ApproveCommissionAdjustmentInput:
    agent_code: str
    adjustment_id: str
    note: str | None = None
    idempotency_key: str | None = None


@strawberry.input
class RejectCommissionAdjustmentInput:
    agent_code: str
    adjustment_id: str
    reason: str
    idempotency_key: str | None = None


@strawberry.type
class AdjustmentPayload:
    agent_code: str | None
    adjustment_id: str | None
    status: str | None = strawberry.field(
        description="PROPOSED, AWAITING_SECOND_APPROVAL, APPROVED or REJECTED."
    )
    wallet: Wallet | None
    user_errors: list[UserError]

    @classmethod
    def of(cls, done: Outcome[AdjustmentRecorded]) -> "AdjustmentPayload":
        r = done.result
        if r is None:
            return cls(agent_code=None, adjustment_id=None, status=None, wallet=None,
                       user_errors=done.errors)  # fmt: skip
        wallet = None
        if done.at is not None:
            balances = done.read.wallet(r.agent_code, done.at)
            wallet = Wallet.of(r.agent_code, balances) if balances is not None else None
        return cls(agent_code=r.agent_code, adjustment_id=r.adjustment_id, status=r.status,
                   wallet=wallet, user_errors=[])  # fmt: skip


StatementInput = ApproveStatementInput | RejectStatementInput | VoidStatementInput


def _decide(decision: str, input_type: type) -> Callable[..., Any]:
    async def resolve(info: strawberry.Info, input: StatementInput) -> StatementPayload:
        return await mutate(
            info,
            lambda: DecideStatement(
                statement_id=input.id,
                decision=decision,
                audit=audit_of(info, None, input.reason),
                key=input.idempotency_key,
            ),
            StatementPayload.of,
        )

    resolve.__annotations__["input"] = input_type  # each mutation its own input type
    return resolve


@strawberry.type
class StatementMutations:
    @strawberry.mutation(
        description="Draft statements of an ended cycle for every agent with something to state."
    )
    async def generate_statements(
        self, info: strawberry.Info, input: GenerateStatementsInput
    ) -> GenerateStatementsPayload:
        return await mutate(
            info,
            lambda: GenerateStatements(
                cycle=input.cycle,
                audit=audit_of(info, None, f"statements of {input.cycle}"),
                key=input.idempotency_key,
            ),
            GenerateStatementsPayload.of,
        )

    approve_statement: StatementPayload = strawberry.mutation(
        resolver=_decide("APPROVE", ApproveStatementInput),
        description="Approves a draft: it never changes again.",
    )
    reject_statement: StatementPayload = strawberry.mutation(
        resolver=_decide("REJECT", RejectStatementInput),
        description="Rejects a draft (a reason is required).",
    )
    void_statement: StatementPayload = strawberry.mutation(
        resolver=_decide("VOID", VoidStatementInput),
        description="Voids a draft (a reason is required).",
    )

    @strawberry.mutation(description="Proposes a manual commission adjustment (佣金调整).")
    async def propose_commission_adjustment(
        self, info: strawberry.Info, input: ProposeCommissionAdjustmentInput
    ) -> AdjustmentPayload:
        return await mutate(
            info,
            lambda: ProposeAdjustment(
                agent_code=input.agent_code,
                adjustment_id=input.adjustment_id,
                amount_fen=fen(input.amount, "amount"),
                increase=input.direction == AdjustmentDirection.INCREASE,
                audit=audit_of(info, None, input.reason),
                key=input.idempotency_key,
            ),
            AdjustmentPayload.of,
        )

    @strawberry.mutation(description="Approves an adjustment: never by whoever proposed it.")
    async def approve_commission_adjustment(
        self, info: strawberry.Info, input: ApproveCommissionAdjustmentInput
    ) -> AdjustmentPayload:
        return await mutate(
            info,
            lambda: DecideAdjustment(
                agent_code=input.agent_code,
                adjustment_id=input.adjustment_id,
                approve=True,
                audit=audit_of(info, None, input.note or "approved"),
                key=input.idempotency_key,
            ),
            AdjustmentPayload.of,
        )

    @strawberry.mutation(description="Rejects an adjustment (a reason is required).")
    async def reject_commission_adjustment(
        self, info: strawberry.Info, input: RejectCommissionAdjustmentInput
    ) -> AdjustmentPayload:
        return await mutate(
            info,
            lambda: DecideAdjustment(
                agent_code=input.agent_code,
                adjustment_id=input.adjustment_id,
                approve=False,
                audit=audit_of(info, None, input.reason),
                key=input.idempotency_key,
            ),
            AdjustmentPayload.of,
        )
