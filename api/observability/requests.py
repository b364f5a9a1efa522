"""Per request: an id (the caller's X-Request-ID when it is sane, else a new one) returned in the
response, bound into every log line written while serving it, and one log line when it ends,
with the authenticated caller (api/auth/web.py binds it once known)."""

import re
import time
import uuid

import structlog
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.observability.metrics import count_failure

log = structlog.get_logger(__name__)

REQUEST_ID_HEADER = "x-request-id"
ACTOR_HEADER = "x-fenrun-actor"  # read with FENRUN_AUTH=off only (api/auth/authenticator.py)
# Ids from proxies and tracers (uuids, hex, base64, "svc/123:4") pass; anything that could break
# a log line or a header (spaces, control characters, very long values) is replaced.
_SANE_ID = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")
# Probes and scrapes come every few seconds: their lines are for debugging only.
_QUIET_PATHS = frozenset({"/livez", "/readyz", "/healthz", "/metrics"})


def request_id(given: str | None) -> str:
    if given is not None and _SANE_ID.fullmatch(given):
        return given
    return uuid.uuid4().hex


class ActorHeaderRefused(ValueError):
    """The actor header is not UTF-8 text: it is refused rather than recorded garbled."""


def actor_of(header: str | None) -> str | None:
    """The actor the header names (FENRUN_AUTH=off only). HTTP hands header bytes over as
    latin-1 (starlette decodes them so): the bytes are read again as the UTF-8 the client sent,
    so 财务-1 is recorded as 财务-1, never as mojibake."""
    if not header:
        return None
    try:
        return header.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        raise ActorHeaderRefused(f"the {ACTOR_HEADER} header is not UTF-8 text") from None


class RequestContext:
    """Pure ASGI middleware (no extra task per request, unlike BaseHTTPMiddleware)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        rid = request_id(headers.get(REQUEST_ID_HEADER))
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = rid
            await send(message)

        started = time.perf_counter()
        with structlog.contextvars.bound_contextvars(request_id=rid, actor=None):
            try:
                await self.app(scope, receive, send_with_id)
            except Exception:
                count_failure("http")
                log.exception("request.failed", method=scope["method"], path=scope["path"])
                raise
            finally:
                quiet = scope["path"] in _QUIET_PATHS and status < 500
                principal = scope.get("state", {}).get("principal")
                (log.debug if quiet else log.info)(
                    "request",
                    actor=principal.actor if principal is not None else None,
                    method=scope["method"],
                    path=scope["path"],
                    status=status,
                    ms=round((time.perf_counter() - started) * 1000, 1),
                )
