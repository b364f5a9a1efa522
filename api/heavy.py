"""Heavy requests take turns (decision 0020).

A request whose own work costs over a tenth of `max_query_cost` is heavy. At most
`heavy_requests_at_once` run at once in a process; the others wait their turn on the event loop,
holding no thread (their deadline counts the wait). However many clients send the largest
requests, a light read then shares the process with a bounded amount of work. Measured by
`python -m bench --only cost`. (Running heavy requests in a thread with an event loop of their
own was measured too, and was worse: the light reads then wait for the interpreter lock at each
hop between the event loop and the database threads.)
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from graphql import GraphQLSchema

from api.graphql.cost import MAX_TOKENS, Limits, tally_of_text

T = TypeVar("T")
HEAVY_SHARE = 10  # over 1/HEAVY_SHARE of the limit is heavy
__all__ = ["MAX_TOKENS", "is_heavy", "run_heavy"]


def is_heavy(
    schema: GraphQLSchema, query: str | None, operation_name: str | None, limits: Limits
) -> bool:
    counted = tally_of_text(schema, query, operation_name, limits) if query else None
    return counted is not None and counted.local * HEAVY_SHARE > limits.max_cost


def _turns(state: Any, at_once: int) -> asyncio.Semaphore:
    """The app's turns (one set per FastAPI app, so per process)."""
    found = getattr(state, "heavy_turns", None)
    if found is None:
        found = state.heavy_turns = asyncio.Semaphore(at_once)
    return found


async def run_heavy(state: Any, at_once: int, make: Callable[[], Awaitable[T]]) -> T:
    """Waits for a turn (holding no thread), then runs the request."""
    async with _turns(state, at_once):
        return await make()
