"""Commands for the world outside (a payment channel, a carrier): decided here, sent later.

An event that decides to tell another system something says so by answering `outbox_command()`
with what to send. The ledger writes that command to the outbox in the same transaction as the
event (application/outbox.py, decision 0026), so a command exists exactly when its decision does;
a dispatcher sends it afterwards, at least once. Replaying the log never re-sends anything: the
command is taken from the event when it is saved, not when it is applied.
"""

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class OutboxCommand:
    """What to send. `key` names the thing it is about (a payout, a card): a newer command for
    the same kind and key supersedes an older one not yet delivered."""

    kind: str
    key: str
    payload: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Enqueues(Protocol):
    """An event that carries a command for the outbox."""

    def outbox_command(self) -> OutboxCommand | None: ...


def command_id(kind: str, originator_id: object, version: int) -> str:
    """The command's id, from the event that decided it: the same on every delivery attempt, so
    a receiver that remembers ids recognises a repeat."""
    return f"{kind}:{originator_id}:{version}"
