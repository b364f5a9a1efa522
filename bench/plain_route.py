"""The baseline of bench/graphql_reads.py: a plain Starlette + psycopg + orjson route serving
the same rows as the same JSON as the GraphQL reads it is compared with (issue 15).

`uvicorn --factory bench.plain_route:app` with BENCH_DSN (the database) and BENCH_POSITION (the
log position the views reached: the GraphQL side reads there too; nothing writes during the
run). One pooled connection per request and one statement, no authentication, no validation:
what serving these rows costs with nothing else in the way.
"""

from __future__ import annotations

import os
from typing import Any

import orjson
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.money import format_money

# The rows `commissions(first: N)` reads (projections/queries.py), as of the position.
COMMISSIONS = (
    "SELECT l.id, l.agent_code, l.kind, h.status, h.amount_fen, l.recorded_at"
    " FROM (SELECT * FROM commission_lines WHERE position <= %(at)s"
    "  ORDER BY position, id LIMIT %(limit)s) l"
    " JOIN LATERAL (SELECT status, amount_fen FROM commission_status_history h"
    "   WHERE h.commission_id = l.id AND h.position <= %(at)s"
    "   ORDER BY h.position DESC LIMIT 1) h ON true"
    " ORDER BY l.position, l.id"
)
WALLET = (
    "SELECT available, frozen FROM wallet_balance_history"
    " WHERE agent_code = %(agent)s AND position <= %(at)s ORDER BY position DESC LIMIT 1"
)


def _json(body: Any) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


def app() -> Starlette:
    dsn = os.environ["BENCH_DSN"]
    at = int(os.environ["BENCH_POSITION"])
    pool = AsyncConnectionPool(dsn, min_size=4, max_size=16, open=False)

    async def commissions(request: Request) -> Response:
        first = int(request.query_params.get("first", "100"))
        async with pool.connection() as conn:
            cur = await conn.execute(COMMISSIONS, {"at": at, "limit": first})
            rows = await cur.fetchall()
        edges = [
            {
                "node": {
                    "id": r[0],
                    "agentCode": r[1],
                    "kind": r[2],
                    "status": r[3],
                    "amount": format_money(r[4]),
                    "recordedAt": r[5].isoformat(),
                }
            }
            for r in rows
        ]
        return _json({"data": {"commissions": {"edges": edges}}})

    async def wallet(request: Request) -> Response:
        agent = request.query_params["agent"]
        async with pool.connection() as conn:
            cur = await conn.execute(WALLET, {"agent": agent, "at": at})
            row = await cur.fetchone()
        available, frozen = row if row else (0, 0)
        body = {"available": format_money(available), "frozen": format_money(frozen)}
        return _json({"data": {"wallet": body}})

    async def typename(request: Request) -> Response:
        return _json({"data": {"__typename": "Query"}})

    async def lifespan(_: Starlette) -> Any:
        await pool.open()
        yield
        await pool.close()

    return Starlette(
        routes=[
            Route("/commissions", commissions, methods=["GET", "POST"]),
            Route("/wallet", wallet, methods=["GET", "POST"]),
            Route("/typename", typename, methods=["GET", "POST"]),
            Route("/readyz", typename),
        ],
        lifespan=lifespan,
    )
