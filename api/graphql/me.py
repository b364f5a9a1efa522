"""`me`: who the service takes the caller to be (subject, roles, agent)."""

from enum import Enum

import strawberry

from domain.identity import Role


@strawberry.enum
class RoleName(Enum):
    ADMIN = Role.ADMIN.value
    OPERATOR = Role.OPERATOR.value
    FINANCE = Role.FINANCE.value
    AGENT = Role.AGENT.value
    AUDITOR = Role.AUDITOR.value


@strawberry.type
class Me:
    subject: str = strawberry.field(description="Recorded as the actor of what you change.")
    roles: list[RoleName]
    agent_code: str | None = strawberry.field(description="The agent you act as, if any.")
    authenticated: bool = strawberry.field(
        description="False only when the service runs with FENRUN_AUTH=off."
    )


@strawberry.type
class MeQueries:
    @strawberry.field(description="The authenticated caller.")
    async def me(self, info: strawberry.Info) -> Me:
        principal = info.context.principal
        return Me(
            subject=principal.subject,
            roles=[RoleName(r.value) for r in sorted(principal.roles)],
            agent_code=principal.agent_code,
            authenticated=not principal.unchecked,
        )
