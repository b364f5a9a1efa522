"""Commands: the application's input types, one frozen dataclass per use case.

A command's fields are its request, then `audit` (actor, effective time, reason) and `key` (the
client's idempotency key). Its `decide(ledger)` loads what it needs, asks the aggregates, and
answers the aggregates it changed and a typed result; `Ledger.execute` saves them with the key.

The idempotency digest is computed from every field but the key, so a field cannot be left out
of it by hand (decision 0014). A defaulted "now" (`Audit.time_given` False) stays out of it: a
retry without an explicit time is the same request (decision 0006).

Every field is checked when the command is made, by the value type its annotation names
(domain/values.py): a field whose type names none cannot be made at all (decision 0018).
Its effective time is checked against the ledger's clock before it is decided (`check_time`).
"""

import hashlib
from collections.abc import Callable
from dataclasses import fields
from datetime import datetime, timedelta
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import (
    TYPE_CHECKING,
    Any,
    ClassVar,
    Concatenate,
    Generic,
    ParamSpec,
    TypeAlias,
    TypeVar,
    get_type_hints,
)

import orjson
from eventsourcing.domain import Aggregate

from application.results import Result
from domain.common import Audit
from domain.values import Check, Key, checker_for, refuse_future

if TYPE_CHECKING:
    from application.ledger import Ledger

R = TypeVar("R", bound=Result)
P = ParamSpec("P")
Decision: TypeAlias = tuple[list[Aggregate], R]


class Command(Generic[R]):
    """Base of every command; subclasses are frozen dataclasses ending in `audit` and `key`."""

    audit: Audit
    key: Key | None
    # The input's name of a field, where it is not the field's name in camelCase without "_fen"
    # (what userErrors name).
    input_names: ClassVar[dict[str, str]] = {}
    # The input that carries the effective time, and how far past the clock it may be (None:
    # the ledger's tolerance).
    time_input: ClassVar[str] = "occurredAt"
    time_tolerance: ClassVar[timedelta | None] = None
    # Optional fields added after keys were recorded with the command (keyword-only, after
    # `key`): left out of the digest while unset, so a retry of an older request still matches.
    added_fields: ClassVar[frozenset[str]] = frozenset()
    # Whether a client's key is looked up before the command is decided. A command whose
    # decision only reads, cheaply, may leave it to its save: the key's record is written with
    # its events, so a key used before makes the save fail and the record answers then; a
    # refusal looks the key up before it is answered, for a retry may be refused by what its
    # first request did (an order placed twice). One query less per command (decision 0042).
    look_up_key_first: ClassVar[bool] = True

    def __post_init__(self) -> None:
        for name, check in _checks(type(self)):
            check(getattr(self, name), self.input_name(name))

    @classmethod
    def input_name(cls, field: str) -> str:
        if field in cls.input_names:
            return cls.input_names[field]
        if field == "key":
            return "idempotencyKey"
        head, *rest = field.removesuffix("_fen").split("_")
        return head + "".join(word.capitalize() for word in rest)

    def check_time(self, now: datetime, tolerance: timedelta) -> None:
        """Refuses an effective time later than the clock (plus the tolerance) allows: the
        domain never reads a clock, the ledger hands its own in."""
        allowed = tolerance if self.time_tolerance is None else self.time_tolerance
        refuse_future(self.audit.effective_at, now + allowed, self.time_input)

    def decide(self, ledger: "Ledger") -> Decision[R]:
        raise NotImplementedError

    @property
    def idempotency_key(self) -> str | None:
        """The client's key; a command derived from a source fact may default it from the fact."""
        return self.key

    def digest(self) -> str:
        """What makes two requests under one key the same: the name and every field but the key."""
        request = {
            f.name: canonical(getattr(self, f.name))
            for f in fields(self)  # type: ignore[arg-type]
            if f.name != "key"
            and not (f.name in self.added_fields and getattr(self, f.name) is None)
        }
        body = orjson.dumps(
            {"command": type(self).__name__, "fields": request}, option=orjson.OPT_SORT_KEYS
        )
        return hashlib.sha256(body).hexdigest()


@cache
def _checks(command: type) -> list[tuple[str, Check]]:
    """Each field's check, derived once per command class from its annotations."""
    hints = get_type_hints(command, include_extras=True)
    return [(f.name, checker_for(hints[f.name])) for f in fields(command)]  # type: ignore[arg-type]


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
