"""The outbox: commands for other systems, written with the events that decided them and
delivered afterwards, at least once (decision 0026).

Writing: an event that answers `outbox_command()` (domain/outbox.py) gets a row here in the same
transaction as the event itself (Ledger._record passes the rows to the recorder's insert). A
request's use case and a policy's batch (saved with its tracking position) take the same path,
so no command exists without its decision, and no decision loses its command to a crash.

Sending: the Dispatcher claims due rows (a lease, so two dispatchers never send one row at the
same time; a dispatcher that dies leaves its rows to be claimed again when the lease ends), hands
each to the sender registered for its kind, and records the answer. A sender's `send` raises on
a failure worth retrying (a timeout, a lost connection): the row waits, exponentially longer each
time with jitter, until its attempts run out (GAVE_UP, visible in outboxCommands). A definite
answer (accepted, refused) is returned; the sender's `record` turns it into events through a use
case, which must be idempotent: the same command may be delivered, and answered, more than once.

A newer command for the same kind and key supersedes older ones not yet delivered (SUPERSEDED):
only the latest word about a card or a payout is sent.
"""

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import orjson
import structlog
from eventsourcing.persistence import InterfaceError, OperationalError
from eventsourcing.utils import retry

log = structlog.get_logger(__name__)

STATUSES = ("PENDING", "DELIVERED", "SUPERSEDED", "GAVE_UP")
_ERROR_LENGTH = 2000

_SUPERSEDE = (
    "UPDATE outbox_commands SET status = 'SUPERSEDED', superseded_by = %s, updated_at = now()"
    " WHERE kind = %s AND key = %s AND status = 'PENDING' AND command_id <> %s"
)
_INSERT = (
    "INSERT INTO outbox_commands (command_id, kind, key, payload, position)"
    " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (command_id) DO NOTHING"
)
_CLAIM = (
    "UPDATE outbox_commands SET leased_until = now() + make_interval(secs => %(lease)s),"
    " attempts = attempts + 1, updated_at = now()"
    " WHERE id IN (SELECT id FROM outbox_commands WHERE status = 'PENDING'"
    "  AND next_attempt_at <= now() AND (leased_until IS NULL OR leased_until <= now())"
    "  AND kind = ANY(%(kinds)s) ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED)"
    " RETURNING id, command_id, kind, key, payload, position, attempts"
)
_DELIVERED = (
    "UPDATE outbox_commands SET status = 'DELIVERED', answer = %s, delivered_at = now(),"
    " leased_until = NULL, last_error = NULL, updated_at = now()"
    " WHERE command_id = %s AND status = 'PENDING'"
)
_RETRY = (
    "UPDATE outbox_commands SET last_error = %(error)s, leased_until = NULL, updated_at = now(),"
    " next_attempt_at = now() + make_interval(secs => %(wait)s),"
    " status = CASE WHEN attempts >= %(most)s THEN 'GAVE_UP' ELSE status END"
    " WHERE command_id = %(id)s AND status = 'PENDING'"
)


@dataclass(frozen=True)
class PendingCommand:
    """A command about to be written with the event at `event_index` of the save."""

    event_index: int
    command_id: str
    kind: str
    key: str
    payload: dict[str, Any]


def write_commands(curs: Any, commands: Sequence[PendingCommand], positions: Sequence[int]) -> None:
    """Inside the recorder's transaction, after the events: one row per command, superseding
    the older undelivered commands for the same kind and key."""
    for c in commands:
        position = positions[c.event_index] if c.event_index < len(positions) else None
        curs.execute(_SUPERSEDE, [c.command_id, c.kind, c.key, c.command_id])
        curs.execute(
            _INSERT, [c.command_id, c.kind, c.key, orjson.dumps(c.payload).decode(), position]
        )


@dataclass(frozen=True)
class Delivery:
    """One attempt at delivering a command."""

    command_id: str
    kind: str
    key: str
    payload: dict[str, Any]
    attempt: int
    position: int | None = None


