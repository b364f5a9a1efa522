"""Personal data at rest: ID numbers, phones and payout account numbers are encrypted here, at
the edge, before they reach a command, and decrypted only to show them to finance and admins
(decision 0024). Everyone else sees the masked form recorded beside the ciphertext.

AES-GCM (cryptography's AESGCM) with, as associated data, the agent and the field the value
belongs to, so a ciphertext cannot be moved to another agent or field. The 96-bit nonce is
synthetic: an HMAC-SHA256 (under a key derived from the encryption key) of the associated data and
the value. A nonce repeats only for the same value of the same field, which then encrypts to the
same ciphertext (all it reveals is that the value did not change), and a retried command under
its idempotency key carries the same ciphertext, so it is recognised as the same request.
A value names the key that encrypted it: `v1:<key id>:<base64(nonce ‖ ciphertext)>`. Keys come
from FENRUN_PII_KEYS ('id:base64,...', the first encrypts, all decrypt: rotation keeps old values
readable) or, unset, from `identity/pii-keys` in the data folder, generated once.
"""

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from api.auth.issuers import create_once, identity_dir
from application.access_settings import parse_pii_keys
from application.settings import Settings

_NONCE = 12


class PiiError(Exception):
    """A value this service's keys cannot open."""


class PiiCipher:
    def __init__(self, keys: list[tuple[str, bytes]]) -> None:
        if not keys:
            raise ValueError("at least one PII key is needed")
        self.current = keys[0][0]
        self._keys = {key_id: AESGCM(key) for key_id, key in keys}
        self._nonce_key = hmac.new(keys[0][1], b"fenrun pii nonce", hashlib.sha256).digest()

    @classmethod
    def of(cls, settings: Settings) -> "PiiCipher":
        if settings.pii_keys is not None:
            return cls(parse_pii_keys(settings.pii_keys.get_secret_value()))
        path: Path = identity_dir(settings.data_dir) / "pii-keys"
        generated = f"k{secrets.token_hex(4)}:{base64.b64encode(os.urandom(32)).decode()}"
        return cls(parse_pii_keys(create_once(path, generated.encode()).decode()))

    def seal(self, plain: str, agent_code: str, field: str) -> str:
        bound = _bound(agent_code, field)
        nonce = hmac.new(self._nonce_key, bound + b"\x00" + plain.encode(), hashlib.sha256)
        sealed = self._keys[self.current].encrypt(nonce.digest()[:_NONCE], plain.encode(), bound)
        body = base64.b64encode(nonce.digest()[:_NONCE] + sealed).decode()
        return f"v1:{self.current}:{body}"

    def open(self, sealed: str, agent_code: str, field: str) -> str:
        version, key_id, body = [*sealed.split(":", 2), "", ""][:3]
        if version != "v1":
            raise PiiError("unknown format of encrypted personal data")
        if key_id not in self._keys:
            raise PiiError(f"encrypted with key {key_id}, which this service does not have")
        raw = base64.b64decode(body)
        try:
            bound = _bound(agent_code, field)
            plain = self._keys[key_id].decrypt(raw[:_NONCE], raw[_NONCE:], bound)
        except InvalidTag:
            raise PiiError("encrypted personal data does not open (altered or moved)") from None
        return plain.decode()


def _bound(agent_code: str, field: str) -> bytes:
    return f"{agent_code}\x00{field}".encode()


def mask(value: str) -> str:
    """All but the first and last four characters hidden (6222********1234); short values keep
    only their last character or two."""
    n = len(value)
    if n >= 12:
        return value[:4] + "*" * (n - 8) + value[-4:]
    if n >= 7:
        return value[:3] + "*" * (n - 5) + value[-2:]
    return "*" * (n - 1) + value[-1:] if n > 1 else "*"
