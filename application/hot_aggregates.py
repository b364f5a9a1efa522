"""Aggregates a log follower keeps between its batches, checked by version against the log.

The commission policy touches the same wallets and monthly volumes batch after batch. Reloading
them costs a snapshot and up to an interval of events each time, so it keeps them (decision
0037). It is not their only writer: finance, withdrawals and refunds write wallet events too. The
follower reads every event of the log in order, so each batch's notifications say exactly what
was written to a kept aggregate up to the batch's last position: the next event in its sequence
is applied to it (no query), anything else (a gap) drops it, to be loaded afresh when needed. A
write after that position meets the batch's save as a version conflict; the follower then
forgets everything kept and decides the batch again from the store.
"""

from collections.abc import Callable, Iterable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification

MAX_KEPT = 20_000  # aggregates; past it the memory starts afresh (a busy set refills quickly)


class HotAggregates:
    def __init__(self, max_kept: int = MAX_KEPT) -> None:
        self.max_kept = max_kept
        self.kept: dict[UUID, Any] = {}

    def advance(
        self,
        notifications: Sequence[Notification],
        decode: Callable[[Sequence[Notification]], list[Any]],
    ) -> int:
        """Brings the kept aggregates up to the last of these notifications; returns how many
        events written by others were applied."""
        later = [
            n
            for n in notifications
            if (kept := self.kept.get(n.originator_id)) is not None
            and n.originator_version > kept.version
        ]
        if not later:  # the usual case: only the follower's own writes, already in memory
            return 0
        for notification, event in zip(later, decode(later), strict=True):
            kept = self.kept.get(notification.originator_id)
            if kept is None:
                continue
            if notification.originator_version != kept.version + 1:
                del self.kept[notification.originator_id]  # a gap: load it again when needed
                continue
            event.mutate(kept)
        return len(later)

    def keep(self, aggregates: Iterable[Any]) -> None:
        """Aggregates as saved (their pending events collected): the next batches use them."""
        aggregates = list(aggregates)
        if len(self.kept) + len(aggregates) > self.max_kept:
            self.kept.clear()
        self.kept.update((a.id, a) for a in aggregates)

    def clear(self) -> None:
        self.kept.clear()
