"""Plan simulations as background jobs: start one, then poll it for its progress and result.

A simulation replays the whole log: it runs in a job process (api/jobs/), never in a request's
thread. startPlanSimulation checks the candidate at once (refusals are userErrors), queues the
job at the log position the commission policy reached, and answers with the job; the job
keeps its result for `job_retention_seconds`.
"""

import uuid
from enum import Enum

import strawberry
from starlette.concurrency import run_in_threadpool
from strawberry.scalars import JSON

from api.graphql.mutations.base import user_error
from api.graphql.plans import RULES, PlanSimulation, job_errors
from api.graphql.scalars import DateTime
from api.graphql.types import UserError
from api.jobs.store import SUCCEEDED, Job, job_id
from domain.errors import LedgerError


@strawberry.enum
class JobStatus(Enum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


@strawberry.type(description="A plan simulation running in the background: poll it by id.")
class PlanSimulationJob:
    id: str
    status: JobStatus
    progress: float = strawberry.field(description="How much of the log is replayed, 0 to 1.")
    position: str = strawberry.field(description="The log position it replays up to.")
    queued_at: DateTime
    started_at: DateTime | None
    finished_at: DateTime | None
    user_errors: list[UserError] = strawberry.field(
        description="Why it failed: the candidate's refusal, TIMEOUT, or JOB_FAILED."
    )
    key: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The result, once SUCCEEDED; the shape simulatePlan had.")
    async def simulation(self, info: strawberry.Info) -> PlanSimulation | None:
        if self.status is not JobStatus.SUCCEEDED:
            return None
        record = await run_in_threadpool(info.context.app.jobs.result, self.key)
        return PlanSimulation.from_record(record) if record else None

    @classmethod
    def of(cls, job: Job) -> "PlanSimulationJob":
        return cls(
            id=str(job.id),
            status=JobStatus(job.status),
            progress=1.0 if job.status == SUCCEEDED else job.progress,
            position=str(job.position),
            queued_at=job.queued_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            user_errors=job_errors(job),
            key=job.id,
        )


@strawberry.input
class StartPlanSimulationInput:
    code: str
    rules: JSON = strawberry.field(description=RULES)
    start: DateTime = strawberry.field(name="from")
    end: DateTime | None = strawberry.field(name="to", default=None)
    idempotency_key: str | None = strawberry.field(
        default=None, description="The same key (and input) from the same actor: the same job."
    )


@strawberry.type
class StartPlanSimulationPayload:
    job: PlanSimulationJob | None
    user_errors: list[UserError]


@strawberry.type
class JobQueries:
    @strawberry.field(description="A simulation job by its id (none when unknown or expired).")
    async def plan_simulation_job(self, info: strawberry.Info, id: str) -> PlanSimulationJob | None:
        key = job_id(id)
        if key is None:
            return None
        job = await run_in_threadpool(info.context.app.jobs.get, key)
        return PlanSimulationJob.of(job) if job else None


@strawberry.type
class JobMutations:
    @strawberry.mutation(
        description="Starts a simulation of a candidate plan over [from, to) in the background "
        "(what simulatePlan answered, without holding the request): poll planSimulationJob."
    )
    async def start_plan_simulation(
        self, info: strawberry.Info, input: StartPlanSimulationInput
    ) -> StartPlanSimulationPayload:
        try:
            job = await run_in_threadpool(
                info.context.app.simulations.start,
                input.code,
                input.rules,
                input.start,
                input.end,
                info.context.actor,
                input.idempotency_key,
            )
        except LedgerError as exc:
            return StartPlanSimulationPayload(job=None, user_errors=[user_error(exc)])
        return StartPlanSimulationPayload(job=PlanSimulationJob.of(job), user_errors=[])
