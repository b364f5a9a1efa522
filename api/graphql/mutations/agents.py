"""Agents, packages and the price menu."""

import strawberry

from api.graphql.mutations.base import Outcome, audit_of, fen, mutate
from api.graphql.scalars import Money
from api.graphql.types import PackageKind, UserError
from application.results import (
    AgentRegistered,
    CostPriceSet,
    PackageDefined,
    RetailPriceSet,
    UplineBound,
)
from application.use_cases.agents import (
    BindUpline,
    DefinePackage,
    RegisterAgent,
    SetCostPrice,
    SetRetailPrice,
)


@strawberry.input
class RegisterAgentInput:
    code: str
    name: str
    parent_code: str | None = None
    real_name_verified: bool = False
    entity_type: str | None = strawberry.field(
        default=None, description="INDIVIDUAL (the default: 劳务报酬 withheld) or COMPANY."
    )
    idempotency_key: str | None = None


@strawberry.type
class RegisterAgentPayload:
    agent_code: str | None
    user_errors: list[UserError]

    @classmethod
    def of(cls, done: Outcome[AgentRegistered]) -> "RegisterAgentPayload":
        return cls(agent_code=done.get(lambda r: r.agent_code), user_errors=done.errors)


@strawberry.input
class BindUplineInput:
    agent_code: str
    parent_code: str
    reason: str | None = None
    idempotency_key: str | None = None


@strawberry.type
class BindUplinePayload:
    agent_code: str | None
    parent_code: str | None
    user_errors: list[UserError]

    @classmethod
    def of(cls, done: Outcome[UplineBound]) -> "BindUplinePayload":
        return cls(
            agent_code=done.get(lambda r: r.agent_code),
            parent_code=done.get(lambda r: r.parent_code),
            user_errors=done.errors,
        )


@strawberry.input
class DefinePackageInput:
    code: str
    name: str
    kind: PackageKind
    purchase_price: Money
    period_months: int = 1
    idempotency_key: str | None = None


@strawberry.type
class DefinePackagePayload:
    package_code: str | None
    user_errors: list[UserError]

    @classmethod
    def of(cls, done: Outcome[PackageDefined]) -> "DefinePackagePayload":
        return cls(package_code=done.get(lambda r: r.package_code), user_errors=done.errors)


@strawberry.input
class SetCostPriceInput:
    agent_code: str
    package_code: str
    cost_price: Money
    idempotency_key: str | None = None


@strawberry.type
class SetCostPricePayload:
    agent_code: str | None
    package_code: str | None
    cost_price: Money | None
    user_errors: list[UserError]

    @classmethod
    def of(cls, done: Outcome[CostPriceSet]) -> "SetCostPricePayload":
        return cls(
            agent_code=done.get(lambda r: r.agent_code),
            package_code=done.get(lambda r: r.package_code),
            cost_price=done.get(lambda r: r.cost_price_fen),
            user_errors=done.errors,
        )


@strawberry.input
class SetRetailPriceInput:
    agent_code: str
    package_code: str
    retail_price: Money
    idempotency_key: str | None = None


@strawberry.type
class SetRetailPricePayload:
    agent_code: str | None
    package_code: str | None
    retail_price: Money | None
    user_errors: list[UserError]

    @classmethod
    def of(cls, done: Outcome[RetailPriceSet]) -> "SetRetailPricePayload":
        return cls(
            agent_code=done.get(lambda r: r.agent_code),
            package_code=done.get(lambda r: r.package_code),
            retail_price=done.get(lambda r: r.retail_price_fen),
            user_errors=done.errors,
        )


@strawberry.type
class AgentMutations:
    @strawberry.mutation
    async def register_agent(
        self, info: strawberry.Info, input: RegisterAgentInput
    ) -> RegisterAgentPayload:
        return await mutate(
            info,
            lambda: RegisterAgent(
                code=input.code,
                name=input.name,
                parent_code=input.parent_code,
                real_name_verified=input.real_name_verified,
                audit=audit_of(info, None),
                key=input.idempotency_key,
                entity_type=input.entity_type,
            ),
            RegisterAgentPayload.of,
        )

    @strawberry.mutation
    async def bind_upline(self, info: strawberry.Info, input: BindUplineInput) -> BindUplinePayload:
        return await mutate(
            info,
            lambda: BindUpline(
                code=input.agent_code,
                parent_code=input.parent_code,
                audit=audit_of(info, None, input.reason),
                key=input.idempotency_key,
            ),
            BindUplinePayload.of,
        )

    @strawberry.mutation
    async def define_package(
        self, info: strawberry.Info, input: DefinePackageInput
    ) -> DefinePackagePayload:
        return await mutate(
            info,
            lambda: DefinePackage(
                code=input.code,
                name=input.name,
                kind=input.kind.value,
                purchase_price_fen=fen(input.purchase_price, "purchasePrice"),
                period_months=input.period_months,
                audit=audit_of(info, None),
                key=input.idempotency_key,
            ),
            DefinePackagePayload.of,
        )

    @strawberry.mutation
    async def set_cost_price(
        self, info: strawberry.Info, input: SetCostPriceInput
    ) -> SetCostPricePayload:
        return await mutate(
            info,
            lambda: SetCostPrice(
                agent_code=input.agent_code,
                package_code=input.package_code,
                cost_price_fen=fen(input.cost_price, "costPrice"),
                audit=audit_of(info, None),
                key=input.idempotency_key,
            ),
            SetCostPricePayload.of,
        )

    @strawberry.mutation
    async def set_retail_price(
        self, info: strawberry.Info, input: SetRetailPriceInput
    ) -> SetRetailPricePayload:
        return await mutate(
            info,
            lambda: SetRetailPrice(
                agent_code=input.agent_code,
                package_code=input.package_code,
                retail_price_fen=fen(input.retail_price, "retailPrice"),
                audit=audit_of(info, None),
                key=input.idempotency_key,
            ),
            SetRetailPricePayload.of,
        )
