"""Plan simulation: what a candidate plan would have paid (its correction: mutations/plans.py;
as a background job: jobs.py).

simulatePlan is a query (it writes nothing) but takes a whole candidate plan, so it answers with
userErrors like a mutation when the candidate is refused. It is deprecated: it runs as a job and
waits for it within the request's time (decision 0020).
"""

import time
from datetime import datetime
from typing import Annotated, Any

import strawberry
from graphql import GraphQLError
from starlette.concurrency import run_in_threadpool
from strawberry.scalars import JSON

from api.graphql.mutations.base import user_error
from api.graphql.scalars import DateTime, Money
from api.graphql.types import Connection, Edge, PageInfo, UserError, page_size
from api.jobs.simulations import TIMEOUT, simulation_record
from api.jobs.store import FAILED, Job
from application.simulation import Simulation
from domain.errors import LedgerError

From = Annotated[
    DateTime, strawberry.argument(name="from", description="Start of the period (inclusive).")
]
To = Annotated[
    DateTime | None,
    strawberry.argument(name="to", description="End of the period (exclusive); none: open."),
]
RULES = "The candidate rules document (docs/rules.md), replacing the plan's over the period."
_ANSWER_MARGIN = 0.25  # seconds left to answer before the request's deadline cuts it


@strawberry.type(description="One commission line the candidate would change.")
class CommissionDifference:
    commission_id: str
    agent_code: str
    kind: str
    plan_code: str
    rule_code: str
    source: str = strawberry.field(description="The order id or ICCID it pays for.")
    order_id: str | None
    iccid: str | None
    effective_at: DateTime
    recorded: Money = strawberry.field(description="What was recorded, net of refunds.")
    simulated: Money = strawberry.field(description="What the candidate pays, net of refunds.")
    difference: Money
    recorded_version: int | None
    simulated_version: int | None

    @classmethod
    def of(cls, r: dict[str, Any]) -> "CommissionDifference":
        """From a simulation record's line (api/jobs/simulations.py)."""
        return cls(
            commission_id=r["commissionId"],
            agent_code=r["agentCode"],
            kind=r["kind"],
            plan_code=r["planCode"],
            rule_code=r["ruleCode"],
            source=r["source"],
            order_id=r["orderId"],
            iccid=r["iccid"],
            effective_at=datetime.fromisoformat(r["effectiveAt"]),
            recorded=r["recorded"],
            simulated=r["simulated"],
            difference=r["simulated"] - r["recorded"],
            recorded_version=r["recordedVersion"],
            simulated_version=r["simulatedVersion"],
        )


@strawberry.type
class AgentDifference:
    agent_code: str
    recorded: Money
    simulated: Money
    difference: Money


def _cursor(line: dict[str, Any]) -> str:
    return line["commissionId"] + "|" + line["agentCode"]


