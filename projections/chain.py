"""The event log's hash chain (decision 0017): recompute it, name the first break, serve the head.

Each stored event has a link in `ledger_chain`, keyed by its position: the position of the event
before it and a hash over that event's hash, its own position, originator, version, topic and
state, which the database writes in the inserting transaction
(migrations/0009_tamper_evident_log.sql). This module recomputes every hash on its own, in the
same byte encoding, so a verification trusts neither the stored hashes nor the database's code.
A company notarizes the head (position and hash) elsewhere; a later verification given that
anchor also catches a history rewritten from the start, or cut short.
"""

import hashlib
import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import Cursor
from psycopg_pool import ConnectionPool

GENESIS = bytes(32)  # the "previous hash" of the first event
_INT8 = struct.Struct(">q")
_ROWS = (
    "SELECT e.notification_id, e.originator_id, e.originator_version, e.topic, e.state,"
    " c.previous, c.hash FROM public.ledger_events e"
    " LEFT JOIN public.ledger_chain c ON c.position = e.notification_id"
    " WHERE e.notification_id > %s AND e.notification_id <= %s"
    " ORDER BY e.notification_id LIMIT %s"
)
_NEXT = (
    "SELECT e.notification_id, e.originator_id, e.originator_version, e.topic, e.state,"
    " c.previous, c.hash FROM public.ledger_events e"
    " LEFT JOIN public.ledger_chain c ON c.position = e.notification_id"
    " WHERE e.notification_id > %s ORDER BY e.notification_id LIMIT 1"
)
_HEAD = (
    "SELECT c.position, c.hash, e.recorded_at FROM public.ledger_chain c"
    " LEFT JOIN public.ledger_events e ON e.notification_id = c.position"
    " ORDER BY c.position DESC LIMIT 1"
)
_LAST = (
    "SELECT greatest((SELECT max(notification_id) FROM public.ledger_events),"
    " (SELECT max(position) FROM public.ledger_chain))"
)
_LEFT_BEHIND = (
    "SELECT position FROM public.ledger_chain WHERE position > %s AND position <= %s"
    " ORDER BY position LIMIT 1"
)


def link(
    previous: bytes, position: int, originator: UUID, version: int, topic: str | None, state: Any
) -> bytes:
    """The hash of one event: SQL's ledger_chain_link, byte for byte."""
    digest = hashlib.sha256(previous)
    digest.update(_INT8.pack(position))
    digest.update(originator.bytes)
    digest.update(_INT8.pack(version))
    for part in (None if topic is None else topic.encode(), state):
        if part is None:
            digest.update(_INT8.pack(-1))
        else:
            digest.update(_INT8.pack(len(part)))
            digest.update(part)
    return digest.digest()


@dataclass(frozen=True)
class ChainHead:
    position: int
    hash: bytes
    recorded_at: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        at = self.recorded_at.isoformat() if self.recorded_at else None
        return {"position": self.position, "hash": self.hash.hex(), "recordedAt": at}


@dataclass(frozen=True)
class Break:
    """Where the log stops matching its chain: an event altered, missing or inserted."""

    position: int
    problem: str  # "altered" | "missing" | "inserted"
    detail: str

    def as_json(self) -> dict[str, Any]:
        return {"position": self.position, "problem": self.problem, "detail": self.detail}


@dataclass(frozen=True)
class ChainReport:
    checked: int
    verified: ChainHead  # the last event whose hash was recomputed and matched
    head: ChainHead  # the last stored event
    first_break: Break | None

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.first_break is None,
            "checked": self.checked,
            "head": self.head.as_json(),
            "verifiedUpTo": {"position": self.verified.position, "hash": self.verified.hash.hex()},
            "firstMismatch": self.first_break.as_json() if self.first_break else None,
        }


class ChainBroken(Exception):
    """The event log does not match its hash chain: its history was edited outside Fenrun."""

    def __init__(self, found: Break) -> None:
        super().__init__(
            f"the event log does not match its hash chain at position {found.position}"
            f" ({found.problem}): {found.detail}"
        )
        self.found = found


def chain_head(pool: ConnectionPool) -> ChainHead:
    """The chain's last link: position and hash (GENESIS at position 0 for an empty log)."""
    with pool.connection() as conn:
        row = conn.execute(_HEAD).fetchone()
    return ChainHead(row[0], bytes(row[1]), row[2]) if row else ChainHead(0, GENESIS)


def parse_anchor(text: str) -> tuple[int, bytes]:
    """'POSITION:HASH' (as `fenrun audit head` printed it) -> (position, hash)."""
    position, _, digest = text.partition(":")
    try:
        anchor = int(position), bytes.fromhex(digest)
    except ValueError:
        raise ValueError(f"expected POSITION:HEXHASH, got '{text}'") from None
    if anchor[0] < 1 or len(anchor[1]) != len(GENESIS):
        raise ValueError(f"expected a position >= 1 and a 64-digit hex hash, got '{text}'")
    return anchor


