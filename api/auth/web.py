"""Authentication at the HTTP edge: the principal of each GraphQL request, 401 with a
WWW-Authenticate challenge, the embedded issuer's public keys, and the refusal to run without
authentication anywhere but on loopback."""

import ipaddress

import structlog
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from api.auth.authenticator import Authenticator, Unauthenticated
from api.auth.principal import Principal
from api.auth.sealing import Sealer
from api.auth.signatures import SignedRequests
from api.auth.versions import UserVersions
from api.bootstrap import Fenrun
from api.observability.requests import ACTOR_HEADER, ActorHeaderRefused, actor_of
from application.settings import Settings

log = structlog.get_logger(__name__)
identity_routes = APIRouter()
NOBODY = Principal("anonymous")  # the GraphiQL page itself: it executes nothing


def loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refuse_open_without_auth(settings: Settings) -> None:
    """FENRUN_AUTH=off only where nobody else can reach the port."""
    if settings.auth == "off" and not loopback(settings.host):
        raise RuntimeError(
            f"FENRUN_AUTH=off is refused on {settings.host}: without authentication anyone who"
            " reaches the port may do anything. Listen on 127.0.0.1 or turn authentication on."
        )


def start_identity(app: Fenrun, settings: Settings) -> tuple[Authenticator, SignedRequests]:
    """At start: the embedded issuer's key (created on first start), the sealing key."""
    auth = Authenticator.of(settings, app.ledger)
    if auth.off:
        log.warning(
            "authentication.off",
            message="FENRUN_AUTH=off: every caller may do everything and names itself in"
            " X-Fenrun-Actor. Never run this where others can reach the port.",
            host=settings.host,
        )
    else:
        log.info("authentication.on", issuer=settings.auth_issuer or "embedded")
    return auth, SignedRequests(app.ledger, app.pool, Sealer.of(settings))


def open_user_versions(auth: Authenticator, app: Fenrun) -> None:
    """Embedded users' versions read on the app's event loop (it connects when first asked)."""
    if auth.embedded() is not None:
        auth.versions = UserVersions.of(app.dsn, app.ledger.recorder)


async def close_user_versions(auth: Authenticator) -> None:
    versions, auth.versions = auth.versions, None
    if versions is not None:
        await versions.close()


def _wants_graphiql(request: Request) -> bool:
    return (
        request.method == "GET"
        and "text/html" in request.headers.get("accept", "")
        and "query" not in request.query_params
    )


async def authenticate(request: Request) -> Principal:
    """The caller of a GraphQL request, or Unauthenticated (HTTP 401)."""
    auth: Authenticator = request.app.state.auth
    if auth.off:
        try:
            named = actor_of(request.headers.get(ACTOR_HEADER))
        except ActorHeaderRefused as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None
        principal = auth.unchecked(named)
    elif _wants_graphiql(request):
        principal = NOBODY
    else:
        principal = await auth.bearer(request.headers.get("authorization"))
    request.state.principal = principal
    structlog.contextvars.bind_contextvars(actor=principal.actor)
    return principal


async def unauthenticated(request: Request, exc: Unauthenticated) -> JSONResponse:
    body = {"errors": [{"message": exc.description, "extensions": {"code": "UNAUTHENTICATED"}}]}
    return JSONResponse(body, status_code=401, headers={"WWW-Authenticate": exc.challenge()})


@identity_routes.get("/.well-known/jwks.json", include_in_schema=False)
async def jwks(request: Request) -> JSONResponse:
    """The embedded issuer's public key, for anyone who verifies its tokens."""
    issuer = request.app.state.auth.embedded()
    if issuer is None:
        raise HTTPException(404, "the service is not the issuer of its tokens")
    return JSONResponse(issuer.jwks(), headers={"Cache-Control": "max-age=300"})
