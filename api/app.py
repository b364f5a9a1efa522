"""The FastAPI application: GraphQL at /graphql (GraphiQL in a browser), probes at /livez,
/readyz and /healthz, Prometheus metrics at /metrics."""

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from api.bootstrap import Fenrun, bootstrap
from api.graphql.context import Context
from api.graphql.schema import schema
from api.http import GRAPHIQL_ASSETS, STATIC, BodyLimit, GraphQLView
from api.jobs.runner import JobRunner
from api.observability import health
from api.observability.logs import configure_logging
from api.observability.metrics import count_failure
from api.observability.requests import (
    ACTOR_HEADER,
    REQUEST_ID_HEADER,
    RequestContext,
    actor_of,
)
from application.settings import Settings
from projections.health import Operations

log = structlog.get_logger(__name__)


class CatchUpLoop:
    """Keeps the policy and the views caught up with events other processes write (CLI jobs).

    A failed batch is not skipped: it is logged, recorded as the views' last error, and tried
    again on the next tick, so nothing is lost and the error is visible.
    """

    def __init__(self, app: Fenrun) -> None:
        self.app = app
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="fenrun-catch-up", daemon=True)

    def _loop(self) -> None:
        while not self.stopping.wait(self.app.settings.poll_interval_seconds):
            try:
                self.app.catch_up()
            except Exception as exc:
                count_failure("catch_up")
                log.exception("catch_up.failed")
                try:
                    self.app.projections.record_error(exc)
                except Exception:
                    log.exception("catch_up.record_error_failed")

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=10)


def create_app(settings: Settings | None = None, fenrun: Fenrun | None = None) -> FastAPI:
    settings = settings or (fenrun.settings if fenrun else Settings())

    @asynccontextmanager
    async def lifespan(api: FastAPI) -> AsyncIterator[None]:
        # Start-up and shutdown block (database, migrations, a thread join): off the event loop.
        app = fenrun or await run_in_threadpool(bootstrap, settings)
        await run_in_threadpool(app.catch_up)
        loop = CatchUpLoop(app)
        loop.start()
        jobs = JobRunner(app, app.jobs) if app.settings.job_processes else None
        if jobs is not None:
            jobs.start()
        api.state.fenrun = app
        api.state.operations = Operations(
            app.pool, settings.health_timeout_seconds, [app.policy.name, app.level_policy.name]
        )
        try:
            yield
        finally:
            await run_in_threadpool(loop.stop)
            if jobs is not None:
                await run_in_threadpool(jobs.stop)
            if fenrun is None:
                await run_in_threadpool(app.close)

    async def context(request: Request) -> Context:
        actor = actor_of(request.headers.get(ACTOR_HEADER), settings.default_actor)
        return Context(app=request.app.state.fenrun, actor=actor)

    api = FastAPI(title="Fenrun", lifespan=lifespan)
    api.include_router(GraphQLView(schema, context_getter=context), prefix="/graphql")
    api.include_router(health.router)
    api.mount(GRAPHIQL_ASSETS, StaticFiles(directory=STATIC / "graphiql"), name="graphiql")

    # The last added runs first: the request id and its log line wrap everything, CORS answers
    # preflights before the body limit reads anything.
    api.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)
    if settings.cors_origins:
        api.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["content-type", "accept", ACTOR_HEADER, REQUEST_ID_HEADER],
            expose_headers=[REQUEST_ID_HEADER],
            max_age=600,
        )
    api.add_middleware(RequestContext, default_actor=settings.default_actor)
    return api


def serve_app() -> FastAPI:
    """The app as `uvicorn --factory api.app:serve_app` builds it: settings and logs from the
    environment (what `fenrun serve` does, for process managers that start uvicorn themselves)."""
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    return create_app(settings)
