"""Probes and the metrics page.

/livez: the process answers (restart it if not). /readyz: it can serve, i.e. the database answers
and no view is failing (send it no traffic if not: 503 with a JSON body that says why). /healthz
is /readyz under its older name. /metrics: Prometheus. Whatever reads the database runs in a
worker thread, never on the event loop.
"""

from typing import Any

import psycopg
import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from psycopg_pool import PoolTimeout
from starlette.concurrency import run_in_threadpool

from api.observability.metrics import CONTENT_TYPE_LATEST, scrape
from projections.health import Operations

log = structlog.get_logger(__name__)
router = APIRouter()


def readiness(operations: Operations) -> tuple[bool, dict[str, Any]]:
    try:
        position, failing = operations.readiness()
    except (psycopg.Error, PoolTimeout) as exc:
        log.warning("readiness.database_unreachable", error=str(exc))
        return False, {"status": "unavailable", "database": "unreachable"}
    if failing:
        return False, {
            "status": "unavailable",
            "database": "ok",
            "failingViews": failing,
            "position": position,
        }
    return True, {"status": "ok", "database": "ok", "position": position}


@router.get("/livez")
async def livez() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
@router.get("/healthz")
async def readyz(request: Request) -> JSONResponse:
    ready, body = await run_in_threadpool(readiness, request.app.state.operations)
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    state = request.app.state
    page = await run_in_threadpool(scrape, state.operations, state.fenrun.reads)
    return Response(page, media_type=CONTENT_TYPE_LATEST)