class ChainVerifier:
    """Walks the log in keyset batches keeping only the running hash, so memory stays bounded
    whatever the log's length. A verifier resumes where it stopped: call `verify` again to
    check only the events written since (a rebuild does, before it switches)."""

    def __init__(self, pool: ConnectionPool, batch_size: int = 5000) -> None:
        self.pool = pool
        self.batch_size = batch_size
        self.position, self.hash, self.checked = 0, GENESIS, 0

    def verify(
        self,
        until: int | None = None,
        anchor: tuple[int, bytes] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> ChainReport:
        """Checks the events after the last verified one, up to `until` (default: the end)."""
        head = chain_head(self.pool)
        with self.pool.connection() as conn, conn.cursor() as cur:
            row = cur.execute(_LAST).fetchone()
            last = (row[0] if row else None) or 0
            stop = last if until is None else min(until, last)
            found = self._walk(cur, stop, anchor, progress) or self._left_behind(cur, stop)
        if found is None and anchor is not None and anchor[0] > self.position:
            found = Break(anchor[0], "missing", f"the log ends at {self.position}, before it")
        verified = ChainHead(self.position, self.hash)
        return ChainReport(self.checked, verified, head, found)

    def verify_or_raise(self, until: int | None = None) -> ChainReport:
        report = self.verify(until)
        if report.first_break is not None:
            raise ChainBroken(report.first_break)
        return report

    def _walk(
        self,
        cur: Cursor[Any],
        stop: int,
        anchor: tuple[int, bytes] | None,
        progress: Callable[[int, int], None] | None,
    ) -> Break | None:
        while self.position < stop:
            rows = cur.execute(_ROWS, (self.position, stop, self.batch_size)).fetchall()
            if not rows:
                return None
            for row in rows:
                found = _skips_anchor(anchor, self.position, row[0]) or self._check(cur, row)
                if found is not None:
                    return found
                self.position, self.hash = row[0], bytes(row[6])
                self.checked += 1
                found = _differs_from_anchor(anchor, self.position, self.hash)
                if found is not None:
                    return found
            if progress is not None:
                progress(self.position, stop)
        return None

    def _left_behind(self, cur: Cursor[Any], stop: int) -> Break | None:
        """A link after the last event: the event it records was deleted from the log's end."""
        row = cur.execute(_LEFT_BEHIND, (self.position, stop)).fetchone()
        if row is None:
            return None
        return Break(row[0], "missing", "the chain records an event there that the log lost")

    def _check(self, cur: Cursor[Any], row: tuple[Any, ...]) -> Break | None:
        position, previous, stored = row[0], row[5], row[6]
        if stored is None:
            return Break(position, "inserted", "the event has no link: it was stored unchained")
        if link(self.hash, *row[:5]) == stored:
            if previous == self.position:
                return None
            return Break(
                position,
                "altered",
                f"its link names position {previous} as the event before it, but that is"
                f" {self.position}",
            )
        if previous > self.position:
            return Break(
                previous,
                "missing",
                f"the event at {position} was written after position {previous}, which is no"
                f" longer in the log (the log goes from {self.position} to {position})",
            )
        if previous < self.position:
            return Break(
                self.position,
                "inserted",
                f"the event at {self.position} is not in the chain: the event at {position}"
                f" was written right after position {previous}",
            )
        after = cur.execute(_NEXT, (position,)).fetchone()
        skipped = after is not None and after[5] == self.position
        if skipped and link(self.hash, *after[:5]) == after[6]:
            return Break(
                position,
                "inserted",
                f"the event at {position} is not in the chain: the next event, at"
                f" {after[0]}, was written right after position {self.position}",
            )
        return Break(position, "altered", "its content does not match its stored hash")


def _skips_anchor(anchor: tuple[int, bytes] | None, verified: int, upcoming: int) -> Break | None:
    """The log goes from `verified` to `upcoming`, past the notarized position: it was deleted."""
    if anchor is not None and verified < anchor[0] < upcoming:
        return Break(anchor[0], "missing", "the notarized position is no longer in the log")
    return None


def _differs_from_anchor(
    anchor: tuple[int, bytes] | None, position: int, digest: bytes
) -> Break | None:
    """The chain reached the notarized position with another hash: history was rewritten."""
    if anchor is None or position != anchor[0] or digest == anchor[1]:
        return None
    return Break(
        position,
        "altered",
        f"the history up to the notarized position was rewritten: its hash is now"
        f" {digest.hex()}, notarized {anchor[1].hex()}",
    )
