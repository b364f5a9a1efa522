"""The one path every mutation takes: input -> typed command -> run off the event loop ->
payload from the typed result, or userErrors.

Resolvers only translate: they build the command from the input (keyword arguments, the API's
names becoming the ledger's) and the payload from the result. Building the command is inside
the path, so money that does not parse is a userError like any refusal.

Once the command's events are committed the answer is its result, with the position of its
write in extensions.position, whatever happens after (decision 0019). The policies and views run
in the background (decision 0036): a payload that reads views waits for them a bounded time,
and its view fields are read only where those views have processed the write; otherwise they
come back empty, with extensions saying why. Later reads see the write by sending its position
in X-Fenrun-Min-Position.
"""

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Generic, TypeVar

import strawberry
import structlog
from starlette.concurrency import run_in_threadpool

from api.graphql.context import Context, Written
from api.graphql.reads import views_read
from api.graphql.types import UserError
from api.observability.metrics import count_failure
from application.commands import Command
from application.workflows import Submitted, Workflows
from domain.common import Audit
from domain.errors import LedgerError
from domain.money import parse_money
from projections.positions import PositionNotReady
from projections.queries import VIEWS, ReadModel, ViewState

log = structlog.get_logger(__name__)

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
    the read models pinned at the newest position the payload's views have processed, which
    includes the write (read-your-writes)."""

    result: R | None
    errors: list[UserError]
    read: ReadModel
    at: int | None  # None: nothing to read (refused, or the views have not reached the write)

    def get(self, field: Callable[[R], Any]) -> Any:
        return None if self.result is None else field(self.result)


async def mutate(
    info: strawberry.Info,
    command: Callable[[], C],
    payload: Callable[[Outcome[R]], P],
    run: Callable[[Workflows, C], Submitted[R]] = Workflows.answer,  # type: ignore[assignment]
) -> P:
    """Runs the command in a worker thread (eventsourcing and psycopg block) and builds the
    payload there too, so nothing blocks the event loop.

    run: the workflow that executes it (default: commit, the policies and views asked to run in
    the background)."""
    context = info.context
    views = views_read(info)

    def work() -> P:
        try:
            # Sent with X-Fenrun-Min-Position: decided on state that includes that write and
            # what the policies did about it (a release after a sale sees the sale's lines);
            # past the bound, on the state there is, as a mutation sent without it.
            context.wait_for_min_position(VIEWS)
        except PositionNotReady as exc:
            log.warning("mutation.min_position_not_reached", error=str(exc))
        try:
            done = run(context.app.workflows, command())
        except LedgerError as exc:
            return payload(Outcome(None, [user_error(exc)], context.app.read, None))
        return _committed(context, payload, done, views)

    return await run_in_threadpool(work)


def _committed(
    context: Context, payload: Callable[[Outcome[R]], P], done: Submitted[R], views: tuple[str, ...]
) -> P:
    """The answer to a committed write: its result and position, never an error. Its payload's
    view fields come back empty if the views cannot be read."""
    read = context.app.read
    caught_up = _processed(context, done, views)
    try:
        at, behind = _payload_position(read, done.position, views)
    except Exception:
        _unread(done)
        at, behind = None, ()
    context.writes.append(Written(done.position, bool(views), at, behind, caught_up))
    if at is None:
        return payload(Outcome(done.result, [], read, None))
    try:
        return payload(Outcome(done.result, [], read, at))
    except Exception:
        _unread(done)
        context.writes[-1] = replace(context.writes[-1], read_at=None)
        return payload(Outcome(done.result, [], read, None))


def _processed(context: Context, done: Submitted[Any], views: tuple[str, ...]) -> bool | None:
    """A payload that reads views waits (mutation_catch_up_seconds at most) until they show
    the write, the policies' reactions included: the background runs them, not this request
    (decision 0036). None: nothing waited for (the payload reads no view)."""
    if not views or done.caught_up is not None:
        return done.caught_up
    try:
        context.app.freshness.wait(done.position, views, context.app.workflows.request_wait)
    except PositionNotReady:
        return False
    except Exception:
        log.exception("mutation.wait_failed", position=done.position)
        return False
    return True


def _unread(done: Submitted[Any]) -> None:
    """The views could not be read for a committed write's payload (a lost connection)."""
    log.exception("mutation.payload_unread", position=done.position)
    count_failure("mutation_payload")


def _payload_position(
    read: ReadModel, written: int, views: tuple[str, ...]
) -> tuple[int | None, tuple[ViewState, ...]]:
    """Where the payload reads its views: the newest position they have all processed, if that
    includes the write (else None); and those of them behind the write or failing."""
    if not views:
        return None, ()
    progress = read.progress()
    reached = progress.reached(views)
    behind = tuple(v for v in progress.behind(views) if v.position < written or v.error)
    return (reached if reached >= written else None), behind
