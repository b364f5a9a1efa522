"""Who may call which field: the one policy table, and the field extension that enforces it.

Every Query and Mutation field has an entry (the schema is not built otherwise, and a test
walks it): the roles that may call it, and for agents how the call is confined to their own
subtree (the tree as it is now, whatever asOf the query reads at). A staff role (admin,
operator, finance, auditor) that may call a field calls it unconfined; an agent may call a field
only through its `agent` scope. Resolvers hold no role checks. Refusals are GraphQL errors with
`extensions.code = "FORBIDDEN"`, raised before the resolver runs (a refused mutation changes
nothing) or, for a result that turns out to be another agent's, instead of the result.
The reasons for each entry are in docs/decisions/0021-identity-and-authorization.md.
"""

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import FieldExtension
from strawberry.types.field import StrawberryField

from api.auth.principal import Principal
from domain.identity import Role

FORBIDDEN = "FORBIDDEN"
ADMIN, OPERATOR, FINANCE, AGENT, AUDITOR = (
    Role.ADMIN,
    Role.OPERATOR,
    Role.FINANCE,
    Role.AGENT,
    Role.AUDITOR,
)
STAFF = frozenset({ADMIN, OPERATOR, FINANCE, AUDITOR})  # read everything, at any asOf


def forbidden(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": FORBIDDEN})


class Confinement:
    """How an agent's call of a field stays inside its subtree."""

    async def before(self, ctx: "Scoping", kwargs: dict[str, Any]) -> None:
        """Checks the arguments before the resolver runs."""

    def after(self, ctx: "Scoping", result: Any) -> Any:
        """Checks (or filters) the result."""
        return result


def _argument(kwargs: dict[str, Any], name: str) -> Any:
    """An argument by its Python name, at the top or inside the mutation's `input`."""
    if name in kwargs:
        return kwargs[name]
    return getattr(kwargs.get("input"), name, None)


@dataclass(frozen=True)
class Downline(Confinement):
    """The agent named by `argument` is the agent itself or one of its downline. Optional
    arguments must be given by agents: a list across all agents is not theirs to read."""

    argument: str

    async def before(self, ctx: "Scoping", kwargs: dict[str, Any]) -> None:
        code = _argument(kwargs, self.argument)
        if code is None:
            raise forbidden(f"agents must name an agent of their own downline ({self.argument})")
        if code not in await ctx.subtree():
            raise forbidden(f"agent '{code}' is not in the downline of {ctx.agent_code}")


@dataclass(frozen=True)
class AnyAgent(Confinement):
    """About no agent in particular (the withdrawal limits every agent withdraws under)."""


@dataclass(frozen=True)
class Itself(Confinement):
    """Only about the agent itself (its own retail price, its own orders and withdrawals)."""

    argument: str

    async def before(self, ctx: "Scoping", kwargs: dict[str, Any]) -> None:
        code = _argument(kwargs, self.argument)
        if code != ctx.agent_code:
            raise forbidden(f"agents act for themselves only ({self.argument}: {ctx.agent_code})")


@dataclass(frozen=True)
class DirectSubAgent(Confinement):
    """About one of the agent's direct sub-agents: the upline sets its sub-agents' cost."""

    argument: str

    async def before(self, ctx: "Scoping", kwargs: dict[str, Any]) -> None:
        code = _argument(kwargs, self.argument)
        if code is None or await ctx.parent_of(code) != ctx.agent_code:
            raise forbidden(f"agent '{code}' is not a direct sub-agent of {ctx.agent_code}")


@dataclass(frozen=True)
class OwnedResult(Confinement):
    """The result (found by id) must belong to the subtree; otherwise it is refused."""

    attribute: str = "agent_code"

    async def before(self, ctx: "Scoping", kwargs: dict[str, Any]) -> None:
        await ctx.subtree()  # known before the result is checked (after() cannot await)

    def after(self, ctx: "Scoping", result: Any) -> Any:
        if result is not None and getattr(result, self.attribute) not in ctx.known_subtree:
            raise forbidden("this belongs to an agent outside your downline")
        return result


@dataclass(frozen=True)
class OwnEntries(Confinement):
    """Entries of a list (or a connection's edges) outside the subtree are left out."""

    attribute: str

    async def before(self, ctx: "Scoping", kwargs: dict[str, Any]) -> None:
        await ctx.subtree()

    def after(self, ctx: "Scoping", result: Any) -> Any:
        inside = ctx.known_subtree
        if isinstance(result, list):
            return [e for e in result if getattr(e, self.attribute) in inside]
        result.edges = [e for e in result.edges if getattr(e.node, self.attribute) in inside]
        return result


@dataclass(frozen=True)
class ReplayOwn(Confinement):
    """Agents replay agents and wallets of their downline; other aggregates are not theirs."""

    async def before(self, ctx: "Scoping", kwargs: dict[str, Any]) -> None:
        kind = getattr(kwargs.get("aggregate"), "value", None)
        if kind not in ("agent", "wallet"):
            raise forbidden("agents replay agents and wallets of their own downline only")
        await Downline("code").before(ctx, kwargs)


@dataclass(frozen=True)
class Rule:
    roles: frozenset[Role]
    agent: Confinement | None = None  # how an agent may call it (None: agents may not)
    anyone: bool = False  # every authenticated caller, whatever its roles (`me`)


def staff(*roles: Role, agent: Confinement | None = None) -> Rule:
    return Rule(frozenset(roles), agent)


READ = staff(*STAFF)

# (type, field) -> who may call it. Every Query and Mutation field has an entry.
POLICY: dict[tuple[str, str], Rule] = {
    # -- queries: staff read everything; agents their own downline ------------------------------
    ("Query", "me"): Rule(frozenset(), anyone=True),
    ("Query", "agent"): staff(*STAFF, agent=Downline("code")),
    ("Query", "wallet"): staff(*STAFF, agent=Downline("agent_code")),
    ("Query", "commissions"): staff(*STAFF, agent=Downline("agent_code")),
    ("Query", "commission"): staff(*STAFF, agent=OwnedResult()),
    ("Query", "unfreezeRequests"): staff(*STAFF, agent=Downline("agent_code")),
    ("Query", "platformTotals"): READ,
    ("Query", "commissionPlans"): READ,
    ("Query", "replay"): staff(*STAFF, agent=ReplayOwn()),
    ("Query", "teamPerformance"): staff(*STAFF, agent=Downline("agent_code")),
    ("Query", "activationReport"): staff(*STAFF, agent=Downline("agent_code")),
    ("Query", "platformMonth"): READ,
    ("Query", "ranking"): staff(*STAFF, agent=OwnEntries("agent_code")),
    ("Query", "simulatePlan"): READ,
    ("Query", "planSimulationJob"): READ,
    ("Query", "auditHead"): READ,
    ("Query", "withdrawals"): staff(*STAFF, agent=Downline("agent_code")),
    ("Query", "withdrawal"): staff(*STAFF, agent=Downline("agent_code")),
    ("Query", "withdrawalLimits"): staff(*STAFF, agent=AnyAgent()),
    ("Query", "payee"): staff(*STAFF, agent=Downline("agent_code")),
    # Deliveries to other systems: the people who run the platform, not agents nor auditors.
    ("Query", "outboxCommands"): staff(ADMIN, OPERATOR),
    ("Query", "payouts"): staff(*STAFF, agent=Downline("agent_code")),
    ("Query", "payout"): staff(*STAFF, agent=OwnedResult()),
    ("Query", "walletMovements"): staff(*STAFF, agent=Downline("agent_code")),
    ("Query", "statements"): staff(*STAFF, agent=Downline("agent_code")),
    ("Query", "statement"): staff(*STAFF, agent=OwnedResult()),
    # Carrier files: finance and admin run them, auditors read them (decision 0028).
    ("Query", "settlementImports"): staff(ADMIN, FINANCE, AUDITOR),
    # Reconciliation (0032): finance and admin run it, auditors read it; finance settles items.
    ("Query", "reconciliations"): staff(ADMIN, FINANCE, AUDITOR),
    ("Query", "reconciliation"): staff(ADMIN, FINANCE, AUDITOR),
    ("Query", "card"): staff(*STAFF, agent=OwnedResult()),
    ("Query", "cards"): staff(*STAFF, agent=Downline("agent_code")),
    ("Query", "enterprise"): READ,
    # -- nested fields that can reach outside the subtree they were reached from ----------------
    ("Agent", "children"): staff(*STAFF, agent=OwnEntries("code")),
    # -- mutations: auditors change nothing ------------------------------------------------------
    ("Mutation", "registerAgent"): staff(ADMIN),
    ("Mutation", "bindUpline"): staff(ADMIN),
    ("Mutation", "definePackage"): staff(ADMIN),
    ("Mutation", "setCostPrice"): staff(ADMIN, agent=DirectSubAgent("agent_code")),
    ("Mutation", "setRetailPrice"): staff(ADMIN, agent=Itself("agent_code")),
    ("Mutation", "defineCommissionPlan"): staff(ADMIN),
    ("Mutation", "placeOrder"): staff(OPERATOR, agent=Itself("agent_code")),
    ("Mutation", "completeOrder"): staff(OPERATOR),
    ("Mutation", "refundOrder"): staff(OPERATOR),
    ("Mutation", "topUpDeposit"): staff(FINANCE),
    ("Mutation", "requestWithdrawal"): staff(FINANCE, agent=Itself("agent_code")),
    ("Mutation", "settleWithdrawal"): staff(FINANCE),
    ("Mutation", "approveWithdrawals"): staff(FINANCE),
    ("Mutation", "rejectWithdrawals"): staff(FINANCE),
    ("Mutation", "setWithdrawalLimits"): staff(ADMIN),
    ("Mutation", "moveCommissionToDeposit"): staff(FINANCE, agent=Itself("agent_code")),
    ("Mutation", "requestAccountFreeze"): staff(OPERATOR),
    ("Mutation", "decideAccountFreeze"): staff(ADMIN),
    ("Mutation", "setPayeeEntityType"): staff(ADMIN, OPERATOR),
    ("Mutation", "changeRealNameVerification"): staff(OPERATOR),
    ("Mutation", "setPayeePersonalData"): staff(OPERATOR, agent=Itself("agent_code")),
    ("Mutation", "addPayoutAccount"): staff(OPERATOR, agent=Itself("agent_code")),
    ("Mutation", "removePayoutAccount"): staff(OPERATOR, agent=Itself("agent_code")),
    ("Mutation", "assignCard"): staff(OPERATOR),
    ("Mutation", "activateCard"): staff(OPERATOR),
    ("Mutation", "recordRecharge"): staff(OPERATOR),
    ("Mutation", "reportCardConditions"): staff(ADMIN, OPERATOR),
    ("Mutation", "releaseDueCommissions"): staff(ADMIN, FINANCE),
    ("Mutation", "approveUnfreezeRequests"): staff(FINANCE),
    ("Mutation", "rejectUnfreezeRequests"): staff(FINANCE),
    ("Mutation", "defineAgentLevels"): staff(ADMIN),
    ("Mutation", "setAgentLevel"): staff(ADMIN),
    ("Mutation", "recordCarrierSettlement"): staff(OPERATOR),
    ("Mutation", "applyPlanCorrection"): staff(ADMIN),
    # A simulation job writes nothing to the ledger, but auditors call no mutation at all: they
    # simulate through the (deprecated) simulatePlan query.
    ("Mutation", "startPlanSimulation"): staff(ADMIN, OPERATOR, FINANCE),
    # Money out: finance decides about payouts (decision 0026).
    ("Mutation", "resubmitPayout"): staff(FINANCE),
    ("Mutation", "cancelPayout"): staff(FINANCE),
    ("Mutation", "payApprovedWithdrawals"): staff(FINANCE),
    # Statements: finance reviews; adjustments: one proposes, someone else approves (0027).
    ("Mutation", "generateStatements"): staff(ADMIN, FINANCE),
    ("Mutation", "approveStatement"): staff(FINANCE),
    ("Mutation", "rejectStatement"): staff(FINANCE),
    ("Mutation", "voidStatement"): staff(FINANCE),
    ("Mutation", "runReconciliation"): staff(ADMIN, FINANCE),
    ("Mutation", "resolveReconciliationItem"): staff(FINANCE),
    ("Mutation", "proposeReconciliationWriteOff"): staff(FINANCE),
    ("Mutation", "approveReconciliationWriteOff"): staff(FINANCE),
    ("Mutation", "proposeCommissionAdjustment"): staff(OPERATOR, FINANCE),
    ("Mutation", "approveCommissionAdjustment"): staff(FINANCE),
    ("Mutation", "rejectCommissionAdjustment"): staff(FINANCE),
    # Card management (decision 0030): carriers report as operators (their API keys' role).
    ("Mutation", "recordCarrierCardState"): staff(OPERATOR),
    ("Mutation", "recordCardConditions"): staff(OPERATOR),
    ("Mutation", "recordUsageReports"): staff(OPERATOR),
    ("Mutation", "setPackageQuota"): staff(ADMIN),
    ("Mutation", "createEnterprise"): staff(ADMIN, OPERATOR),
    ("Mutation", "assignEnterpriseCards"): staff(ADMIN, OPERATOR),
    ("Mutation", "topUpEnterprisePool"): staff(ADMIN, OPERATOR, FINANCE),
    ("Mutation", "cancelOrder"): staff(OPERATOR),
}


def grant(rule: Rule, principal: Principal) -> str | None:
    """'full', 'agent' (confined to its subtree) or None (refused)."""
    if principal.unchecked or rule.anyone or principal.roles & rule.roles:
        return "full"
    if rule.agent is not None and Role.AGENT in principal.roles and principal.agent_code:
        return "agent"
    return None


class Scoping:
    """What confinement asks of the read side, once per request (the tree as it is now)."""

    def __init__(self, context: Any) -> None:
        self.context = context
        self.agent_code: str = context.principal.agent_code
        self.known_subtree: frozenset[str] = frozenset()

    async def subtree(self) -> frozenset[str]:
        self.known_subtree = await self.context.subtree()
        return self.known_subtree

    async def parent_of(self, code: str) -> str | None:
        return await self.context.parent_now(code)  # type: ignore[no-any-return]


class Authorize(FieldExtension):
    """The policy table's entry for one field, checked on every call of it."""

    def __init__(self, key: tuple[str, str], rule: Rule) -> None:
        self.key = key
        self.rule = rule

    async def resolve_async(
        self,
        next_: Callable[..., Awaitable[Any]],
        source: Any,
        info: strawberry.Info,
        **kwargs: Any,
    ) -> Any:
        principal: Principal = info.context.principal
        how = grant(self.rule, principal)
        if how is None:
            roles = ", ".join(sorted(principal.roles)) or "no role"
            raise forbidden(f"{principal.subject} ({roles}) may not call {self.key[1]}")
        if how == "full":
            return await next_(source, info, **kwargs)
        assert self.rule.agent is not None
        scoping = Scoping(info.context)
        await self.rule.agent.before(scoping, kwargs)
        return self.rule.agent.after(scoping, await next_(source, info, **kwargs))


def fields_of(type_: type) -> Iterable[StrawberryField]:
    return type_.__strawberry_definition__.fields  # type: ignore[attr-defined, no-any-return]


def enforce(*types: type) -> None:
    """Attaches the policy to every field of these types that it names, and refuses to build a
    schema whose Query or Mutation has a field without an entry."""
    for type_ in types:
        name = type_.__strawberry_definition__.name  # type: ignore[attr-defined]
        for field in fields_of(type_):
            key = (name, field.graphql_name or to_camel(field.python_name))
            if key not in POLICY:
                if name in ("Query", "Mutation"):
                    raise LookupError(f"{name}.{key[1]} has no entry in the policy table")
                continue
            if not any(isinstance(e, Authorize) for e in field.extensions):
                field.extensions.append(Authorize(key, POLICY[key]))


def to_camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
