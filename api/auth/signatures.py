"""Machines' requests: an API key's HMAC-SHA256 signature over the request, a timestamp within
five minutes, and a nonce accepted once (stored until the window has passed: migration 0012).

Headers: X-Fenrun-Key (the key id), X-Fenrun-Timestamp (Unix seconds), X-Fenrun-Nonce (16-64
of A-Z a-z 0-9 _ -), X-Fenrun-Signature (hex). The signed text is, joined by newlines:
METHOD, the path with its query string, the timestamp, the nonce, and the hex SHA-256 of the
body. The signature is checked before the nonce is stored, so nobody can spend another's nonces.
"""

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from psycopg_pool import ConnectionPool

from api.auth.authenticator import Unauthenticated
from api.auth.principal import Principal
from api.auth.sealing import Sealer, SealingError
from application.ledger import Ledger
from domain.identity import Scope

WINDOW = timedelta(minutes=5)
KEY, TIMESTAMP, NONCE, SIGNATURE = (
    "x-fenrun-key",
    "x-fenrun-timestamp",
    "x-fenrun-nonce",
    "x-fenrun-signature",
)
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")


def signed_text(method: str, target: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    return "\n".join((method.upper(), target, timestamp, nonce, digest)).encode()


def sign(secret: str, method: str, target: str, timestamp: str, nonce: str, body: bytes) -> str:
    """What a client sends in X-Fenrun-Signature (documented for integrators)."""
    text = signed_text(method, target, timestamp, nonce, body)
    return hmac.new(secret.encode(), text, hashlib.sha256).hexdigest()


def _refused(description: str) -> Unauthenticated:
    return Unauthenticated("invalid_signature", description)


@dataclass
class SignedRequests:
    ledger: Ledger
    pool: ConnectionPool
    sealer: Sealer

    def verify(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes,
        scope: Scope,
        now: datetime | None = None,
    ) -> Principal:
        """The machine behind a signed request, or Unauthenticated. Blocks (the key's record,
        the nonce table): call it from a worker thread."""
        now = now or datetime.now(UTC)
        key_id, stamp, nonce, given = (headers.get(h) for h in (KEY, TIMESTAMP, NONCE, SIGNATURE))
        if not (key_id and stamp and nonce and given):
            raise Unauthenticated("missing", f"sign the request ({KEY}, {TIMESTAMP}, ...)")
        if not stamp.isdigit() or abs(now.timestamp() - int(stamp)) > WINDOW.total_seconds():
            raise _refused("the timestamp is not within 5 minutes of the server's clock")
        if not _NONCE.fullmatch(nonce):
            raise _refused("the nonce must be 16-64 characters of A-Z a-z 0-9 _ -")
        key = self.ledger.api_key(key_id) if len(key_id) <= 64 else None
        if key is None or key.revoked:
            raise _refused("unknown or revoked key")
        try:
            secret = self.sealer.unseal(key.sealed_secret, key_id)
        except SealingError as exc:
            raise _refused(f"the key's secret cannot be opened here: {exc}") from None
        expected = sign(secret, method, target, stamp, nonce, body)
        if not hmac.compare_digest(expected, given.lower()):
            raise _refused("the signature does not match")
        if scope.value not in key.scopes:
            raise Unauthenticated("insufficient_scope", f"the key lacks the scope '{scope}'")
        self._spend(key_id, nonce, now)
        scopes = frozenset(Scope(s) for s in key.scopes)
        return Principal(f"key:{key_id}", scopes=scopes, speaks_for=key.speaks_for, via="key")

    def _spend(self, key_id: str, nonce: str, now: datetime) -> None:
        with self.pool.connection() as conn:
            conn.execute("DELETE FROM request_nonces WHERE expires_at < %s", (now,))
            spent = conn.execute(
                "INSERT INTO request_nonces (key_id, nonce, expires_at) VALUES (%s, %s, %s)"
                " ON CONFLICT DO NOTHING RETURNING 1",
                (key_id, nonce, now + 2 * WINDOW),
            ).fetchone()
        if spent is None:
            raise _refused("this nonce was used already: a replay")