class Sender(Protocol):
    """Delivers one kind of command. `send` raises on what is worth retrying; `record` turns
    the answer into events through a use case (idempotently: deliveries repeat)."""

    def send(self, delivery: Delivery) -> dict[str, Any]: ...

    def record(self, delivery: Delivery, answer: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class OutboxRow:
    id: int
    command_id: str
    kind: str
    key: str
    payload: str
    position: int | None
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    answer: str | None
    superseded_by: str | None
    created_at: datetime
    delivered_at: datetime | None


_ROW_COLUMNS = ", ".join(OutboxRow.__dataclass_fields__)


class Outbox:
    """The outbox table, through the ledger's datastore (its pool and its retries)."""

    def __init__(self, datastore: Any) -> None:
        self.datastore = datastore

    @retry((InterfaceError, OperationalError), max_attempts=5, wait=0.2)
    def claim(self, kinds: Sequence[str], limit: int, lease_seconds: float) -> list[Delivery]:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(_CLAIM, {"lease": lease_seconds, "kinds": list(kinds), "limit": limit})
            rows = curs.fetchall()
        return [
            Delivery(
                r["command_id"],
                r["kind"],
                r["key"],
                orjson.loads(r["payload"]),
                r["attempts"],
                r["position"],
            )
            for r in sorted(rows, key=lambda r: r["id"])
        ]

    @retry((InterfaceError, OperationalError), max_attempts=5, wait=0.2)
    def delivered(self, command_id: str, answer: dict[str, Any]) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                _DELIVERED,
                [orjson.dumps(answer).decode(), command_id],
            )

    @retry((InterfaceError, OperationalError), max_attempts=5, wait=0.2)
    def retry_later(self, command_id: str, error: str, wait: float, most: int) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                _RETRY,
                {"error": error[:_ERROR_LENGTH], "wait": wait, "most": most, "id": command_id},
            )

    def due_now(self, command_id: str) -> None:
        """Makes a waiting command due at once (an operator's nudge; tests)."""
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                "UPDATE outbox_commands SET next_attempt_at = now(), leased_until = NULL"
                " WHERE command_id = %s",
                [command_id],
            )

    def rows(
        self,
        kind: str | None = None,
        status: str | None = None,
        key: str | None = None,
        first: int = 50,
        after: int = 0,
    ) -> list[OutboxRow]:
        """Commands in the order they were decided, after the row id `after`."""
        where, params = ["id > %s"], [after]
        for column, value in (("kind", kind), ("status", status), ("key", key)):
            if value is not None:
                where.append(f"{column} = %s")
                params.append(value)
        statement = (
            f"SELECT {_ROW_COLUMNS} FROM outbox_commands WHERE {' AND '.join(where)}"
            " ORDER BY id LIMIT %s"
        )
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(statement, [*params, first])
            return [OutboxRow(**r) for r in curs.fetchall()]


def backoff(attempt: int, first: float, most: float) -> float:
    """The wait after the attempt-th failure: doubling from `first` up to `most`, with jitter
    (a random half to whole of it), so that commands failing together do not retry together."""
    wait = min(most, first * 2 ** max(0, attempt - 1))
    return wait * random.uniform(0.5, 1.0)


class Dispatcher:
    """Sends what is due, kind by kind, with the senders registered for them."""

    def __init__(
        self,
        outbox: Outbox,
        *,
        backoff_seconds: tuple[float, float] = (2.0, 600.0),
        max_attempts: int = 30,
        lease_seconds: float = 120.0,
        batch_size: int = 50,
    ) -> None:
        self.outbox = outbox
        self.senders: dict[str, Sender] = {}
        self.backoff_seconds = backoff_seconds
        self.max_attempts = max_attempts
        self.lease_seconds = lease_seconds
        self.batch_size = batch_size

    def register(self, kind: str, sender: Sender) -> None:
        self.senders[kind] = sender

    def run_once(self) -> int:
        """One round of due commands; returns how many were attempted."""
        if not self.senders:
            return 0
        deliveries = self.outbox.claim(list(self.senders), self.batch_size, self.lease_seconds)
        for delivery in deliveries:
            self._deliver(delivery)
        return len(deliveries)

    def run_until_idle(self, rounds: int = 100) -> int:
        total = 0
        for _ in range(rounds):
            done = self.run_once()
            if not done:
                break
            total += done
        return total

    def _deliver(self, delivery: Delivery) -> None:
        sender = self.senders[delivery.kind]
        try:
            answer = sender.send(delivery)
            sender.record(delivery, answer)
        except Exception as exc:
            wait = backoff(delivery.attempt, *self.backoff_seconds)
            error = f"{type(exc).__name__}: {exc}"
            log.warning(
                "outbox.delivery_failed",
                command_id=delivery.command_id,
                attempt=delivery.attempt,
                retry_in_seconds=round(wait, 3),
                error=error,
            )
            self.outbox.retry_later(delivery.command_id, error, wait, self.max_attempts)
            return
        self.outbox.delivered(delivery.command_id, answer)
        log.info("outbox.delivered", command_id=delivery.command_id, kind=delivery.kind)
