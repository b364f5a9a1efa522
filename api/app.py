"""The FastAPI application: GraphQL at /graphql (GraphiQL in a browser), probes at /livez,
/readyz and /healthz, Prometheus metrics at /metrics."""

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
import psycopg.sql
import structlog
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from api import (
    carrier_reports,
    payment_callbacks,
    reconciliation_routes,
    rest,
    rest_files,
    statement_routes,
)
from api.auth.authenticator import Unauthenticated
from api.auth.web import (
    authenticate,
    close_user_versions,
    identity_routes,
    open_user_versions,
    refuse_open_without_auth,
    start_identity,
    unauthenticated,
)
from api.bootstrap import Fenrun, bootstrap
from api.graphql.context import MIN_POSITION_HEADER, Context
from api.graphql.persisted import PersistedQueries
from api.graphql.schema import schema
from api.http import GRAPHIQL_ASSETS, STATIC, BodyLimit, GraphQLView
from api.jobs.runner import JobRunner
from api.observability import health
from api.observability.logs import configure_logging
from api.observability.requests import ACTOR_HEADER, REQUEST_ID_HEADER, RequestContext
from application.settings import Settings
from domain.errors import LedgerError
from projections.health import Operations
from projections.positions import PositionNotReady

log = structlog.get_logger(__name__)


class CatchUpLoop:
    """Keeps the policy and the views caught up with events other processes write (CLI jobs).

    A part that fails on an event stops just before it and records why (decision 0019); a round
    that fails otherwise (a lost connection) is logged, counted (by the workflows), shown as the
    views' last error, and tried again after a wait that doubles while it keeps failing.

    Every save NOTIFYs the log's channel (application/log.py): a listener asks the background
    for a round at once, whoever wrote, so reads waiting for a position are not held for a
    poll interval (decision 0036); the loop's polling stays as the fallback.
    """

    MOST_WAIT_SECONDS = 30.0

    def __init__(self, app: Fenrun) -> None:
        self.app = app
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="fenrun-catch-up", daemon=True)
        self.listener = threading.Thread(target=self._listen, name="fenrun-listen", daemon=True)

    def _listen(self) -> None:
        channel = psycopg.sql.Identifier(self.app.ledger.recorder.channel_name)  # type: ignore[attr-defined]
        while not self.stopping.is_set():
            try:
                with psycopg.connect(self.app.dsn, autocommit=True) as conn:
                    conn.execute(psycopg.sql.SQL("LISTEN {}").format(channel))
                    while not self.stopping.is_set():
                        # A short wait: stopping is seen within it (a server's shutdown, and
                        # every e2e test's, waited out half a second here); a wake-up is a poll.
                        for _ in conn.notifies(timeout=0.1, stop_after=1):
                            self.app.workflows.nudge()
            except psycopg.Error:
                log.warning("catch_up.listen_failed", exc_info=True)  # polling goes on meanwhile
                self.stopping.wait(self.app.settings.poll_interval_seconds)

    def _loop(self) -> None:
        poll = self.app.settings.poll_interval_seconds
        failed_rounds = 0
        while not self.stopping.wait(min(self.MOST_WAIT_SECONDS, poll * 2**failed_rounds)):
            finished = self.app.workflows.round()
            failed_rounds = failed_rounds + 1 if finished.failures else 0
            if "views" in finished.failures:
                try:
                    self.app.projections.record_error(finished.failures["views"])
                except Exception:
                    log.exception("catch_up.record_error_failed")

    def start(self) -> None:
        self.thread.start()
        self.listener.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=10)
        self.listener.join(timeout=10)


async def refused(_: Request, exc: LedgerError) -> JSONResponse:
    """A refusal that reached no route's own handling (a file name the audit cannot hold, a
    malformed upload): the caller's input is at fault, so 422 with the code, never a 500."""
    error = {"code": exc.code, "field": exc.field, "message": exc.message}
    return JSONResponse({"userErrors": [error]}, status_code=422)


