"""From a request's credentials to its Principal: bearer tokens for people.

Embedded tokens name a user only; the user's record (events, as of now) gives its roles and
agent, so a disabled user's tokens stop working at once and a role change applies to tokens
already issued. An external provider's token carries roles and agent code in its claims.
"""

from dataclasses import dataclass

import structlog

from api.auth.issuers import EmbeddedIssuer, ExternalIssuer, InvalidToken
from api.auth.principal import Principal
from application.ledger import Ledger
from application.settings import Settings
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


@dataclass
class Authenticator:
    settings: Settings
    ledger: Ledger
    issuer: EmbeddedIssuer | ExternalIssuer | None  # None: FENRUN_AUTH=off

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

    def bearer(self, authorization: str | None) -> Principal:
        """The principal of an `Authorization: Bearer ...` header. It blocks (the user's
        record, the provider's keys): call it from a worker thread."""
        if self.issuer is None:
            raise RuntimeError("authentication is off")
        if not authorization:
            raise Unauthenticated("missing", "a bearer token is required")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("invalid_request", "use Authorization: Bearer <token>")
        try:
            claims = self.issuer.verify(token.strip())
        except InvalidToken as exc:
            raise Unauthenticated("invalid_token", str(exc)) from None
        if claims.embedded:
            return self._user(claims.subject)
        return self._external(claims.subject, claims.roles, claims.agent_code)

    def _user(self, code: str) -> Principal:
        user = self.ledger.user(code)
        if user is None:
            raise Unauthenticated("invalid_token", f"no user '{code}'")
        if not user.enabled:
            raise Unauthenticated("invalid_token", f"user '{code}' is disabled")
        return Principal(code, frozenset(Role(r) for r in user.roles), user.agent_code)

    def _external(self, subject: str, named: tuple[str, ...], agent: str | None) -> Principal:
        # Providers put other roles in the same claim (offline_access, uma_authorization ...).
        roles = frozenset(Role(r) for r in named if r in _ROLE_NAMES)
        if Role.AGENT in roles and agent is None:
            raise Unauthenticated(
                "invalid_token",
                f"the token gives the agent role but no agent code ({self.settings.auth_agent_claim})",
            )
        return Principal(subject[:MAX_ACTOR_LENGTH], roles, agent if Role.AGENT in roles else None)
