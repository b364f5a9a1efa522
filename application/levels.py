"""The level policy: upgrades agents automatically once they meet a level's conditions.

It follows the ledger's notification log with its own tracking row ("level-policy"), like the
commission policy: the upgrades a batch decides and the batch's last position are saved in one
transaction, so a crash loses nothing and a re-run decides nothing twice (a conflicting save is
retried from the committed position).

What an agent has achieved (own sales, team sales, direct agents) is kept in memory, folded from
the log. A new process, or one whose save conflicted, re-folds it from the log up to its tracking
position, so a restarted policy decides exactly as one that never stopped. While no level of the
ladder has conditions nothing is counted at all: the position just advances, and the first
ladder with conditions folds the history it needs at that moment.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from eventsourcing.persistence import Notification
from eventsourcing.utils import get_topic

from application.follower import LogFollower
from application.ledger import Ledger
from application.log import LedgerLog
from domain.agent import Agent
from domain.common import SYSTEM_ACTOR, Audit
from domain.levels import (
    LevelLadder,
    LevelProgress,
    LevelRequirements,
    automatic_upgrade,
    has_automatic_levels,
    ladder_requirements,
    parse_levels,
)
from domain.order import Order

ACTOR = f"{SYSTEM_ACTOR}:level-policy"
_LADDER_DEFINED = get_topic(LevelLadder.Defined)
# What moves an agent's figures or its current level; folded only while upgrades are possible.
_COUNTED_EVENTS = (
    Order.Completed,
    Order.Refunded,
    Agent.Registered,
    Agent.UplineBound,
    Agent.LevelChanged,
)
_COUNTED = frozenset(get_topic(cls) for cls in _COUNTED_EVENTS)
_FOLD_PAGE = 10_000


@dataclass(slots=True)
class _Tally:
    """One agent's running figures, net of refunds."""

    own_sales_fen: int = 0
    team_sales_fen: int = 0
    direct_agents: int = 0

    def progress(self) -> LevelProgress:
        return LevelProgress(self.own_sales_fen, self.team_sales_fen, self.direct_agents)


@dataclass
class _Upgrades:
    """The agents a batch upgrades, loaded once and saved with the batch's position."""

    ledger: Ledger
    agents: dict[str, Agent] = field(default_factory=dict)

    def agent(self, code: str) -> Agent:
        if code not in self.agents:
            self.agents[code] = self.ledger.agent(code)
        return self.agents[code]

    def changed(self) -> list[Agent]:
        return [a for a in self.agents.values() if a.pending_events]