async def not_ready(_: Request, exc: PositionNotReady) -> JSONResponse:
    """A position the views have not reached: 409, as the GraphQL reads answer it."""
    return JSONResponse({"detail": str(exc), "code": "POSITION_NOT_READY"}, status_code=409)


def create_app(settings: Settings | None = None, fenrun: Fenrun | None = None) -> FastAPI:
    settings = settings or (fenrun.settings if fenrun else Settings())
    refuse_open_without_auth(settings)

    @asynccontextmanager
    async def lifespan(api: FastAPI) -> AsyncIterator[None]:
        # Start-up and shutdown block (database, migrations, a thread join): off the event loop.
        app = fenrun or await run_in_threadpool(bootstrap, settings)
        try:
            identity = await run_in_threadpool(start_identity, app, settings)
        except BaseException:
            if fenrun is None:
                await run_in_threadpool(app.close)
            raise
        api.state.auth, api.state.signed_requests = identity
        # Never fails the start: a part that fails is logged and shown by /readyz (issue 9).
        await run_in_threadpool(app.workflows.round)
        loop = CatchUpLoop(app)
        loop.start()
        jobs = JobRunner(app, app.jobs) if app.settings.job_processes else None
        if jobs is not None:
            jobs.start()
        api.state.fenrun = app
        policies = [app.policy.name, app.level_policy.name]
        if app.payout_policy is not None:
            policies.append(app.payout_policy.name)
        api.state.operations = Operations(app.pool, settings.health_timeout_seconds, policies)
        open_user_versions(api.state.auth, app)
        try:
            yield
        finally:
            await close_user_versions(api.state.auth)
            await run_in_threadpool(loop.stop)
            if jobs is not None:
                await run_in_threadpool(jobs.stop)
            if fenrun is None:
                await run_in_threadpool(app.close)

    async def context(request: Request) -> Context:
        principal = await authenticate(request)
        return Context(
            app=request.app.state.fenrun,
            principal=principal,
            min_position=request.headers.get(MIN_POSITION_HEADER),
        )

    api = FastAPI(title="Fenrun", lifespan=lifespan)
    persisted = PersistedQueries.of(settings.persisted_queries_file)
    graphql = GraphQLView(schema, context_getter=context, persisted=persisted)
    # POST (every operation but the IDE and GET queries) straight to the view: matched first.
    api.add_route("/graphql", graphql.handle_post, methods=["POST"], include_in_schema=False)
    api.include_router(graphql, prefix="/graphql")
    api.include_router(health.router)
    api.include_router(identity_routes)
    api.include_router(rest.router)
    api.include_router(payment_callbacks.router)
    api.include_router(statement_routes.router)
    api.include_router(rest_files.router)
    api.include_router(reconciliation_routes.router)
    api.include_router(carrier_reports.router)
    api.add_exception_handler(Unauthenticated, unauthenticated)  # type: ignore[arg-type]
    api.add_exception_handler(LedgerError, refused)  # type: ignore[arg-type]
    api.add_exception_handler(PositionNotReady, not_ready)  # type: ignore[arg-type]
    api.mount(GRAPHIQL_ASSETS, StaticFiles(directory=STATIC / "graphiql"), name="graphiql")

    # The last added runs first: the request id and its log line wrap everything, CORS answers
    # preflights before the body limit reads anything.
    api.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)
    if settings.cors_origins:
        api.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=[
                "content-type",
                "accept",
                "authorization",
                *([ACTOR_HEADER] if settings.auth == "off" else []),
                REQUEST_ID_HEADER,
                MIN_POSITION_HEADER,
            ],
            expose_headers=[REQUEST_ID_HEADER],
            max_age=600,
        )
    api.add_middleware(RequestContext)
    return api


def serve_app() -> FastAPI:
    """The app as `uvicorn --factory api.app:serve_app` builds it: settings and logs from the
    environment (what `fenrun serve` does, for process managers that start uvicorn themselves)."""
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    return create_app(settings)
