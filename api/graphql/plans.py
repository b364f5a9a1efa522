"""Plan simulation: what a candidate plan would have paid (its correction: mutations/plans.py).

simulatePlan is a query (it writes nothing) but takes a whole candidate plan, so it answers with
userErrors like a mutation when the candidate is refused.
"""

from typing import Annotated

import strawberry
from starlette.concurrency import run_in_threadpool
from strawberry.scalars import JSON

from api.graphql.mutations.base import user_error
from api.graphql.scalars import DateTime, Money
from api.graphql.types import Connection, Edge, PageInfo, UserError, page_size
from application.simulation import CommissionDifference as Difference
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
    def of(cls, d: Difference) -> "CommissionDifference":
        return cls(
            commission_id=d.commission_id,
            agent_code=d.agent_code,
            kind=str(d.line.kind),
            plan_code=d.line.plan_code,
            rule_code=d.line.rule_code,
            source=d.line.source,
            order_id=d.line.order_id,
            iccid=d.line.iccid,
            effective_at=d.effective_at,
            recorded=d.recorded_fen,
            simulated=d.simulated_fen,
            difference=d.difference_fen,
            recorded_version=d.recorded_version,
            simulated_version=d.simulated_version,
        )


@strawberry.type
class AgentDifference:
    agent_code: str
    recorded: Money
    simulated: Money
    difference: Money


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
    differences: strawberry.Private[list[Difference]]

    @strawberry.field(description="The lines that would change, in a stable order.")
    def commissions(
        self, info: strawberry.Info, first: int = 20, after: str | None = None
    ) -> Connection[CommissionDifference]:
        first = page_size(info, first)
        ids = [d.commission_id + "|" + d.agent_code for d in self.differences]
        start = ids.index(after) + 1 if after in ids else 0
        if after is not None and after not in ids:
            raise ValueError(f"cursor '{after}' is not in this simulation")
        page = self.differences[start : start + first]
        edges = [
            Edge(cursor=d.commission_id + "|" + d.agent_code, node=CommissionDifference.of(d))
            for d in page
        ]
        return Connection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=start + first < len(self.differences),
                has_previous_page=start > 0,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
        )

    @classmethod
    def of(cls, s: Simulation) -> "PlanSimulation":
        return cls(
            plan_code=s.candidate.code,
            version=s.candidate.version,
            effective_from=s.candidate.effective_from,
            effective_to=s.candidate.effective_to,
            position=str(s.position),
            sales=s.sales,
            facts_replayed=s.facts,
            recorded=s.recorded_fen,
            simulated=s.simulated_fen,
            difference=s.simulated_fen - s.recorded_fen,
            elapsed_ms=round(s.seconds * 1000),
            agents=[
                AgentDifference(
                    agent_code=a.agent_code,
                    recorded=a.recorded_fen,
                    simulated=a.simulated_fen,
                    difference=a.difference_fen,
                )
                for a in s.agents
            ],
            commission_count=len(s.commissions),
            differences=s.commissions,
        )


@strawberry.type
class SimulatePlanResult:
    simulation: PlanSimulation | None
    user_errors: list[UserError]


@strawberry.type
class PlanQueries:
    @strawberry.field(
        description="Replays the recorded facts of [from, to) through a candidate version of a "
        "plan without writing anything; per-agent and per-commission differences."
    )
    async def simulate_plan(
        self,
        info: strawberry.Info,
        code: str,
        rules: Annotated[JSON, strawberry.argument(description=RULES)],
        start: From,
        end: To = None,
    ) -> SimulatePlanResult:
        workflows = info.context.app.workflows

        def work() -> SimulatePlanResult:
            try:
                found = workflows.simulate(code, rules, start, end)
            except LedgerError as exc:
                return SimulatePlanResult(simulation=None, user_errors=[user_error(exc)])
            return SimulatePlanResult(simulation=PlanSimulation.of(found), user_errors=[])

        return await run_in_threadpool(work)
