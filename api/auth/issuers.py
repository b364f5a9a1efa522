"""Who signs the tokens people bring: the service itself (the embedded default) or the company's
identity provider (OIDC discovery, JWKS). Verification is PyJWT's, never our own.

The embedded issuer's Ed25519 key is generated on first use in the data folder
(`identity/signing-key.pem`, mode 0600), never a default: verification needs only its public
half, which the service publishes at /.well-known/jwks.json. Several processes sharing a data
folder share the key: the first to need it creates it atomically, the others read it.
"""

import contextlib
import hashlib
import os
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

EMBEDDED_ISSUER = "fenrun"
EMBEDDED_AUDIENCE = "fenrun"
EMBEDDED_ALGORITHM = "EdDSA"
LEEWAY = timedelta(seconds=30)  # clocks of issuer and service differ a little


class InvalidToken(Exception):
    """The bearer token is missing, malformed, expired, or not signed by the issuer."""


@dataclass(frozen=True)
class Claims:
    subject: str
    roles: tuple[str, ...]  # as the token says (the embedded issuer: from the user record)
    agent_code: str | None
    embedded: bool  # issued by this service: the user record decides roles and status
    expires: float | None = None  # the token's exp (seconds since the epoch)


def identity_dir(data_dir: Path) -> Path:
    folder = data_dir / "identity"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def create_once(path: Path, content: bytes) -> bytes:
    """Writes a secret file readable by its owner only, unless another process wrote it first
    (then its content wins): the file appears whole or not at all."""
    if path.exists():
        return path.read_bytes()
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):  # never replaces a key in use
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path.read_bytes()


class EmbeddedIssuer:
    """The service as its own small issuer: `fenrun token` mints, the API verifies."""

    def __init__(self, data_dir: Path) -> None:
        pem = create_once(
            identity_dir(data_dir) / "signing-key.pem",
            Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("identity/signing-key.pem is not an Ed25519 private key")
        self._private = key
        self.public_key = key.public_key()
        jwk = orjson.loads(OKPAlgorithm.to_jwk(self.public_key))
        self.key_id = _thumbprint(jwk)
        self.public_jwk = {**jwk, "kid": self.key_id, "use": "sig", "alg": EMBEDDED_ALGORITHM}

    def mint(self, subject: str, ttl: timedelta, now: datetime | None = None) -> str:
        issued = now or datetime.now(UTC)
        claims = {
            "iss": EMBEDDED_ISSUER,
            "aud": EMBEDDED_AUDIENCE,
            "sub": subject,
            "iat": issued,
            "nbf": issued,
            "exp": issued + ttl,
        }
        return jwt.encode(
            claims, self._private, algorithm=EMBEDDED_ALGORITHM, headers={"kid": self.key_id}
        )

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.public_jwk]}

    def verify(self, token: str) -> Claims:
        try:
            claims = jwt.decode(
                token,
                self.public_key,
                algorithms=[EMBEDDED_ALGORITHM],
                audience=EMBEDDED_AUDIENCE,
                issuer=EMBEDDED_ISSUER,
                leeway=LEEWAY,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from None
        return Claims(str(claims["sub"]), (), None, embedded=True, expires=_expiry(claims))


def _thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638: the key's id is the hash of its required members, so it names the key."""
    required = {name: jwk[name] for name in ("crv", "kty", "x")}
    digest = hashlib.sha256(orjson.dumps(required, option=orjson.OPT_SORT_KEYS)).digest()
    return jwt.utils.base64url_encode(digest).decode()


def claim(claims: Mapping[str, Any], path: str) -> Any:
    """A claim by dotted path (Keycloak's roles are at realm_access.roles)."""
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


class ExternalIssuer:
    """A company's OpenID provider (Keycloak, Casdoor, Authing, Zitadel ...): its keys from its
    JWKS (found by discovery unless configured), refetched when a token names a key id the
    cached set lacks (rotation), at most once per `cooldown` seconds."""

    def __init__(
        self,
        issuer: str,
        audience: str,
        *,
        jwks_url: str | None = None,
        algorithms: tuple[str, ...] = ("RS256", "ES256"),
        subject_claim: str = "sub",
        roles_claim: str = "roles",
        agent_claim: str = "agent_code",
        cooldown: float = 30.0,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.algorithms = list(algorithms)
        self.subject_claim = subject_claim
        self.roles_claim = roles_claim
        self.agent_claim = agent_claim
        self._jwks_url = jwks_url
        self._cooldown = cooldown
        self._client: jwt.PyJWKClient | None = None
        self._discovered_at = 0.0

    def _keys(self) -> jwt.PyJWKClient:
        """Discovery runs when first needed (the provider may start after the service), and
        again after a failure, no more often than the cooldown."""
        if self._client is None:
            if time.monotonic() - self._discovered_at < self._cooldown and self._discovered_at:
                raise InvalidToken("the identity provider's keys are not available yet")
            self._discovered_at = time.monotonic()
            url = self._jwks_url or self._discover()
            self._client = jwt.PyJWKClient(url, timeout=5, cooldown_duration=self._cooldown)
        return self._client

    def _discover(self) -> str:
        where = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        if not where.startswith(("https://", "http://")):
            raise InvalidToken(f"the issuer {self.issuer} is not an http(s) URL")
        try:
            with urllib.request.urlopen(where, timeout=5) as response:  # noqa: S310 (checked)
                document = orjson.loads(response.read())
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise InvalidToken(f"OpenID discovery at {where} failed: {exc}") from None
        if not isinstance(document, dict):
            raise InvalidToken(f"{where} is not an OpenID discovery document")
        if document.get("issuer") != self.issuer or not document.get("jwks_uri"):
            raise InvalidToken(f"{where} does not describe issuer {self.issuer} with a jwks_uri")
        return str(document["jwks_uri"])

    def verify(self, token: str) -> Claims:
        try:
            key = self._keys().get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                key,
                algorithms=self.algorithms,
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from None
        subject = claim(claims, self.subject_claim)
        if not isinstance(subject, str) or not subject:
            raise InvalidToken(f"the token has no '{self.subject_claim}' claim")
        roles = claim(claims, self.roles_claim) or []
        if isinstance(roles, str):
            roles = roles.split()
        agent = claim(claims, self.agent_claim)
        return Claims(
            subject,
            tuple(str(r) for r in roles if isinstance(r, str)),
            str(agent) if agent else None,
            embedded=False,
            expires=_expiry(claims),
        )


def _expiry(claims: Mapping[str, Any]) -> float:
    return float(claims["exp"])  # required, and checked to be a number, by jwt.decode
