"""Agent levels (grades): the ladder and an agent's place on it."""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from application.commands import Command, Decision
from application.results import AgentLevelSet, LevelsDefined
from domain.common import Audit
from domain.errors import InvalidInput
from domain.levels import LADDER_CODE, LevelLadder
from domain.values import Code, Json, Key

if TYPE_CHECKING:
    from application.ledger import Ledger


@dataclass(frozen=True)
class DefineAgentLevels(Command[LevelsDefined]):
    """Defines (or redefines) the level ladder: code, name, rank, upgrade conditions."""

    levels: Json  # the ladder document: [{code, name, rank, conditions?}]
    audit: Audit
    key: Key | None = None

    def decide(self, ledger: "Ledger") -> Decision[LevelsDefined]:
        ladder = ledger.ladder() or LevelLadder.start(LADDER_CODE)
        defined = ladder.define(self.levels, self.audit)
        return [ladder], LevelsDefined(tuple(level.code for level in defined))


@dataclass(frozen=True)
class SetAgentLevel(Command[AgentLevelSet]):
    """An admin sets an agent's level; it counts for sales processed from then on."""

    agent_code: Code
    level_code: Code
    audit: Audit
    key: Key | None = None

    def decide(self, ledger: "Ledger") -> Decision[AgentLevelSet]:
        agent = ledger.agent(self.agent_code)
        ladder = ledger.ladder()
        if ladder is None or ladder.level(self.level_code) is None:
            raise InvalidInput("levelCode", f"no agent level '{self.level_code}' on the ladder")
        changed = agent.set_level(self.level_code, self.audit)
        return ([agent] if changed else []), AgentLevelSet(self.agent_code, self.level_code)
