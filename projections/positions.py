"""What a read is pinned to: each live view's progress, the position a request reads at, and the
pages and cursors its answers come in. Plain values, shared by the read model and the replica."""

import base64
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class ViewState:
    """How far a live view has got, and why it stopped if it did (decision 0019)."""

    name: str
    position: int
    lag: int  # events of the log after its position
    error: str | None  # its last failure, while it lasts
    failed_position: int | None  # the event it stopped before (None: not stopped)


@dataclass(frozen=True)
class Progress:
    """Every live view's state, read in one query."""

    head: int
    views: dict[str, ViewState]

    def reached(self, names: Iterable[str]) -> int:
        """The newest position every one of these views has processed."""
        return min((self.views[n].position for n in names), default=self.head)

    def behind(self, names: Iterable[str]) -> tuple[ViewState, ...]:
        """Those of these views that lag behind the log or have failed."""
        states = (self.views[n] for n in sorted(set(names)))
        return tuple(s for s in states if s.lag > 0 or s.error is not None)


def view_names(views: tuple[ViewState, ...]) -> str:
    return ", ".join(v.name for v in views) or "the read models"


class PositionNotReady(Exception):
    """The requested position is beyond what the views a read needs have processed."""

    def __init__(
        self, message: str, views: tuple[ViewState, ...] = (), wanted: int | None = None
    ) -> None:
        super().__init__(message)
        self.views = views
        self.wanted = wanted


# The servers that can answer a read (projections/replica.py picks one per pinned read).
PRIMARY, REPLICA = "primary", "replica"


@dataclass(frozen=True)
class Pinned:
    position: int
    as_of: datetime | None  # the recorded time of that position (None before the first event)
    server: str = PRIMARY  # whose copy of the views answers reads at this position
    behind: tuple[ViewState, ...] = ()  # views read that lag behind the log or have failed


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    has_next: bool


def encode_cursor(*parts: object) -> str:
    return base64.urlsafe_b64encode("|".join(str(p) for p in parts).encode()).decode()


def decode_cursor(cursor: str, arity: int) -> list[str]:
    try:
        parts = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
    except (ValueError, UnicodeDecodeError):
        raise ValueError("malformed cursor") from None
    if len(parts) != arity:
        raise ValueError("malformed cursor")
    return parts


def keyset_page(
    read: Any, sql: str, params: dict[str, Any], first: int, after: str | None, keys: list[str]
) -> Page:
    """The page after `after` of `sql` (a query whose conditions may still be extended with
    AND), ordered by `keys`: the first names a log position, the others text. One row more than
    asked says whether another page follows."""
    params = dict(params)
    if after:
        parts = decode_cursor(after, len(keys))
        names = [f"after_{i}" for i in range(len(keys))]
        sql += f" AND ({', '.join(keys)}) > ({', '.join(f'%({n})s' for n in names)})"
        params.update(zip(names, [int(parts[0]), *parts[1:]], strict=True))
    params["limit"] = first + 1
    rows = read._all(f"{sql} ORDER BY {', '.join(keys)} LIMIT %(limit)s", params)
    return Page(rows[:first], len(rows) > first)
