"""Agents, their tree, the packages they sell and their price menu."""

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from application.commands import Command, Decision
from application.results import (
    AgentRegistered,
    CostPriceSet,
    PackageDefined,
    RetailPriceSet,
    UplineBound,
)
from domain.agent import Agent
from domain.common import Audit
from domain.errors import AlreadyExists, CycleInAgentTree
from domain.package import Package
from domain.payee import Payee
from domain.values import Code, Fen, Key, Months, Name
from domain.wallet import Wallet

if TYPE_CHECKING:
    from application.ledger import Ledger


@dataclass(frozen=True)
class RegisterAgent(Command[AgentRegistered]):
    code: Code
    name: Name
    parent_code: Code | None
    real_name_verified: bool
    audit: Audit
    key: Key | None = None
    entity_type: Code | None = field(default=None, kw_only=True)  # None: INDIVIDUAL

    added_fields: ClassVar[frozenset[str]] = frozenset({"entity_type"})

    def decide(self, ledger: "Ledger") -> Decision[AgentRegistered]:
        if ledger.exists("agent", self.code):
            raise AlreadyExists("code", f"agent '{self.code}' already exists")
        if self.parent_code is not None:
            if self.parent_code == self.code:
                raise CycleInAgentTree("parentCode", "an agent cannot be its own upline")
            ledger.agent(self.parent_code, "parentCode")
        agent = Agent.register(
            self.code, self.name, self.parent_code, self.real_name_verified, self.audit
        )
        registered: list[Any] = [agent, Wallet.open(self.code)]
        if self.entity_type is not None:  # as a payee (domain/payee.py), from registration on
            payee = Payee.start(self.code)
            payee.set_entity_type(self.entity_type, self.audit)
            registered.append(payee)
        return registered, AgentRegistered(self.code)


@dataclass(frozen=True)
class BindUpline(Command[UplineBound]):
    code: Code
    parent_code: Code
    audit: Audit
    key: Key | None = None

    input_names: ClassVar[dict[str, str]] = {"code": "agentCode"}

    def decide(self, ledger: "Ledger") -> Decision[UplineBound]:
        agent = ledger.agent(self.code)
        parent = ledger.agent(self.parent_code, "parentCode")
        if self.code in {a.code for a in ledger.ancestry(parent)}:
            raise CycleInAgentTree(
                "parentCode",
                f"binding '{self.code}' under '{self.parent_code}' would make a cycle",
            )
        agent.bind_upline(self.parent_code, self.audit)
        return [agent], UplineBound(self.code, self.parent_code)


@dataclass(frozen=True)
class DefinePackage(Command[PackageDefined]):
    code: Code
    name: Name
    kind: Code
    purchase_price_fen: Fen
    period_months: Months
    audit: Audit
    key: Key | None = None

    def decide(self, ledger: "Ledger") -> Decision[PackageDefined]:
        if ledger.exists("package", self.code):
            raise AlreadyExists("code", f"package '{self.code}' already exists")
        package = Package.define(
            self.code,
            self.name,
            self.kind,
            self.purchase_price_fen,
            self.period_months,
            self.audit,
        )
        return [package], PackageDefined(self.code)


@dataclass(frozen=True)
class SetCostPrice(Command[CostPriceSet]):
    """The price the agent's upline sells a package to it at (within the upline's band)."""

    agent_code: Code
    package_code: Code
    cost_price_fen: Fen
    audit: Audit
    key: Key | None = None

    def decide(self, ledger: "Ledger") -> Decision[CostPriceSet]:
        agent = ledger.agent(self.agent_code)
        ledger.package(self.package_code)
        upline_cost = None
        if agent.parent_code is not None:
            upline_cost = ledger.agent(agent.parent_code).cost_price(self.package_code)
        agent.set_cost_price(
            self.package_code, self.cost_price_fen, upline_cost, ledger.price_factor, self.audit
        )
        return [agent], CostPriceSet(self.agent_code, self.package_code, self.cost_price_fen)


@dataclass(frozen=True)
class SetRetailPrice(Command[RetailPriceSet]):
    agent_code: Code
    package_code: Code
    retail_price_fen: Fen
    audit: Audit
    key: Key | None = None

    def decide(self, ledger: "Ledger") -> Decision[RetailPriceSet]:
        agent = ledger.agent(self.agent_code)
        ledger.package(self.package_code)
        agent.set_retail_price(
            self.package_code, self.retail_price_fen, ledger.price_factor, self.audit
        )
        return [agent], RetailPriceSet(self.agent_code, self.package_code, self.retail_price_fen)
