"""Commands: the application's input types, one frozen dataclass per use case.

A command's fields are its request, then `audit` (actor, effective time, reason) and `key` (the
client's idempotency key). Its `decide(ledger)` loads what it needs, asks the aggregates, and
answers the aggregates it changed and a typed result; `Ledger.execute` saves them with the key.

The idempotency digest is computed from every field but the key, so a field cannot be left out
of it by hand (decision 0014). A defaulted "now" (`Audit.time_given` False) stays out of it: a
retry without an explicit time is the same request (decision 0006).
"""

import hashlib
from collections.abc import Callable
from dataclasses import fields
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, TypeAlias, TypeVar

import orjson
from eventsourcing.domain import Aggregate

from application.results import Result
from domain.common import Audit

if TYPE_CHECKING:
    from application.ledger import Ledger

R = TypeVar("R", bound=Result)
P = ParamSpec("P")
Decision: TypeAlias = tuple[list[Aggregate], R]


class Command(Generic[R]):
    """Base of every command; subclasses are frozen dataclasses ending in `audit` and `key`."""

    audit: Audit
    key: str | None

    def decide(self, ledger: "Ledger") -> Decision[R]:
        raise NotImplementedError

    @property
    def idempotency_key(self) -> str | None:
        """The client's key; a command derived from a source fact may default it from the fact."""
        return self.key

    def digest(self) -> str:
        """What makes two requests under one key the same: the name and every field but the key."""
        request = {
            f.name: canonical(getattr(self, f.name)) for f in fields(self) if f.name != "key"
        }  # type: ignore[arg-type]
        body = orjson.dumps(
            {"command": type(self).__name__, "fields": request}, option=orjson.OPT_SORT_KEYS
        )
        return hashlib.sha256(body).hexdigest()


def canonical(value: object) -> object:
    """One JSON form per value: times as ISO text, money as integer fen (as given), documents
    with their keys sorted (by the encoder), tuples as lists."""
    if isinstance(value, Audit):
        audit = {
            "actor": value.actor,
            "reason": value.reason,
            "effective_at": value.effective_at.isoformat() if value.time_given else None,
        }
        if value.agent_code is not None:  # absent otherwise: digests recorded before hold
            audit["agent_code"] = value.agent_code
        return audit
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return canonical(value.value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    if value is None or isinstance(value, str | int | float):
        return value
    raise TypeError(f"a command field of type {type(value).__name__} has no canonical form")


def use_case(command: Callable[P, Command[R]]) -> Callable[Concatenate[Any, P], R]:
    """A Ledger method that builds the command from its arguments and executes it, so callers
    may write `ledger.place_order(...)` with the command's fields in order."""

    def run(ledger: Any, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return ledger.execute(command(*args, **kwargs))  # type: ignore[no-any-return]

    run.__doc__ = command.__doc__
    run.__name__ = getattr(command, "__name__", "use_case")
    return run
