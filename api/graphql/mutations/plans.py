"""Commission plans: defining a version, and correcting a past period."""

import strawberry
from strawberry.scalars import JSON

from api.graphql.mutations.base import Outcome, audit_of, mutate
from api.graphql.plans import RULES, PlanSimulation
from api.graphql.scalars import DateTime
from api.graphql.types import UserError
from application.results import PlanVersionRecorded
from application.use_cases.plans import CorrectCommissionPlan, DefineCommissionPlan
from application.workflows import Correction, Submitted, Workflows


@strawberry.input
class DefineCommissionPlanInput:
    code: str
    effective_from: DateTime
    rules: JSON = strawberry.field(description="The rules document: see docs/rules.md.")
    reason: str | None = None
    idempotency_key: str | None = None


@strawberry.type
class DefineCommissionPlanPayload:
    plan_code: str | None
    version: int | None
    user_errors: list[UserError]

    @classmethod
    def of(cls, done: Outcome[PlanVersionRecorded]) -> "DefineCommissionPlanPayload":
        return cls(
            plan_code=done.get(lambda r: r.plan_code),
            version=done.get(lambda r: r.version),
            user_errors=done.errors,
        )


@strawberry.input
class ApplyPlanCorrectionInput:
    code: str
    rules: JSON = strawberry.field(description=RULES)
    start: DateTime = strawberry.field(name="from")
    end: DateTime | None = strawberry.field(name="to", default=None)
    reason: str = strawberry.field(description="Why: recorded on every adjustment.")
    expected_version: int | None = strawberry.field(
        default=None,
        description="The version simulatePlan showed: refused if the plan changed since.",
    )
    idempotency_key: str | None = None


@strawberry.type
class ApplyPlanCorrectionPayload:
    plan_code: str | None
    version: int | None = strawberry.field(description="The correcting version recorded.")
    preview: PlanSimulation | None = strawberry.field(
        description="simulatePlan as it stood just before the correction was recorded (none "
        "when the idempotency key was used before). The commission policy applies the "
        "differences as of the correction's own log position, facts recorded meanwhile included."
    )
    user_errors: list[UserError]

    @classmethod
    def of(cls, done: Outcome[Correction]) -> "ApplyPlanCorrectionPayload":
        preview = done.get(lambda c: c.preview)
        return cls(
            plan_code=done.get(lambda c: c.recorded.plan_code),
            version=done.get(lambda c: c.recorded.version),
            preview=PlanSimulation.of(preview) if preview else None,
            user_errors=done.errors,
        )


def _with_preview(workflows: Workflows, command: CorrectCommissionPlan) -> Submitted[Correction]:
    return workflows.correct(command, preview=True, wait=workflows.request_wait)


@strawberry.type
class PlanMutations:
    @strawberry.mutation
    async def define_commission_plan(
        self, info: strawberry.Info, input: DefineCommissionPlanInput
    ) -> DefineCommissionPlanPayload:
        return await mutate(
            info,
            lambda: DefineCommissionPlan(
                code=input.code,
                effective_from=input.effective_from,
                rules=input.rules,
                audit=audit_of(info, None, input.reason),
                key=input.idempotency_key,
            ),
            DefineCommissionPlanPayload.of,
        )


@strawberry.type
class PlanCorrectionMutations:
    @strawberry.mutation(
        description="Records a correcting version of a plan over [from, to) and adjusts every "
        "commission of the period already recorded: voids or claws back what was paid too "
        "much, accrues adjustment lines for what was paid too little. History is not edited."
    )
    async def apply_plan_correction(
        self, info: strawberry.Info, input: ApplyPlanCorrectionInput
    ) -> ApplyPlanCorrectionPayload:
        return await mutate(
            info,
            lambda: CorrectCommissionPlan(
                code=input.code,
                rules=input.rules,
                start=input.start,
                end=input.end,
                audit=audit_of(info, None, input.reason),
                key=input.idempotency_key,
                expected_version=input.expected_version,
            ),
            ApplyPlanCorrectionPayload.of,
            run=_with_preview,
        )
