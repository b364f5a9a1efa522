"""The agent level ladder (代理等级): configurable levels with a rank and upgrade conditions."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from domain.common import Audit, aggregate_id
from domain.errors import InvalidInput
from domain.money import format_money, parse_money
from domain.values import DOCUMENT, CodeText, NameText

LADDER_CODE = "default"  # one ladder per ledger


class LevelConditions(BaseModel):
    """Upgrade conditions (all must hold): own sales, team sales (money), direct sub-agents."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    own_sales: StrictStr | None = Field(default=None, alias="ownSales")
    team_sales: StrictStr | None = Field(default=None, alias="teamSales")
    direct_agents: Annotated[StrictInt, Field(ge=0, le=1_000_000)] | None = Field(
        default=None, alias="directAgents"
    )

    @field_validator("own_sales", "team_sales")
    @classmethod
    def _money(cls, v: str | None) -> str | None:
        if v is not None:  # a threshold, compared with sales: any amount the ledger can sum
            parse_money(v, field="levels", limit=None)
        return v


class LevelDefinition(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    code: CodeText
    name: NameText
    rank: Annotated[StrictInt, Field(ge=1, le=1000)]
    conditions: LevelConditions = Field(default_factory=LevelConditions)


_LEVELS = TypeAdapter(list[LevelDefinition])


def parse_levels(document: object, *, stored: bool = False) -> list[LevelDefinition]:
    """stored: read back from the ladder's event, as it was accepted."""
    if not isinstance(document, list) or not document or len(document) > 50:
        raise InvalidInput("levels", "levels must be a list of 1 to 50 level definitions")
    if not stored:
        DOCUMENT.check(document, "levels")
    try:
        levels = _LEVELS.validate_python(document, context={"stored": stored})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidInput("levels", f"levels[{where}]: {first['msg']}") from None
    if len({lv.code for lv in levels}) != len(levels):
        raise InvalidInput("levels", "level codes must be unique")
    if len({lv.rank for lv in levels}) != len(levels):
        raise InvalidInput("levels", "level ranks must be unique")
    return sorted(levels, key=lambda lv: lv.rank)


class LevelLadder(Aggregate):
    class Created(Aggregate.Created):
        code: str

    class Defined(Aggregate.Event):
        levels: list[dict[str, Any]]
        actor: str
        effective_at: datetime
        reason: str

    @staticmethod
    def create_id(code: str = LADDER_CODE, **_: Any) -> UUID:
        return aggregate_id("level-ladder", code)

    @classmethod
    def start(cls, code: str = LADDER_CODE) -> "LevelLadder":
        return cls._create(cls.Created, code=code)

    @event(Created)
    def __init__(self, code: str) -> None:
        self.code = code
        self.levels: list[dict[str, Any]] = []

    def define(self, document: object, audit: Audit) -> list[LevelDefinition]:
        """Replaces the ladder with a new definition (the old one stays in the history)."""
        levels = parse_levels(document)
        self._define(
            levels=[lv.model_dump(by_alias=True, mode="json", exclude_none=True) for lv in levels],
            **audit.fields(),
        )
        return levels

    @event(Defined)
    def _define(
        self, levels: list[dict[str, Any]], actor: str, effective_at: datetime, reason: str
    ) -> None:
        self.levels = levels

    def level(self, code: str) -> dict[str, Any] | None:
        return next((lv for lv in self.levels if lv["code"] == code), None)


# -- automatic upgrades ------------------------------------------------------------------------


@dataclass(frozen=True)
class LevelProgress:
    """What an agent has achieved since it joined, net of refunds.

    own_sales_fen: paid amounts of the orders it sold itself; team_sales_fen: paid amounts of the
    orders its whole downline sold (its own sales not included, as in team performance);
    direct_agents: agents whose upline is this agent.
    """

    own_sales_fen: int = 0
    team_sales_fen: int = 0
    direct_agents: int = 0


@dataclass(frozen=True)
class LevelRequirements:
    """A level of the ladder with its conditions in fen, ready to be checked many times."""

    code: str
    rank: int
    own_sales_fen: int | None = None
    team_sales_fen: int | None = None
    direct_agents: int | None = None

    @classmethod
    def of(cls, level: LevelDefinition) -> "LevelRequirements":
        conditions = level.conditions
        return cls(
            code=level.code,
            rank=level.rank,
            own_sales_fen=_fen_or_none(conditions.own_sales),
            team_sales_fen=_fen_or_none(conditions.team_sales),
            direct_agents=conditions.direct_agents,
        )

    @property
    def automatic(self) -> bool:
        """A level without any condition is only ever assigned by an admin."""
        return any(
            c is not None for c in (self.own_sales_fen, self.team_sales_fen, self.direct_agents)
        )

    def met_by(self, progress: LevelProgress) -> list[str] | None:
        """Each condition with its figures if all hold, else None."""
        met = []
        for name, achieved, required, money in (
            ("own sales", progress.own_sales_fen, self.own_sales_fen, True),
            ("team sales", progress.team_sales_fen, self.team_sales_fen, True),
            ("direct agents", progress.direct_agents, self.direct_agents, False),
        ):
            if required is None:
                continue
            if achieved < required:
                return None
            shown = (_grouped(achieved), _grouped(required)) if money else (achieved, required)
            met.append(f"{name} {shown[0]} ≥ {shown[1]}")
        return met


@dataclass(frozen=True)
class LevelUpgrade:
    level_code: str
    reason: str


def ladder_requirements(levels: Iterable[LevelDefinition]) -> tuple[LevelRequirements, ...]:
    return tuple(sorted((LevelRequirements.of(lv) for lv in levels), key=lambda r: r.rank))


def has_automatic_levels(ladder: Iterable[LevelRequirements]) -> bool:
    return any(level.automatic for level in ladder)


def automatic_upgrade(
    ladder: Sequence[LevelRequirements], current_code: str | None, progress: LevelProgress
) -> LevelUpgrade | None:
    """The highest level above the agent's current one whose conditions all hold, if any.

    Upgrades only: a level at or below the current rank is never chosen, whatever the figures
    say. An agent whose current level is not on the ladder (a redefinition dropped it) is left
    to an admin, since nothing says whether a ladder level would be up or down for it.
    """
    if current_code is None:
        current_rank = 0
    else:
        current = next((lv for lv in ladder if lv.code == current_code), None)
        if current is None:
            return None
        current_rank = current.rank
    for level in sorted(ladder, key=lambda lv: lv.rank, reverse=True):
        if level.rank <= current_rank:
            return None
        if not level.automatic:
            continue
        met = level.met_by(progress)
        if met is not None:
            return LevelUpgrade(level.code, f"automatic upgrade to {level.code}: {'; '.join(met)}")
    return None


def _fen_or_none(text: str | None) -> int | None:
    return None if text is None else parse_money(text, field="levels", limit=None)


def _grouped(fen: int) -> str:
    """12000_00 -> '12,000.00': thresholds are read by people in a reason text."""
    whole, cents = format_money(fen).split(".")
    sign = "-" if whole.startswith("-") else ""
    return f"{sign}{int(whole.lstrip('-')):,}.{cents}"