@strawberry.type(description="A candidate plan replayed over the recorded facts of a period.")
class PlanSimulation:
    plan_code: str
    version: int = strawberry.field(description="The version a correction would define.")
    effective_from: DateTime
    effective_to: DateTime | None
    position: str = strawberry.field(description="The log position the replay stopped at.")
    sales: int = strawberry.field(description="Completed orders effective in the period.")
    facts_replayed: int
    recorded: Money = strawberry.field(description="Commissions of the period as recorded.")
    simulated: Money = strawberry.field(description="The same under the candidate.")
    difference: Money
    elapsed_ms: int
    agents: list[AgentDifference] = strawberry.field(description="Agents whose total changes.")
    commission_count: int = strawberry.field(description="How many lines would change.")
    lines: strawberry.Private[list[dict[str, Any]]]  # records: objects only for the page asked

    @strawberry.field(description="The lines that would change, in a stable order.")
    def commissions(
        self, info: strawberry.Info, first: int = 20, after: str | None = None
    ) -> Connection[CommissionDifference]:
        first = page_size(info, first)
        ids = [_cursor(line) for line in self.lines]
        start = ids.index(after) + 1 if after in ids else 0
        if after is not None and after not in ids:
            raise ValueError(f"cursor '{after}' is not in this simulation")
        page = self.lines[start : start + first]
        edges = [Edge(cursor=_cursor(line), node=CommissionDifference.of(line)) for line in page]
        return Connection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=start + first < len(self.lines),
                has_previous_page=start > 0,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
        )

    @classmethod
    def of(cls, s: Simulation) -> "PlanSimulation":
        return cls.from_record(simulation_record(s))

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> "PlanSimulation":
        """From what a simulation job stored (the same whether it ran in a job or here)."""
        end = r["effectiveTo"]
        return cls(
            plan_code=r["planCode"],
            version=r["version"],
            effective_from=datetime.fromisoformat(r["effectiveFrom"]),
            effective_to=datetime.fromisoformat(end) if end else None,
            position=str(r["position"]),
            sales=r["sales"],
            facts_replayed=r["factsReplayed"],
            recorded=r["recorded"],
            simulated=r["simulated"],
            difference=r["simulated"] - r["recorded"],
            elapsed_ms=r["elapsedMs"],
            agents=[
                AgentDifference(
                    agent_code=a["agentCode"],
                    recorded=a["recorded"],
                    simulated=a["simulated"],
                    difference=a["simulated"] - a["recorded"],
                )
                for a in r["agents"]
            ],
            commission_count=len(r["commissions"]),
            lines=r["commissions"],
        )


@strawberry.type
class SimulatePlanResult:
    simulation: PlanSimulation | None
    user_errors: list[UserError]


def job_errors(job: Job) -> list[UserError]:
    """A failed job's error as userErrors (its refusal, TIMEOUT, JOB_FAILED)."""
    if job.error is None:
        return []
    field = job.error.get("field")
    return [
        UserError(
            code=job.error["code"],
            field=["input", field] if field else None,
            message=job.error["message"],
        )
    ]


async def wait_for_simulation(info: strawberry.Info, job: Job, until: float) -> SimulatePlanResult:
    """The job's outcome, waited for until `until` (monotonic); past it, a TIMEOUT error that
    names the job, so the caller can poll planSimulationJob for its result."""
    app = info.context.app
    done = await app.simulations.wait(job.id, until - time.monotonic())
    if done is None or not done.finished:
        raise GraphQLError(
            f"the simulation is still running after the request's time; poll"
            f' planSimulationJob(id: "{job.id}") for its result',
            extensions={"code": TIMEOUT, "jobId": str(job.id)},
        )
    if done.status == FAILED:
        return SimulatePlanResult(simulation=None, user_errors=job_errors(done))
    record = await run_in_threadpool(app.jobs.result, job.id)
    return SimulatePlanResult(simulation=PlanSimulation.from_record(record), user_errors=[])


@strawberry.type
class PlanQueries:
    @strawberry.field(
        description="Replays the recorded facts of [from, to) through a candidate version of a "
        "plan without writing anything; per-agent and per-commission differences. Runs as a "
        "job (startPlanSimulation) and waits for it within the request's time; past it, a "
        "TIMEOUT error names the job to poll.",
        deprecation_reason="use startPlanSimulation",
    )
    async def simulate_plan(
        self,
        info: strawberry.Info,
        code: str,
        rules: Annotated[JSON, strawberry.argument(description=RULES)],
        start: From,
        end: To = None,
    ) -> SimulatePlanResult:
        app = info.context.app
        until = time.monotonic() + app.settings.request_timeout_seconds - _ANSWER_MARGIN
        try:
            job = await run_in_threadpool(
                app.simulations.start, code, rules, start, end, info.context.actor, None
            )
        except LedgerError as exc:
            return SimulatePlanResult(simulation=None, user_errors=[user_error(exc)])
        return await wait_for_simulation(info, job, until)
