"""Heavy requests take turns (api/heavy.py): which are heavy, and that they never overlap."""

import asyncio

from api.graphql.cost import Limits
from api.graphql.schema import schema
from api.heavy import is_heavy, run_heavy

LIMITS = Limits(max_cost=500, max_page=100)


def heavy(query: str, operation: str | None = None) -> bool:
    return is_heavy(schema._schema, query, operation, LIMITS)


def test_light_reads_are_not_heavy_and_large_pages_are() -> None:
    assert not heavy('{ wallet(agentCode: "A") { available } }')
    assert not heavy("{ commissions(first: 20) { edges { node { id } } } }")  # 42 of 500
    assert heavy("{ commissions(first: 100) { edges { node { id } } } }")  # 202 of 500
    assert not heavy("{ broken")  # strawberry answers the syntax error
    assert not heavy("")


def test_simulations_are_not_heavy_here_their_job_process_bears_them() -> None:
    query = (
        'query { simulatePlan(code: "ml", rules: [], from: "2026-03-01T00:00:00+08:00")'
        " { userErrors { code } } }"
    )
    assert not heavy(query)


def test_the_operation_named_decides() -> None:
    document = (
        'query Light { wallet(agentCode: "A") { debt } }'
        " query Heavy { commissions(first: 100) { edges { node { id } } } }"
    )
    assert not heavy(document, "Light")
    assert heavy(document, "Heavy")


class State:
    pass


def test_heavy_requests_run_one_at_a_time() -> None:
    running, most = 0, 0

    async def request() -> int:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.01)
        running -= 1
        return 1

    async def four() -> list[int]:
        state = State()
        return await asyncio.gather(*(run_heavy(state, 1, request) for _ in range(4)))

    assert asyncio.run(four()) == [1, 1, 1, 1]
    assert most == 1


def test_a_texts_tally_is_worked_out_once_and_is_the_documents() -> None:
    from graphql import parse

    from api.graphql.cost import tally, tally_of_text

    text = "{ commissions(first: 100) { edges { node { id } } } }"
    first = tally_of_text(schema._schema, text, None, LIMITS)
    assert first == tally(schema._schema, parse(text), None, LIMITS)
    assert first is not None
    assert first.cost == 202
    assert tally_of_text(schema._schema, text, None, LIMITS) is first  # kept, not walked again
    other = Limits(max_cost=500, max_page=10)  # other limits: another tally
    assert tally_of_text(schema._schema, text, None, other) != first
    assert tally_of_text(schema._schema, "{ broken", None, LIMITS) is None
