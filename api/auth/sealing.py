"""API key secrets at rest: sealed with AES-GCM (cryptography's AESGCM) under a key of the
service's, which never enters the event log.

HMAC verification needs the secret itself, so it cannot be stored as a hash. The sealing key
comes from FENRUN_SEALING_KEY (32 bytes, base64) or, unset, from the data folder
(`identity/sealing.key`, generated once, mode 0600). A sealed secret names the sealing key's id
(the first 8 bytes of its SHA-256, hex), and is bound to its API key's id (associated data), so
it cannot be moved to another key: `v1:<key id>:<base64(nonce ‖ ciphertext)>`.
"""

import base64
import binascii
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from api.auth.issuers import create_once, identity_dir
from application.settings import Settings

_NONCE = 12


class SealingError(Exception):
    """A sealed secret that this service's key cannot open."""


class Sealer:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the sealing key must be 32 bytes (base64 of 32 random bytes)")
        self._aead = AESGCM(key)
        self.key_id = hashlib.sha256(key).hexdigest()[:16]

    @classmethod
    def of(cls, settings: Settings) -> "Sealer":
        if settings.sealing_key is not None:
            return cls(_decode(settings.sealing_key.get_secret_value()))
        path: Path = identity_dir(settings.data_dir) / "sealing.key"
        return cls(_decode(create_once(path, base64.b64encode(os.urandom(32))).decode()))

    def seal(self, secret: str, bound_to: str) -> str:
        nonce = os.urandom(_NONCE)
        sealed = self._aead.encrypt(nonce, secret.encode(), bound_to.encode())
        return f"v1:{self.key_id}:{base64.b64encode(nonce + sealed).decode()}"

    def unseal(self, sealed: str, bound_to: str) -> str:
        version, key_id, body = [*sealed.split(":", 2), "", ""][:3]
        if version != "v1":
            raise SealingError("unknown sealing format")
        if key_id != self.key_id:
            raise SealingError(f"sealed with key {key_id}, this service has {self.key_id}")
        raw = base64.b64decode(body)
        try:
            plain = self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], bound_to.encode())
        except InvalidTag:
            raise SealingError(
                "the sealed secret does not open (altered, or another key)"
            ) from None
        return plain.decode()


def _decode(text: str) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the sealing key is not base64") from None
