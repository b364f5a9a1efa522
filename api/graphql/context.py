"""Per-request context: the app, the actor, and the log position the whole request reads at.

Every read pins its position here and nowhere else: queries by (asOf, position), the same pin
for every field asking the same; a mutation's payload at the newest position, just after its
own catch-up.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from strawberry.fastapi import BaseContext

from api.bootstrap import Fenrun
from projections.queries import Pinned


@dataclass
class Context(BaseContext):
    app: Fenrun
    actor: str
    pins: dict[tuple[Any, Any], Pinned] = field(default_factory=dict)
    loaders: dict[str, Any] = field(default_factory=dict)  # DataLoaders, one per request

    def __post_init__(self) -> None:
        super().__init__()

    async def pin(self, as_of: datetime | None, position: str | None) -> Pinned:
        """One position per (asOf, position) asked for; the first is reported in extensions."""
        key = (as_of, position)
        if key not in self.pins:
            wanted = _parse_position(position)
            self.pins[key] = await run_in_threadpool(self.app.read.pin, as_of, wanted)
        return self.pins[key]

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
