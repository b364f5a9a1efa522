"""The one path every mutation takes: input -> typed command -> run off the event loop ->
catch up -> payload from the typed result, or userErrors.

Resolvers only translate: they build the command from the input (keyword arguments, the API's
names becoming the ledger's) and the payload from the result. Building the command is inside
the path, so money that does not parse is a userError like any refusal.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import strawberry
from starlette.concurrency import run_in_threadpool

from api.graphql.types import UserError
from application.commands import Command
from application.workflows import Workflows
from domain.common import Audit
from domain.errors import LedgerError
from domain.money import parse_money
from projections.queries import ReadModel

C = TypeVar("C", bound=Command[Any])
R = TypeVar("R")
P = TypeVar("P")


def user_error(exc: LedgerError) -> UserError:
    return UserError(
        code=exc.code, field=["input", exc.field] if exc.field else None, message=exc.message
    )


def audit_of(info: strawberry.Info, at: datetime | None, reason: str | None = None) -> Audit:
    """Who (the authenticated caller), when (the input's time, else the server's clock: left
    out of the digest), why."""
    now = at or info.context.app.clock.now()
    return info.context.principal.audit(now, reason or "", at is not None)


def fen(text: str, field: str) -> int:
    return parse_money(text, field=field)


@dataclass(frozen=True)
class Outcome(Generic[R]):
    """What a payload is built from: the result (None when refused) and its userErrors, with
    the read models pinned just after the command's catch-up (read-your-writes)."""

    result: R | None
    errors: list[UserError]
    read: ReadModel
    at: int | None  # None when refused: nothing to read

    def get(self, field: Callable[[R], Any]) -> Any:
        return None if self.result is None else field(self.result)


async def mutate(
    info: strawberry.Info,
    command: Callable[[], C],
    payload: Callable[[Outcome[R]], P],
    run: Callable[[Workflows, C], R] = Workflows.submit,  # type: ignore[assignment]
) -> P:
    """Runs the command in a worker thread (eventsourcing and psycopg block), catches the policies
    and views up, and builds the payload there too, so nothing blocks the event loop.

    run: the workflow that executes it (default: execute, then catch up)."""
    context = info.context

    def work() -> P:
        try:
            result = run(context.app.workflows, command())
        except LedgerError as exc:
            return payload(Outcome(None, [user_error(exc)], context.app.read, None))
        return payload(Outcome(result, [], context.app.read, context.latest().position))

    return await run_in_threadpool(work)
