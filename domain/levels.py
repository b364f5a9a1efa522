"""The agent level ladder (代理等级): configurable levels with a rank and upgrade conditions."""

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
from domain.money import parse_money

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
        if v is not None:
            parse_money(v, field="levels")
        return v


class LevelDefinition(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    code: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^\S(.*\S)?$")]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    rank: Annotated[StrictInt, Field(ge=1, le=1000)]
    conditions: LevelConditions = Field(default_factory=LevelConditions)


_LEVELS = TypeAdapter(list[LevelDefinition])


def parse_levels(document: object) -> list[LevelDefinition]:
    if not isinstance(document, list) or not document or len(document) > 50:
        raise InvalidInput("levels", "levels must be a list of 1 to 50 level definitions")
    try:
        levels = _LEVELS.validate_python(document)
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
