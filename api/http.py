"""GraphQL over HTTP: media types, status codes and request limits (GraphQL-over-HTTP spec), the
request's deadline, and the GraphiQL page with its assets served from the package."""

import asyncio
import functools
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
from cross_web import HTTPException
from graphql import GraphQLError
from starlette.background import BackgroundTasks
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.fastapi import GraphQLRouter
from strawberry.http import GraphQLHTTPResponse
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types import ExecutionResult

from api.graphql.cost import Limits
from api.graphql.limits import RATE_LIMITED, TIMEOUT, timed_out
from api.graphql.persisted import PersistedQueries
from api.heavy import is_heavy, run_heavy

GRAPHQL_RESPONSE = "application/graphql-response+json"
STATIC = Path(__file__).resolve().parent / "static"
GRAPHIQL_ASSETS = "/static/graphiql"  # where create_app mounts STATIC / "graphiql"


@functools.cache
def _graphiql_page() -> str:
    return (STATIC / "graphiql.html").read_text(encoding="utf-8")


def wants_graphql_response(accept: str | None) -> bool:
    return bool(accept) and GRAPHQL_RESPONSE in accept  # type: ignore[operator]


class GraphQLView(GraphQLRouter):
    """strawberry's router, plus the newer media type: with it, a request that fails to parse or
    validate gets 400 and no `data` key; responses are encoded with orjson. Operations may be
    held to an allow-list of persisted queries (api/graphql/persisted.py)."""

    def __init__(
        self,
        *args: Any,
        context_getter: Callable[[Request], Awaitable[Any]],
        persisted: PersistedQueries | None = None,
        **kwargs: Any,
    ):
        super().__init__(*args, context_getter=context_getter, **kwargs)
        self.persisted = persisted or PersistedQueries(None)
        self.make_context = context_getter

    async def handle_post(self, request: Request) -> Response:
        """POST as the router answers it, without FastAPI's dependency solving around it
        (measured: about a sixth of a light request's CPU, decision 0035). The context is the
        router's: the app's own, with the request; create_app routes POST here."""
        context = await self.make_context(request)
        context.request = request
        context.background_tasks = BackgroundTasks()
        context.response = Response()
        try:
            response = await self.run(request=request, context=context, root_value=None)
        except HTTPException as exc:
            return PlainTextResponse(exc.reason, status_code=exc.status_code)
        if context.background_tasks.tasks:  # none today; run as the router would
            response.background = context.background_tasks
        return response

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        # strawberry's page loads its scripts from a CDN; ours from this service, behind
        # whatever prefix a proxy mounts it under.
        assets = request.scope.get("root_path", "") + GRAPHIQL_ASSETS
        return HTMLResponse(_graphiql_page().replace("STATIC/", f"{assets}/"))

    async def get_sub_response(self, request: Request) -> Response:
        response = Response()  # one per request; the default is shared between requests
        response.headers["content-type"] = (
            GRAPHQL_RESPONSE
            if wants_graphql_response(request.headers.get("accept"))
            else "application/json"
        )
        return response

    async def execute_single(  # type: ignore[override]
        self,
        request: Request,
        request_adapter: Any,
        sub_response: Response,
        context: Any,
        root_value: Any,
        request_data: Any,
    ) -> ExecutionResult:
        """Runs the request within its deadline: a query over it is cut and answered TIMEOUT (its
        reads are cut by the database's statement timeout too). A mutation is never cut: once
        it runs, its answer must say what it did (the mark is set just before execution).
        A heavy request first waits its turn (api/heavy.py); the deadline counts the wait."""
        settings = request.app.state.fenrun.settings
        seconds = settings.request_timeout_seconds
        # A persisted query's hash becomes its document before anything measures it.
        request_data = self.persisted.resolve(request_data, context.principal)

        def execute() -> Awaitable[ExecutionResult]:
            return self._execute(
                request, request_adapter, sub_response, context, root_value, request_data
            )

        limits = Limits(settings.max_query_cost, settings.max_page_size)
        if is_heavy(self.schema._schema, request_data.query, request_data.operation_name, limits):
            work = run_heavy(request.app.state, settings.heavy_requests_at_once, execute)
        else:
            work = execute()
        running = asyncio.ensure_future(work)
        try:
            return await asyncio.wait_for(asyncio.shield(running), seconds)
        except TimeoutError:
            if getattr(request.state, "mutating", False):
                return await running
            running.cancel()
            return ExecutionResult(data=None, errors=[timed_out(seconds)])

    async def _execute(
        self,
        request: Request,
        request_adapter: Any,
        sub_response: Response,
        context: Any,
        root_value: Any,
        request_data: Any,
    ) -> ExecutionResult:
        try:
            return await super().execute_single(
                request=request,
                request_adapter=request_adapter,
                sub_response=sub_response,
                context=context,
                root_value=root_value,
                request_data=request_data,
            )
        except HTTPException as exc:
            # A mutation sent with GET: the method is what is wrong (GraphQL over HTTP: 405).
            if request_adapter.method == "GET" and isinstance(
                exc.__cause__, InvalidOperationTypeError
            ):
                raise HTTPException(405, exc.reason) from exc
            raise

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        data: dict[str, Any] = await super().process_result(request, result)  # type: ignore[assignment]
        if (
            wants_graphql_response(request.headers.get("accept"))
            and result.data is None
            and result.errors
            and not any(_code(e) == TIMEOUT for e in result.errors)  # it ran: not a bad request
        ):
            data.pop("data", None)  # the request never executed
            request.state.graphql_status = 400
        return data  # type: ignore[return-value]

    def encode_json(self, data: object) -> bytes:  # type: ignore[override]
        return orjson.dumps(data)

    def create_response(self, response_data: Any, sub_response: Response) -> Response:
        media_type = sub_response.headers.get("content-type", "application/json")
        status = (
            400
            if media_type == GRAPHQL_RESPONSE
            and isinstance(response_data, dict)
            and "data" not in response_data
            else (sub_response.status_code or 200)
        )
        retry_after = _refused_for_rate(response_data)
        if retry_after is not False:
            status = 429
        response = Response(
            self.encode_json(response_data), status_code=status, media_type=media_type
        )
        for key, value in sub_response.headers.items():
            if key not in ("content-type", "content-length"):
                response.headers[key] = value
        if retry_after not in (False, None):
            response.headers["retry-after"] = str(retry_after)
        return response


def _code(error: GraphQLError) -> object:
    return (error.extensions or {}).get("code")


def _refused_for_rate(response_data: Any) -> object:
    """The retry-after seconds (None: unknown) when the rate limit refused the whole request;
    False when it did not."""
    if not isinstance(response_data, dict) or response_data.get("data") is not None:
        return False
    errors = response_data.get("errors") or []
    limited = [e for e in errors if (e.get("extensions") or {}).get("code") == RATE_LIMITED]
    if not limited or len(limited) != len(errors):
        return False
    return limited[0]["extensions"].get("retryAfter")


class BodyLimit:
    """Refuses request bodies over the limit with 413 before they reach the application."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _too_large(send, self.max_bytes)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _BodyTooLarge:
            await _too_large(send, self.max_bytes)


class _BodyTooLarge(Exception):
    pass


async def _too_large(send: Send, limit: int) -> None:
    body = orjson.dumps({"errors": [{"message": f"request body over {limit} bytes"}]})
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
