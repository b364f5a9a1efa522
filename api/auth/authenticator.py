"""From a request's credentials to its Principal: bearer tokens for people.

Embedded tokens name a user only; the user's record (events, as of now) gives its roles and
agent, so a disabled user's tokens stop working at once and a role change applies to tokens
already issued. An external provider's token carries roles and agent code in its claims.

The user's record is kept between requests (`KnownUsers`) with the version it was loaded at;
every request still reads the user's latest version from the log (one indexed read) and loads
the record again when it moved, so a disabled user or a changed role applies on the very next
request, as before, without loading the aggregate each time (decision 0035).

An embedded token's signature and claims are verified once (`VerifiedTokens`: the service's
own key never changes while it runs); later requests with it check only its expiry. A
provider's tokens are verified each time: a key it withdraws refuses them at once. The version read runs on the event loop (api/auth/versions.py): a
request whose token and user answer are known pays no worker-thread hop (decision 0041).
"""

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import structlog
from starlette.concurrency import run_in_threadpool

from api.auth.issuers import LEEWAY, Claims, EmbeddedIssuer, ExternalIssuer, InvalidToken
from api.auth.principal import Principal
from api.auth.versions import UserVersions
from application.ledger import Ledger
from application.settings import Settings
from domain.common import aggregate_id
from domain.identity import Role

log = structlog.get_logger(__name__)
MAX_ACTOR_LENGTH = 200
REALM = "fenrun"
_ROLE_NAMES = frozenset(r.value for r in Role)


