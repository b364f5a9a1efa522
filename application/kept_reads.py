"""Agents and packages kept between commands for reading, checked by version (decision 0037).

Placing an order reads the order's id (it must be new), the package, the seller and its uplines:
about six aggregate loads of two queries each. They rarely change, so the ledger keeps the last
copy it read of each. Before use, one query of the latest versions of every id a command needs
(the kept copies predict the seller's uplines) says which copies are still current and which ids
exist; only what changed is read again, in one query. A kept copy is never changed in place: a
newer one replaces it whole, so a command reading in another thread sees one version or the
other. They are for reading only: a command that changes an agent or a package loads its own
copy (Ledger.agent, Ledger.package). Agents and packages are not snapshotted, so their events
are their whole state.
"""

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from uuid import UUID

from domain.agent import MAX_TREE_DEPTH, Agent, lineage
from domain.common import aggregate_id
from domain.errors import AgentNotFound

if TYPE_CHECKING:
    from application.ledger import Ledger

MAX_KEPT = 20_000  # aggregates; past it the memory starts afresh


class KeptReads:
    def __init__(self, ledger: "Ledger", max_kept: int = MAX_KEPT) -> None:
        self.ledger = ledger
        self.max_kept = max_kept
        self._kept: dict[UUID, Any] = {}
        self._unchecked = threading.local()

    @contextmanager
    def unchecked(self, unchecked: bool = True) -> Iterator[dict[UUID, int] | None]:
        """Reads in this block (this thread's) take kept copies as they are, without the query
        of their versions; the versions they were taken at are yielded, for the save to check
        in its own statement (Ledger.commit_under). A decision on them that is refused is taken
        again with its reads checked. `unchecked` False: reads as outside the block (None)."""
        expected: dict[UUID, int] | None = {} if unchecked else None
        self._unchecked.expected = expected
        try:
            yield expected
        finally:
            self._unchecked.expected = None

    def read(
        self, ids: Iterable[UUID], lineage_of: str | None = None, *, new: UUID | None = None
    ) -> "Found":
        """The latest of these aggregates, and of the agent `lineage_of` and the uplines its
        kept copy names, checked in one query. `new`: an aggregate the command means to make
        (found only if it exists already)."""
        expected = getattr(self._unchecked, "expected", None)
        if expected is not None:
            return Unchecked(self, expected, new)
        wanted = list(ids) if new is None else [*ids, new]
        if lineage_of is not None:
            wanted.extend(self._predicted_lineage(lineage_of))
        return Found(self, set(wanted), self.latest(wanted))

    def latest(self, ids: list[UUID]) -> dict[UUID, Any]:
        """The current version of each id that exists (absent: no such aggregate)."""
        versions = self.ledger.recorder.select_max_versions(ids)  # type: ignore[attr-defined]
        stale = [i for i, v in versions.items() if getattr(self._kept.get(i), "version", 0) != v]
        if stale:
            if len(self._kept) + len(stale) > self.max_kept:
                self._kept = {}
            histories = self.ledger.recorder.select_histories(stale)  # type: ignore[attr-defined]
            for originator_id, history in histories.items():
                aggregate = None
                for stored in history:
                    aggregate = self.ledger.mapper.to_domain_event(stored).mutate(aggregate)
                self._kept[originator_id] = aggregate
        return {i: self._kept[i] for i in versions if i in self._kept}

    def forget(self, ids: Iterable[UUID]) -> None:
        """Copies a save found moved: read again when next needed."""
        kept = dict(self._kept)
        for originator_id in ids:
            kept.pop(originator_id, None)
        self._kept = kept

    def _predicted_lineage(self, agent_code: str) -> list[UUID]:
        ids, code = [], agent_code
        while code is not None and len(ids) <= MAX_TREE_DEPTH:
            ids.append(aggregate_id("agent", code))
            kept = self._kept.get(ids[-1])
            code = kept.parent_code if kept is not None else None
        return ids


class Found:
    """What one check found; an id it did not ask about is read on demand."""

    def __init__(self, reads: KeptReads, asked: set[UUID], found: dict[UUID, Any]) -> None:
        self._reads, self._asked, self._found = reads, asked, found

    def get(self, originator_id: UUID) -> Any | None:
        if originator_id not in self._asked:
            self._found.update(self._reads.latest([originator_id]))
            self._asked.add(originator_id)
        return self._found.get(originator_id)

    def exists(self, kind: str, code: str) -> bool:
        return self.get(aggregate_id(kind, code)) is not None

    def ancestry(self, agent_code: str) -> list[Agent]:
        """As Ledger.ancestry: the agent and its uplines, from the agent up, with its refusals."""
        agent = self._agent(agent_code, "agentCode")
        return lineage(agent, lambda code: self._agent(code, "parentCode"))

    def _agent(self, code: str, field: str) -> Agent:
        found = self.get(aggregate_id("agent", code))
        if not isinstance(found, Agent):
            raise AgentNotFound(code, field)
        return found


class Unchecked(Found):
    """Reads in an unchecked block: a kept copy as it is (its version noted for the save to
    check), anything not kept read on demand, and the aggregate to make taken as absent
    (version 0, checked by the save too). A decision refused on them is taken again, checked:
    its refusals then come in the order they always did."""

    def __init__(self, reads: KeptReads, expected: dict[UUID, int], new: UUID | None) -> None:
        super().__init__(reads, set(), {})
        self._expected, self._new = expected, new

    def get(self, originator_id: UUID) -> Any | None:
        if originator_id == self._new:
            self._expected[originator_id] = 0  # none: the save checks it is still none
            return None
        kept = self._reads._kept.get(originator_id)
        if kept is None:
            return super().get(originator_id)
        self._expected[originator_id] = kept.version
        return kept
