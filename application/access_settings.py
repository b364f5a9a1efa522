"""Who may do what (FENRUN_AUTH_*, docs/decisions/0021-identity-and-authorization.md): the
identity provider and its tokens, the keys that seal secrets and personal data, the approvals
threshold, and who may introspect the GraphQL schema. One group of the settings
(application/settings.py composes them)."""

import base64
import binascii
import re
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode

from domain.money import parse_money

_TTL = re.compile(r"([1-9][0-9]{0,5})([smhd])")
_TTL_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_TTL = timedelta(days=30)


def parse_ttl(text: str) -> timedelta:
    """'30m', '8h', '7d' -> a lifetime for a token; at most 30 days."""
    match = _TTL.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"'{text}' is not a lifetime like 30m, 8h or 7d")
    ttl = timedelta(seconds=int(match.group(1)) * _TTL_UNIT[match.group(2)])
    if ttl > MAX_TTL:
        raise ValueError(f"'{text}' is longer than 30 days")
    return ttl


def parse_pii_keys(text: str) -> list[tuple[str, bytes]]:
    """'id:base64,id:base64' -> [(id, 32-byte key)], the encrypting key first."""
    keys: list[tuple[str, bytes]] = []
    for part in (p.strip() for p in text.split(",")):
        key_id, _, encoded = part.partition(":")
        if not key_id or not re.fullmatch(r"[A-Za-z0-9_.-]{1,32}", key_id):
            raise ValueError("each PII key is 'id:base64' with an id of letters, digits, _ . -")
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"PII key {key_id} is not base64") from None
        if len(key) != 32:
            raise ValueError(f"PII key {key_id} must be 32 bytes")
        if key_id in {k for k, _ in keys}:
            raise ValueError(f"PII key id {key_id} is given twice")
        keys.append((key_id, key))
    return keys


class AccessSettings(BaseSettings):
    auth: Literal["on", "off"] = Field(
        default="on",
        description="off: no authentication, every caller may do everything and names itself"
        " in X-Fenrun-Actor; refused unless the API listens on loopback only, logged loudly.",
    )
    auth_issuer: str | None = Field(
        default=None,
        description="Your identity provider's issuer URL (the tokens' `iss`, e.g."
        " https://sso.example.com/realms/fenrun). Unset: the service is its own issuer"
        " (`fenrun users add`, `fenrun token`), its key in the data folder.",
    )
    auth_audience: str | None = Field(
        default=None,
        description="The `aud` tokens must carry. Required with FENRUN_AUTH_ISSUER; the"
        " embedded issuer uses `fenrun`.",
    )
    auth_jwks_url: str | None = Field(
        default=None,
        description="Where the issuer publishes its keys (JWKS). Unset: read from its OpenID"
        " discovery document (ISSUER/.well-known/openid-configuration).",
    )
    auth_jwks_refresh_seconds: float = Field(
        default=30,
        ge=0,
        le=3600,
        description="A token naming a key the cached JWKS lacks (rotation) refetches it, at"
        " most this often.",
    )
    auth_algorithms: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["RS256", "ES256"],
        description="Signature algorithms accepted from the identity provider, comma-separated.",
    )
    auth_subject_claim: str = Field(
        default="sub",
        description="The claim naming the person, recorded as the actor (e.g. preferred_username).",
    )
    auth_roles_claim: str = Field(
        default="roles",
        description="The claim (a dotted path) holding the roles admin, operator, finance,"
        " agent, auditor (Keycloak: realm_access.roles).",
    )
    auth_agent_claim: str = Field(
        default="agent_code",
        description="The claim (a dotted path) holding the agent code an agent's user acts as.",
    )
    token_ttl: str = Field(
        default="8h",
        description="Default lifetime of `fenrun token` tokens (30m, 8h, 7d); at most 30 days.",
    )
    sealing_key: SecretStr | None = Field(
        default=None,
        description="A 32-byte key, base64, that encrypts API key secrets at rest (AES-GCM)."
        " Unset: one generated in the data folder (identity/sealing.key).",
    )
    pii_keys: SecretStr | None = Field(
        default=None,
        description="Keys that encrypt personal data at rest (AES-GCM): 'id:base64 of 32 bytes',"
        " comma-separated, the first encrypts, all decrypt (rotation: put the new key first, keep"
        " the old ones). Unset: required with an external issuer (FENRUN_AUTH_ISSUER); otherwise"
        " one is generated in the data folder (identity/pii-keys).",
    )
    second_approver_from: str = Field(
        default="10000.00",
        description="Unfreeze requests of at least this amount need two different finance"
        " approvers (maker-checker).",
    )
    graphql_introspection: Literal["admins", "everyone", "nobody"] = Field(
        default="admins",
        description="Who may introspect the schema (GraphiQL's docs and completion). With"
        " FENRUN_AUTH=off: everyone.",
    )
    graphql_suggestions: Literal["admins", "everyone", "nobody"] = Field(
        default="admins",
        description="Who gets 'Did you mean ...?' field suggestions in errors. With"
        " FENRUN_AUTH=off: everyone.",
    )

    @field_validator("auth_algorithms", mode="before")
    @classmethod
    def _split_algorithms(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("auth_algorithms")
    @classmethod
    def _asymmetric_only(cls, value: list[str]) -> list[str]:
        # A shared-secret algorithm would let anyone holding the published key sign tokens.
        allowed = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"}
        for name in value:
            if name not in allowed:
                raise ValueError(f"'{name}' is not an asymmetric JWT algorithm ({sorted(allowed)})")
        if not value:
            raise ValueError("give at least one algorithm")
        return value

    @field_validator("token_ttl")
    @classmethod
    def _known_ttl(cls, value: str) -> str:
        parse_ttl(value)
        return value

    @field_validator("second_approver_from")
    @classmethod
    def _money(cls, value: str) -> str:
        if parse_money(value, field="FENRUN_SECOND_APPROVER_FROM") <= 0:
            raise ValueError("must be a positive amount")
        return value

    @model_validator(mode="after")
    def _external_issuer_needs_audience(self) -> "AccessSettings":
        if self.auth_issuer is not None and not self.auth_audience:
            raise ValueError(
                "FENRUN_AUTH_ISSUER is set but FENRUN_AUTH_AUDIENCE is not: tokens issued for"
                " another application of the same provider would be accepted"
            )
        return self

    @field_validator("pii_keys")
    @classmethod
    def _pii_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_pii_keys(value.get_secret_value())
        return value

    @model_validator(mode="after")
    def _external_issuer_needs_pii_keys(self) -> "AccessSettings":
        if self.auth == "on" and self.auth_issuer is not None and self.pii_keys is None:
            raise ValueError(
                "FENRUN_AUTH_ISSUER is set but FENRUN_PII_KEYS is not: personal data must be"
                " encrypted with keys managed with the rest of the deployment's secrets"
            )
        return self

    @property
    def second_approver_from_fen(self) -> int:
        return parse_money(self.second_approver_from)