class Unauthenticated(Exception):
    """No credentials, or credentials that do not hold: HTTP 401."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error  # RFC 6750: invalid_request | invalid_token
        self.description = description

    def challenge(self) -> str:
        """The WWW-Authenticate header value (RFC 6750 §3)."""
        safe = self.description.replace('"', "'")[:200]
        if self.error == "missing":
            return f'Bearer realm="{REALM}"'
        return f'Bearer realm="{REALM}", error="{self.error}", error_description="{safe}"'


class KnownUsers:
    """What the embedded users' records answered (a principal, or why they are refused), by
    user code, with the version of the record it was worked out from. Bounded: least recently
    used first out."""

    MAX_USERS = 10_000

    def __init__(self, max_users: int = MAX_USERS) -> None:
        self.max_users = max_users
        self._known: OrderedDict[str, tuple[int, Principal | str]] = OrderedDict()
        self._lock = threading.Lock()  # requests authenticate on several worker threads

    def get(self, code: str, version: int) -> Principal | str | None:
        """The answer worked out at exactly this version, else None."""
        with self._lock:
            found = self._known.get(code)
            if found is None or found[0] != version:
                return None
            self._known.move_to_end(code)
            return found[1]

    def put(self, code: str, version: int, answer: Principal | str) -> None:
        with self._lock:
            self._known[code] = (version, answer)
            self._known.move_to_end(code)
            while len(self._known) > self.max_users:
                self._known.popitem(last=False)


class VerifiedTokens:
    """Claims of embedded tokens the service verified, by token text, until they expire: a
    token is immutable and the key that signed it stays, so its signature, issuer and audience
    hold for as long as it does. Only
    verified tokens are kept (a bad one is verified, and refused, each time). Bounded: least
    recently used first out."""

    MAX_TOKENS = 10_000

    def __init__(self, max_tokens: int = MAX_TOKENS) -> None:
        self.max_tokens = max_tokens
        self._verified: OrderedDict[str, Claims] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token: str, now: float) -> Claims | None:
        """The kept claims, None when not kept; InvalidToken once the token has expired (with
        the issuer's leeway, as jwt.decode judges it)."""
        with self._lock:
            claims = self._verified.get(token)
            if claims is None:
                return None
            if claims.expires is not None and claims.expires <= now - LEEWAY.total_seconds():
                del self._verified[token]
                raise InvalidToken("Signature has expired")
            self._verified.move_to_end(token)
            return claims

    def put(self, token: str, claims: Claims) -> None:
        with self._lock:
            self._verified[token] = claims
            while len(self._verified) > self.max_tokens:
                self._verified.popitem(last=False)


@dataclass
class Authenticator:
    settings: Settings
    ledger: Ledger
    issuer: EmbeddedIssuer | ExternalIssuer | None  # None: FENRUN_AUTH=off
    known: KnownUsers = field(default_factory=KnownUsers)
    tokens: VerifiedTokens = field(default_factory=VerifiedTokens)
    # Set while the app runs (api/auth/web.py): users' versions read on the event loop.
    versions: UserVersions | None = None

    @classmethod
    def of(cls, settings: Settings, ledger: Ledger) -> "Authenticator":
        if settings.auth == "off":
            return cls(settings, ledger, None)
        if settings.auth_issuer is not None:
            assert settings.auth_audience is not None  # the settings refuse one without
            issuer: EmbeddedIssuer | ExternalIssuer = ExternalIssuer(
                settings.auth_issuer,
                settings.auth_audience,
                jwks_url=settings.auth_jwks_url,
                algorithms=tuple(settings.auth_algorithms),
                subject_claim=settings.auth_subject_claim,
                roles_claim=settings.auth_roles_claim,
                agent_claim=settings.auth_agent_claim,
                cooldown=settings.auth_jwks_refresh_seconds,
            )
        else:
            issuer = EmbeddedIssuer(settings.data_dir)
        return cls(settings, ledger, issuer)

    @property
    def off(self) -> bool:
        return self.issuer is None

    def embedded(self) -> EmbeddedIssuer | None:
        return self.issuer if isinstance(self.issuer, EmbeddedIssuer) else None

    def unchecked(self, named: str | None) -> Principal:
        """FENRUN_AUTH=off: whoever the X-Fenrun-Actor header names, allowed everything."""
        subject = (named or self.settings.default_actor)[:MAX_ACTOR_LENGTH]
        return Principal(subject, frozenset(Role), unchecked=True, via="off")

    async def bearer(self, authorization: str | None) -> Principal:
        """The principal of an `Authorization: Bearer ...` header. Anything that blocks (a
        first verification, which may fetch the provider's keys; loading a user's record)
        runs in a worker thread."""
        if self.issuer is None:
            raise RuntimeError("authentication is off")
        if not authorization:
            raise Unauthenticated("missing", "a bearer token is required")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("invalid_request", "use Authorization: Bearer <token>")
        try:
            claims = self.tokens.get(token, time.time())
            if claims is None:
                claims = await run_in_threadpool(self.issuer.verify, token)
                if claims.embedded:  # a provider's key may be withdrawn: verified each time
                    self.tokens.put(token, claims)
        except InvalidToken as exc:
            raise Unauthenticated("invalid_token", str(exc)) from None
        if claims.embedded:
            return await self._user(claims.subject)
        return self._external(claims.subject, claims.roles, claims.agent_code)

    async def _user(self, code: str) -> Principal:
        # The latest version first: an answer kept from an older version is never used.
        version = await self._version_of(code)
        if version is None:
            raise Unauthenticated("invalid_token", f"no user '{code}'")
        answer = self.known.get(code, version)
        if answer is None:
            answer = await run_in_threadpool(self._answer_from_record, code)
        if isinstance(answer, str):
            raise Unauthenticated("invalid_token", answer)
        return answer

    async def _version_of(self, code: str) -> int | None:
        if self.versions is not None:
            try:
                return await self.versions.version_of(aggregate_id("user", code))
            except Exception:
                # The event store's read, as before: it retries a lost server for seconds.
                log.warning("user_version.read_failed", exc_info=True)
        return await run_in_threadpool(self.ledger.version_of, "user", code)

    def _answer_from_record(self, code: str) -> Principal | str:
        """The user's record, loaded: its principal or why it is refused, kept under the
        version it was loaded at (it may be newer than the version read before)."""
        user = self.ledger.user(code)
        if user is None:  # not reachable: the log has its events (kept for the type)
            return f"no user '{code}'"
        answer = (
            Principal(code, frozenset(Role(r) for r in user.roles), user.agent_code)
            if user.enabled
            else f"user '{code}' is disabled"
        )
        self.known.put(code, user.version, answer)
        return answer

    def _external(self, subject: str, named: tuple[str, ...], agent: str | None) -> Principal:
        # Providers put other roles in the same claim (offline_access, uma_authorization ...).
        roles = frozenset(Role(r) for r in named if r in _ROLE_NAMES)
        if Role.AGENT in roles and agent is None:
            raise Unauthenticated(
                "invalid_token",
                f"the token gives the agent role but no agent code ({self.settings.auth_agent_claim})",
            )
        return Principal(subject[:MAX_ACTOR_LENGTH], roles, agent if Role.AGENT in roles else None)
