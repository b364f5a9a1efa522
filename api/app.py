"""The FastAPI application: GraphQL at /graphql (GraphiQL in a browser), health at /healthz."""

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool

from api.bootstrap import Fenrun, bootstrap
from api.graphql.context import Context
from api.graphql.schema import schema
from api.http import BodyLimit, GraphQLView
from application.settings import Settings

log = structlog.get_logger(__name__)
ACTOR_HEADER = "x-fenrun-actor"


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
        api.state.fenrun = app
        try:
            yield
        finally:
            await run_in_threadpool(loop.stop)
            if fenrun is None:
                await run_in_threadpool(app.close)

    async def context(request: Request) -> Context:
        actor = request.headers.get(ACTOR_HEADER) or settings.default_actor
        return Context(app=request.app.state.fenrun, actor=actor[:200])

    api = FastAPI(title="Fenrun", lifespan=lifespan)
    api.include_router(GraphQLView(schema, context_getter=context), prefix="/graphql")

    @api.get("/healthz")
    async def healthz(request: Request) -> dict[str, object]:
        app: Fenrun = request.app.state.fenrun
        return {"status": "ok", "position": await run_in_threadpool(app.read.caught_up)}

    api.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)
    return api
