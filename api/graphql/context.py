"""Per-request context: the app, the authenticated caller, and the log position the whole
request reads at.

Every read pins its position here and nowhere else: queries by (asOf, position) and the views
their field reads (api/graphql/reads.py), the same pin for every field asking the same; a
mutation records the position of its write and where its payload read (decision 0019). A
query's pin also names the server that answers it (the replica where it has caught up:
projections/replica.py); `read(at)` is that server's copy of the views.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import strawberry
from graphql import GraphQLError
from starlette.concurrency import run_in_threadpool
from strawberry.fastapi import BaseContext

from api.auth.principal import Principal
from api.bootstrap import Fenrun
from api.graphql.reads import views_read
from projections.queries import Pinned, PositionNotReady, ReadModel, ViewState

POSITION_NOT_READY = "POSITION_NOT_READY"
# A read sent with this header (a mutation's extensions.position) sees that write and what the
# policies did in reaction to it, or gets POSITION_NOT_READY after a bounded wait (decision 0036).
MIN_POSITION_HEADER = "x-fenrun-min-position"
T = TypeVar("T")


@dataclass(frozen=True)
class Written:
    """A mutation's write: its position, where its payload read the views (None: it did not,
    they had not reached the write or could not be read), the views it read that are behind the
    write or failing, and whether catching up after it finished in time without failing."""

    position: int
    reads_views: bool
    read_at: int | None
    behind: tuple[ViewState, ...]
    caught_up: bool | None  # None: not waited for (its payload reads no view: decision 0036)


@dataclass
class Context(BaseContext):
    app: Fenrun
    principal: Principal
    pins: dict[tuple[Any, Any, Any], Pinned] = field(default_factory=dict)
    writes: list[Written] = field(default_factory=list)
    _subtree: frozenset[str] | None = None
    loaders: dict[str, Any] = field(default_factory=dict)  # DataLoaders, one per request
    # X-Fenrun-Min-Position: reads wait (bounded) until this write is processed (decision 0036).
    min_position: str | None = None
    _fresh: set[tuple[str, ...]] = field(default_factory=set)

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

    def read(self, at: int) -> ReadModel:
        """The views that answer reads at `at`: those of the server this request's pin at `at`
        chose; the primary's for any other position (a mutation's payload reads its writes)."""
        for pinned in self.pins.values():
            if pinned.position == at:
                return self.app.reads.model(pinned.server)
        return self.app.read

    async def pin(
        self, as_of: datetime | None, position: str | None, info: strawberry.Info | None = None
    ) -> Pinned:
        """One position per (asOf, position, views read); the first is reported in extensions.
        info: the field being resolved, to read only the views it needs (else all of them)."""
        views = views_read(info)
        key = (as_of, position, views)
        if key not in self.pins:
            wanted = _parse_position(position)

            def fresh_pin() -> Pinned:
                self.wait_for_min_position(views)
                return self.app.reads.pin(as_of, wanted, views)

            try:
                self.pins[key] = await run_in_threadpool(fresh_pin)
            except PositionNotReady as exc:
                raise position_not_ready(exc) from None
        return self.pins[key]

    async def pinned_read(
        self,
        as_of: datetime | None,
        position: str | None,
        info: strawberry.Info,
        read: Callable[[ReadModel, int], T],
    ) -> tuple[Pinned, T]:
        """pin() and then read(views, position), in one trip to a worker thread when the
        request has not pinned this read yet (each trip costs a thread hop and the
        interpreter lock twice). A read that another field pinned meanwhile is read again
        at that field's position: one request, one position per kind of read."""
        views = views_read(info)
        key = (as_of, position, views)
        if key in self.pins:
            pinned = self.pins[key]
            return pinned, await run_in_threadpool(
                read, self.read(pinned.position), pinned.position
            )
        wanted = _parse_position(position)
        reads = self.app.reads

        def both() -> tuple[Pinned, T]:
            self.wait_for_min_position(views)
            pinned = reads.pin(as_of, wanted, views)
            return pinned, read(reads.model(pinned.server), pinned.position)

        try:
            pinned, found = await run_in_threadpool(both)
        except PositionNotReady as exc:
            raise position_not_ready(exc) from None
        stored = self.pins.setdefault(key, pinned)
        if stored.position != pinned.position:
            found = await run_in_threadpool(read, self.read(stored.position), stored.position)
        return stored, found

    def wait_for_min_position(self, views: tuple[str, ...]) -> None:
        """In a worker thread: when the request named a minimum position (a mutation's), waits
        until these views show what that write caused, the policies' lines included, for
        min_position_wait_seconds at most (then PositionNotReady). Once per set of views."""
        if self.min_position is None or views in self._fresh:
            return
        wanted = _parse_position(self.min_position)
        assert wanted is not None
        self.app.freshness.wait(wanted, views, self.app.settings.min_position_wait_seconds)
        self._fresh.add(views)


def position_not_ready(exc: PositionNotReady) -> GraphQLError:
    """A read asked for a position that a view it needs has not reached: a retryable error
    with a code, the views in question and how far each has got."""
    extensions: dict[str, Any] = {"code": POSITION_NOT_READY, "views": view_states(exc.views)}
    if exc.wanted is not None:
        extensions["position"] = str(exc.wanted)
    return GraphQLError(str(exc), extensions=extensions, original_error=exc)


def view_states(views: tuple[ViewState, ...]) -> dict[str, dict[str, Any]]:
    """How views that lag or failed are shown in extensions (positions as strings)."""
    return {
        v.name: {
            "position": str(v.position),
            "lag": v.lag,
            "error": v.error,
            "failedPosition": None if v.failed_position is None else str(v.failed_position),
        }
        for v in views
    }


def _parse_position(position: str | None) -> int | None:
    if position is None:
        return None
    if not position.isdigit():
        raise ValueError(f"position '{position}' is not a log position")
    return int(position)
