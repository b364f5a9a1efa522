"""Per-client rate of expensive operations, and the request's time limit as GraphQL sees it:
a TIMEOUT error, and the mark that lets the deadline spare mutations (decision 0020).

Expensive operations are the fields COSTS marks rate-limited (simulations, replays, plan
corrections). Each client has a token bucket: `expensive_burst` tokens, refilled at
`expensive_per_minute`; a request takes one token per expensive call, all or none, before it
runs. Without enough tokens the whole request is refused with `RATE_LIMITED` and the seconds to
wait (HTTP 429 with Retry-After: api/http.py). The buckets live in this process: with several
API processes a client may start that many times as much (a shared limit would need a table).
Until identity lands, the actor header is the client's own word: changing it dodges this limit
(the job queue's bound, max_running_jobs, holds whatever the rate).
"""

import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from graphql import ExecutionResult, GraphQLError
from psycopg.errors import QueryCanceled
from strawberry.extensions.base_extension import SchemaExtension
from strawberry.types.graphql import OperationType

from api.graphql.cost import limits_of, tally, tally_of_text

RATE_LIMITED = "RATE_LIMITED"
TIMEOUT = "TIMEOUT"
_MAX_CLIENTS = 10_000  # past this many buckets, the full ones (idle clients) are forgotten


def client_key(context: Any) -> str:
    """Who a request is charged to: the authenticated subject (with FENRUN_AUTH=off, whoever
    the actor header names), else its address. The one place that decides it."""
    principal = getattr(context, "principal", None)
    if principal is not None and principal.actor:
        return f"subject:{principal.actor}"
    request = getattr(context, "request", None)
    client = getattr(request, "client", None)
    return f"address:{client.host if client else 'unknown'}"


@dataclass
class _Bucket:
    tokens: float
    at: float


class TokenBuckets:
    """One bucket per client; thread-safe. `take` answers 0 when granted, else the seconds
    until the tokens are there (infinite when the request wants more than a full bucket)."""

    def __init__(
        self, per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = per_minute / 60.0
        self.burst = burst
        self.clock = clock
        self.buckets: dict[str, _Bucket] = {}
        self.lock = threading.Lock()

    def take(self, client: str, tokens: int) -> float:
        if not tokens:
            return 0.0
        with self.lock:
            now = self.clock()
            bucket = self.buckets.get(client) or self._new(client, now)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
            bucket.at = now
            if tokens > self.burst:
                return math.inf
            if bucket.tokens >= tokens:
                bucket.tokens -= tokens
                return 0.0
            return (tokens - bucket.tokens) / self.rate

    def _new(self, client: str, now: float) -> _Bucket:
        if len(self.buckets) >= _MAX_CLIENTS:
            for key in [k for k, b in self.buckets.items() if self._full(b, now)]:
                del self.buckets[key]
        bucket = self.buckets[client] = _Bucket(float(self.burst), now)
        return bucket

    def _full(self, bucket: _Bucket, now: float) -> bool:
        return bucket.tokens + (now - bucket.at) * self.rate >= self.burst


def rate_limited(wait: float, tokens: int, burst: int) -> GraphQLError:
    if math.isinf(wait):
        message = (
            f"this request starts {tokens} expensive operations, more than the {burst} a client"
            " may start at once: split it"
        )
        retry_after = None
    else:
        retry_after = max(1, math.ceil(wait))
        message = f"too many expensive operations from this client: retry in {retry_after} s"
    return GraphQLError(message, extensions={"code": RATE_LIMITED, "retryAfter": retry_after})


def buckets_of(context: Any) -> TokenBuckets:
    """The app's buckets, made on first use (one set per FastAPI app, so per process)."""
    state = context.request.app.state
    settings = context.app.settings
    found = getattr(state, "expensive_buckets", None)
    if found is None:
        found = state.expensive_buckets = TokenBuckets(
            settings.expensive_per_minute, settings.expensive_burst
        )
    return found


class Admission(SchemaExtension):
    """What a valid request may do before it runs:
    - a mutation is marked, so that the request's deadline (api/http.py) never cuts a write;
    - its expensive calls are charged to its client, and the request refused whole when the
      client's bucket cannot pay.
    Heavy requests take turns before this (api/heavy.py).
    """

    def on_execute(self) -> Iterator[None]:
        ctx = self.execution_context
        context = ctx.context
        request = getattr(context, "request", None)
        if request is None or ctx.graphql_document is None:
            yield
            return
        if ctx.operation_type is OperationType.MUTATION:
            request.state.mutating = True
        limits = limits_of(context)
        schema = ctx.schema._schema
        counted = (
            tally_of_text(schema, ctx.query, ctx.operation_name, limits) if ctx.query else None
        ) or tally(schema, ctx.graphql_document, ctx.operation_name, limits)
        wait = buckets_of(context).take(client_key(context), counted.rate_limited)
        if wait:  # refused whole: nothing of it runs
            burst = context.app.settings.expensive_burst
            ctx.result = ExecutionResult(None, [rate_limited(wait, counted.rate_limited, burst)])
        yield


def timed_out(seconds: float | None, path: Any = None, nodes: Any = None) -> GraphQLError:
    limit = f"its {seconds:g} s" if seconds is not None else "its time"
    return GraphQLError(
        f"the request ran longer than {limit} and was stopped: ask for less (smaller pages,"
        " fewer fields), or start a job for long work",
        nodes,
        path=path,
        extensions={"code": TIMEOUT, "seconds": seconds},
    )


class ReadTimeouts(SchemaExtension):
    """A read the database cut at its statement timeout (the request's time) answers TIMEOUT,
    not the masked message of a bug."""

    def on_execute(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is not None and result.errors:
            result.errors = [_as_timeout(error) for error in result.errors]


def _as_timeout(error: GraphQLError) -> GraphQLError:
    if not isinstance(error.original_error, QueryCanceled):
        return error
    return timed_out(None, error.path, error.nodes)
