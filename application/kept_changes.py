"""Aggregates a command saved, kept for the next command that changes them (decision 0042).

An order is placed and then completed, usually within seconds and by the same process: loading
it again costs a query for the events this process just wrote. The ledger keeps what its
commands saved (orders) and hands a kept copy to the next command that asks for it *to change
it*. That command's save is the check: it writes the aggregate's next version, which the log
refuses (its key is taken) if anyone wrote the aggregate since the copy was kept, and the
command is then decided again on what the store holds, as any conflict is. A reader that does
not change what it reads never gets a kept copy (it would have nothing to conflict with).

A copy is taken out, not shared: the command works on it alone, and it comes back only with
that command's save (at its new version). A refused command or a failed save leaves nothing
kept, so the next one loads from the store.
"""

import threading
from collections.abc import Iterable
from typing import Any
from uuid import UUID

MAX_KEPT = 20_000  # aggregates; past it the memory starts afresh


class KeptChanges:
    def __init__(self, kinds: tuple[type, ...], max_kept: int = MAX_KEPT) -> None:
        self.kinds = kinds
        self.max_kept = max_kept
        self._kept: dict[UUID, Any] = {}
        self._lock = threading.Lock()

    def take(self, aggregate_id: UUID) -> Any | None:
        """The kept copy of this aggregate, no longer kept (None: none)."""
        with self._lock:
            return self._kept.pop(aggregate_id, None)

    def keep(self, aggregates: Iterable[Any]) -> None:
        """After their save: the saved aggregates of the kinds kept, at their new versions."""
        kept = [a for a in aggregates if isinstance(a, self.kinds)]
        if not kept:
            return
        with self._lock:
            if len(self._kept) + len(kept) > self.max_kept:
                self._kept = {}
            for aggregate in kept:
                self._kept[aggregate.id] = aggregate

    def forget(self, aggregate_ids: Iterable[UUID]) -> None:
        with self._lock:
            for aggregate_id in aggregate_ids:
                self._kept.pop(aggregate_id, None)