class LevelPolicy(LogFollower):
    name = "level-policy"

    def __init__(self, ledger: Ledger, batch_size: int = 500, max_retries: int = 20) -> None:
        super().__init__(ledger, batch_size, max_retries)
        self.log = LedgerLog(ledger)
        self._ladder: tuple[LevelRequirements, ...] = ()
        self._tallies: dict[str, _Tally] | None = None  # None: no level has conditions
        self._levels: dict[str, str] = {}  # agent code -> level code, as the log says
        self._at: int | None = None  # the log position the state above reflects

    def process(self, start: int, notifications: Sequence[Notification]) -> list[Any]:
        self._restore(start)
        upgrades = _Upgrades(self.ledger)
        self._process(notifications, upgrades)
        return upgrades.changed()

    def forget(self) -> None:
        # Another worker committed this batch, or an admin changed one of these agents: the
        # in-memory figures went past the committed position, so fold them again.
        self._at = None

    def saved(self, position: int) -> None:
        self._at = position

    # -- one batch --------------------------------------------------------------------------------
    def _process(self, notifications: Sequence[Notification], upgrades: _Upgrades) -> None:
        for notification in notifications:
            if notification.topic == _LADDER_DEFINED:
                self._on_ladder_defined(self._decode(notification), notification.id, upgrades)
            elif self._tallies is not None and notification.topic in _COUNTED:
                event = self._decode(notification)
                self._upgrade(self._count(event), event.effective_at, upgrades)

    def _on_ladder_defined(
        self, event: LevelLadder.Defined, position: int, upgrades: _Upgrades
    ) -> None:
        """A (re)defined ladder may put any agent above a new threshold: check them all."""
        self._ladder = ladder_requirements(parse_levels(event.levels, stored=True))
        if not has_automatic_levels(self._ladder):
            self._tallies = None
            return
        if self._tallies is None:
            self._fold(position)
        assert self._tallies is not None
        self._upgrade(list(self._tallies), event.effective_at, upgrades)

    def _upgrade(self, codes: Iterable[str], effective_at: datetime, upgrades: _Upgrades) -> None:
        """Decides from the level the log knew at the fact (so any process decides alike), then
        checks again against the agent as it is now: an admin may have raised it since, and an
        automatic change is never a downgrade."""
        assert self._tallies is not None
        for code in codes:
            progress = self._tally(code).progress()
            if automatic_upgrade(self._ladder, self._levels.get(code), progress) is None:
                continue  # the common case, decided without loading the agent
            agent = upgrades.agent(code)
            upgrade = automatic_upgrade(self._ladder, agent.level_code, progress)
            if upgrade is None:
                continue
            agent.set_level(upgrade.level_code, Audit.derived(ACTOR, effective_at, upgrade.reason))
            self._levels[code] = upgrade.level_code

    # -- the figures ------------------------------------------------------------------------------
    def _count(self, event: Any) -> list[str]:
        """Applies one fact to the figures; returns the agents whose figures rose."""
        if isinstance(event, Agent.Registered):
            self._tally(event.code)
            if event.parent_code is None:
                return [event.code]
            self._tally(event.parent_code).direct_agents += 1
            return [event.code, event.parent_code]
        if isinstance(event, Agent.UplineBound):
            self._tally(event.parent_code).direct_agents += 1
            return [event.parent_code]
        if isinstance(event, Agent.LevelChanged):
            self._levels[event.agent_code] = event.level_code
            return []
        amount = event.paid_fen if isinstance(event, Order.Completed) else -event.amount_fen
        return self._count_sale(event, amount)

    def _count_sale(self, sale: Order.Completed | Order.Refunded, amount_fen: int) -> list[str]:
        """The seller's own sales and, along the price chain recorded on the order, the team
        sales of every upline (the seller's own sale is not part of its team, as in team
        performance). A refund comes in as a negative amount and never triggers anything."""
        seller = sale.agent_code
        uplines = sale.beneficiaries[:-1]
        self._tally(seller).own_sales_fen += amount_fen
        for upline in uplines:
            self._tally(upline).team_sales_fen += amount_fen
        return [seller, *uplines] if amount_fen > 0 else []

    def _tally(self, code: str) -> _Tally:
        assert self._tallies is not None
        tally = self._tallies.get(code)
        if tally is None:
            tally = self._tallies[code] = _Tally()
        return tally

    # -- state as of a position -------------------------------------------------------------------
    def _restore(self, position: int) -> None:
        """The ladder, figures and levels as the log stood at position (after a restart or a
        conflict); nothing to do when the memory already reflects it."""
        if self._at == position:
            return
        self._ladder, self._tallies, self._levels = (), None, {}
        for page in self.log.pages([LevelLadder.Defined], position):
            self._ladder = ladder_requirements(
                parse_levels(self._decode(page[-1]).levels, stored=True)
            )
        if has_automatic_levels(self._ladder):
            self._fold(position)
        self._at = position

    def _fold(self, up_to: int) -> None:
        """Re-counts every agent's figures and level from the log, reading only the topics that
        move them (filtered in SQL, so the rest of the log is never decoded)."""
        self._tallies, self._levels = {}, {}
        for page in self.log.pages(_COUNTED_EVENTS, up_to, size=_FOLD_PAGE):
            for event in self.log.decode(page):
                self._count(event)

    def _decode(self, notification: Notification) -> Any:
        return self.log.decode([notification])[0]
