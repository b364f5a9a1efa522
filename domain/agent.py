"""An agent (代理商): its place in the tree and its price menu (阴阳菜单)."""

from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import Audit, aggregate_id, require_code
from domain.errors import CycleInAgentTree, InvalidInput, PriceRefused, UplineAlreadyBound
from domain.money import format_money, require_fen
from domain.pricing import PriceLimit
from domain.values import NAME, refuse_before

MAX_TREE_DEPTH = 1000  # a guard against a corrupted tree; real trees are far shallower


def lineage(agent: "Agent", upline: Callable[[str], "Agent"]) -> list["Agent"]:
    """The agent and its uplines, from the agent up to the platform's direct agent, each
    upline loaded by `upline(code)`; a tree deeper than any real one is refused as a cycle."""
    chain = [agent]
    while chain[-1].parent_code is not None:
        if len(chain) > MAX_TREE_DEPTH:
            raise CycleInAgentTree("parentCode", "the agent tree is too deep or has a cycle")
        chain.append(upline(chain[-1].parent_code))
    return chain


class Agent(Aggregate):
    class Registered(Aggregate.Created):
        code: str
        name: str
        parent_code: str | None
        real_name_verified: bool
        actor: str
        effective_at: datetime
        reason: str

    class UplineBound(Aggregate.Event):
        parent_code: str
        actor: str
        effective_at: datetime
        reason: str

    class CostPriceSet(Aggregate.Event):
        package_code: str
        cost_price_fen: int
        actor: str
        effective_at: datetime
        reason: str

    class RetailPriceSet(Aggregate.Event):
        package_code: str
        retail_price_fen: int
        actor: str
        effective_at: datetime
        reason: str

    class LevelChanged(Aggregate.Event):
        """The agent's level (grade) changed: set by an admin (or an automatic upgrade)."""

        agent_code: str
        level_code: str
        previous_code: str | None
        actor: str
        effective_at: datetime
        reason: str

    @staticmethod
    def create_id(code: str, **_: Any) -> UUID:
        return aggregate_id("agent", code)

    @classmethod
    def register(
        cls, code: str, name: str, parent_code: str | None, real_name_verified: bool, audit: Audit
    ) -> "Agent":
        require_code(code, "code")
        NAME.check(name, "name")
        if not name.strip():
            raise InvalidInput("name", "name must be 1-200 characters")
        if parent_code is not None:
            require_code(parent_code, "parentCode")
        return cls._create(
            cls.Registered,
            code=code,
            name=name,
            parent_code=parent_code,
            real_name_verified=bool(real_name_verified),
            **audit.fields(),
        )

    @event(Registered)
    def __init__(
        self,
        code: str,
        name: str,
        parent_code: str | None,
        real_name_verified: bool,
        actor: str,
        effective_at: datetime,
        reason: str,
    ) -> None:
        self.code = code
        self.name = name
        self.parent_code = parent_code
        self.real_name_verified = real_name_verified
        self.registered_at = effective_at
        self.linked_at = effective_at  # when it took its place in the tree (see bind_upline)
        self.cost_prices: dict[str, int] = {}
        self.retail_prices: dict[str, int] = {}
        self.level_code: str | None = None

    # -- upline ---------------------------------------------------------------------------------
    def bind_upline(self, parent_code: str, audit: Audit) -> None:
        """Once bound the upline is immutable; the caller has already checked for cycles."""
        if self.parent_code is not None:
            raise UplineAlreadyBound("parentCode", f"agent '{self.code}' already has an upline")
        require_code(parent_code, "parentCode")
        self._bind_upline(parent_code=parent_code, **audit.fields())

    @event(UplineBound)
    def _bind_upline(
        self, parent_code: str, actor: str, effective_at: datetime, reason: str
    ) -> None:
        self.parent_code = parent_code
        self.linked_at = effective_at

    def require_registered_at(self, at: datetime, field: str = "occurredAt") -> None:
        refuse_before(at, self.registered_at, field, f"agent {self.code} was registered")

    def require_in_tree_at(self, at: datetime, field: str = "occurredAt") -> None:
        """A sale this agent makes or is paid on is not dated before the agent was registered,
        nor before it was bound to the upline the sale pays (decision 0018)."""
        refuse_before(at, self.linked_at, field, f"agent {self.code} took its place in the tree")

    # -- level (grade) ----------------------------------------------------------------------------
    def set_level(self, level_code: str, audit: Audit) -> bool:
        """Sets the agent's level; the caller checked that the ladder has it. False if unchanged."""
        if level_code == self.level_code:
            return False
        self._set_level(
            agent_code=self.code,
            level_code=level_code,
            previous_code=self.level_code,
            **audit.fields(),
        )
        return True

    @event(LevelChanged)
    def _set_level(
        self,
        agent_code: str,
        level_code: str,
        previous_code: str | None,
        actor: str,
        effective_at: datetime,
        reason: str,
    ) -> None:
        self.level_code = level_code

    # -- price menu -------------------------------------------------------------------------------
    def set_cost_price(
        self,
        package_code: str,
        cost_price_fen: int,
        upline_cost_fen: int | None,
        factor: int,
        audit: Audit,
    ) -> None:
        """The upline sells to this agent at cost_price: >= the upline's own cost, <= factor x it."""
        require_fen(cost_price_fen, "costPrice", allow_zero=False)
        limit = PriceLimit(factor)
        if upline_cost_fen is not None:
            limit.check(
                cost_price_fen,
                upline_cost_fen,
                "costPrice",
                below=f"cost price {format_money(cost_price_fen)} is below the upline's own cost "
                f"{format_money(upline_cost_fen)}",
            )
        retail = self.retail_prices.get(package_code)
        if retail is not None:
            limit.check(
                retail,
                cost_price_fen,
                "costPrice",
                below=f"the agent's retail price {format_money(retail)} would be below the new "
                f"cost price {format_money(cost_price_fen)}",
                above=f"the agent's retail price {format_money(retail)} would exceed {factor} x "
                f"the new cost price {format_money(cost_price_fen)}",
            )
        self._set_cost_price(
            package_code=package_code, cost_price_fen=cost_price_fen, **audit.fields()
        )

    @event(CostPriceSet)
    def _set_cost_price(
        self,
        package_code: str,
        cost_price_fen: int,
        actor: str,
        effective_at: datetime,
        reason: str,
    ) -> None:
        self.cost_prices[package_code] = cost_price_fen

    def set_retail_price(
        self, package_code: str, retail_price_fen: int, factor: int, audit: Audit
    ) -> None:
        require_fen(retail_price_fen, "retailPrice", allow_zero=False)
        cost = self.cost_price(package_code)
        PriceLimit(factor).check(
            retail_price_fen,
            cost,
            "retailPrice",
            below=f"retail price {format_money(retail_price_fen)} is below the cost price "
            f"{format_money(cost)}",
        )
        self._set_retail_price(
            package_code=package_code, retail_price_fen=retail_price_fen, **audit.fields()
        )

    @event(RetailPriceSet)
    def _set_retail_price(
        self,
        package_code: str,
        retail_price_fen: int,
        actor: str,
        effective_at: datetime,
        reason: str,
    ) -> None:
        self.retail_prices[package_code] = retail_price_fen

    def cost_price(self, package_code: str) -> int:
        try:
            return self.cost_prices[package_code]
        except KeyError:
            raise PriceRefused(
                "packageCode", f"agent '{self.code}' has no cost price for package '{package_code}'"
            ) from None

    def retail_price(self, package_code: str) -> int:
        try:
            return self.retail_prices[package_code]
        except KeyError:
            raise PriceRefused(
                "packageCode",
                f"agent '{self.code}' has no retail price for package '{package_code}'",
            ) from None
