"""Probes and the metrics page.

/livez: the process answers (restart it if not). /readyz: it can serve, i.e. the database answers
and no view or policy is failing (503 with a JSON body that says why, naming them). A failing
view or policy does not stop writes or the other views (decision 0019): alert on it. /healthz
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
        found = operations.readiness()
    except (psycopg.Error, PoolTimeout) as exc:
        log.warning("readiness.database_unreachable", error=str(exc))
        return False, {"status": "unavailable", "database": "unreachable"}
    if found.failing_views or found.failing_policies:
        body: dict[str, Any] = {"status": "unavailable", "database": "ok"}
        if found.failing_views:
            body["failingViews"] = found.failing_views
        if found.failing_policies:
            body["failingPolicies"] = found.failing_policies
        return False, {**body, "position": found.position}
    return True, {"status": "ok", "database": "ok", "position": found.position}


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
