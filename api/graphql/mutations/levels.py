"""Agent levels (grades): the ladder and an agent's level."""

from typing import Any

import strawberry

from api.graphql.mutations.base import Outcome, audit_of, mutate
from api.graphql.scalars import Money
from api.graphql.types import UserError
from application.results import AgentLevelSet, LevelsDefined
from application.use_cases.levels import DefineAgentLevels, SetAgentLevel


@strawberry.input
class AgentLevelConditionsInput:
    own_sales: Money | None = strawberry.field(default=None, description="Own sales amount.")
    team_sales: Money | None = strawberry.field(default=None, description="Team sales amount.")
    direct_agents: int | None = strawberry.field(
        default=None, description="Number of direct sub-agents."
    )


@strawberry.input
class AgentLevelInput:
    code: str
    name: str
    rank: int = strawberry.field(description="Higher rank = higher level; unique on the ladder.")
    conditions: AgentLevelConditionsInput | None = None


@strawberry.input
class DefineAgentLevelsInput:
    levels: list[AgentLevelInput]
    reason: str | None = None
    idempotency_key: str | None = None


@strawberry.type
class DefineAgentLevelsPayload:
    level_codes: list[str] | None = strawberry.field(description="The ladder, lowest rank first.")
    user_errors: list[UserError]

    @classmethod
    def of(cls, done: Outcome[LevelsDefined]) -> "DefineAgentLevelsPayload":
        return cls(level_codes=done.get(lambda r: list(r.level_codes)), user_errors=done.errors)


@strawberry.input
class SetAgentLevelInput:
    agent_code: str
    level_code: str
    reason: str | None = None
    idempotency_key: str | None = None


@strawberry.type
class SetAgentLevelPayload:
    agent_code: str | None
    level_code: str | None
    user_errors: list[UserError]

    @classmethod
    def of(cls, done: Outcome[AgentLevelSet]) -> "SetAgentLevelPayload":
        return cls(
            agent_code=done.get(lambda r: r.agent_code),
            level_code=done.get(lambda r: r.level_code),
            user_errors=done.errors,
        )


def level_document(levels: list[AgentLevelInput]) -> list[dict[str, Any]]:
    """The ladder document the domain reads (docs/rules.md), in its own camelCase keys."""
    document = []
    for level in levels:
        item: dict[str, Any] = {"code": level.code, "name": level.name, "rank": level.rank}
        if level.conditions is not None:
            c = level.conditions
            conditions = {
                "ownSales": c.own_sales,
                "teamSales": c.team_sales,
                "directAgents": c.direct_agents,
            }
            item["conditions"] = {k: v for k, v in conditions.items() if v is not None}
        document.append(item)
    return document


@strawberry.type
class LevelMutations:
    @strawberry.mutation(description="Defines the agent level ladder (name, rank, conditions).")
    async def define_agent_levels(
        self, info: strawberry.Info, input: DefineAgentLevelsInput
    ) -> DefineAgentLevelsPayload:
        return await mutate(
            info,
            lambda: DefineAgentLevels(
                levels=level_document(input.levels),
                audit=audit_of(info, None, input.reason),
                key=input.idempotency_key,
            ),
            DefineAgentLevelsPayload.of,
        )

    @strawberry.mutation(description="Sets an agent's level (admin); counts for later sales.")
    async def set_agent_level(
        self, info: strawberry.Info, input: SetAgentLevelInput
    ) -> SetAgentLevelPayload:
        return await mutate(
            info,
            lambda: SetAgentLevel(
                agent_code=input.agent_code,
                level_code=input.level_code,
                audit=audit_of(info, None, input.reason),
                key=input.idempotency_key,
            ),
            SetAgentLevelPayload.of,
        )
