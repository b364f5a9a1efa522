"""Per-request context: the app, the authenticated caller, and the log position the whole
request reads at.

Every read pins its position here and nowhere else: queries by (asOf, position), the same pin
for every field asking the same; a mutation's payload at the newest position, just after its
own catch-up. A query's pin also names the server that answers it (the replica where it has
caught up: projections/replica.py); `read(at)` is that server's copy of the views.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from strawberry.fastapi import BaseContext

from api.auth.principal import Principal
from api.bootstrap import Fenrun
from projections.queries import Pinned, ReadModel


@dataclass
class Context(BaseContext):
    app: Fenrun
    principal: Principal
    pins: dict[tuple[Any, Any], Pinned] = field(default_factory=dict)
    _subtree: frozenset[str] | None = None

    def __post_init__(self) -> None:
        super().__init__()

    @property
    def actor(self) -> str:
        return self.principal.actor

    async def subtree(self) -> frozenset[str]:
        """The caller's agent and its downline as the tree is now (agents' confinement)."""
        if self._subtree is None:
            code = self.principal.agent_code
            found = await run_in_threadpool(self.app.read.subtree, code) if code else frozenset()
            self._subtree = found
        return self._subtree

    async def parent_now(self, code: str) -> str | None:
        return await run_in_threadpool(self.app.read.parent_now, code)

    async def pin(self, as_of: datetime | None, position: str | None) -> Pinned:
        """One position per (asOf, position) asked for; the first is reported in extensions."""
        key = (as_of, position)
        if key not in self.pins:
            wanted = _parse_position(position)
            self.pins[key] = await run_in_threadpool(self.app.reads.pin, as_of, wanted)
        return self.pins[key]

    def read(self, at: int) -> ReadModel:
        """The views that answer reads at `at`: those of the server this request's pin at `at`
        chose; the primary's for any other position (a mutation's payload reads its writes)."""
        for pinned in self.pins.values():
            if pinned.position == at:
                return self.app.reads.model(pinned.server)
        return self.app.read

    def latest(self) -> Pinned:
        """The newest position the views have processed: what a mutation's payload reads at
        after the mutation caught them up. Not cached: each mutation reads its own writes.
        It blocks: call it from a worker thread."""
        return self.app.read.pin()


def _parse_position(position: str | None) -> int | None:
    if position is None:
        return None
    if not position.isdigit():
        raise ValueError(f"position '{position}' is not a log position")
    return int(position)
