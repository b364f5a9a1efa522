"""Who may use the ledger: people (users with roles) and machines (API keys with scopes).

Both are recorded as events like every other fact, so who could do what is known as of any
time: who added a user, with which roles, for which agent, and when it was disabled. A key's
secret is kept sealed (encrypted by the API layer); the domain only stores what it is given.
"""

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import Audit, aggregate_id, require_code
from domain.errors import InvalidInput, InvalidState
from domain.lifecycle import Carrier


class Role(StrEnum):
    """SPEC §1 and §6: what a person does with the ledger."""

    ADMIN = "admin"  # packages, plans, levels, agents; fixes data
    OPERATOR = "operator"  # cards and orders
    FINANCE = "finance"  # decides unfreeze requests (and withdrawals)
    AGENT = "agent"  # sees itself and its downline; prices for its own downline
    AUDITOR = "auditor"  # reads everything at any time, changes nothing


class Scope(StrEnum):
    """What a machine's API key may call (REST endpoints for upstream systems)."""

    SETTLEMENTS = "settlements"  # carrier settlement rows
    PAYMENT_CALLBACKS = "payment-callbacks"  # a payment channel's outcomes of payouts
    CARRIER_REPORTS = "carrier-reports"  # carriers' pushed card states and usage


def parse_roles(values: Iterable[str], field: str = "roles") -> tuple[Role, ...]:
    roles = []
    for value in values:
        try:
            roles.append(Role(value))
        except ValueError:
            known = ", ".join(r.value for r in Role)
            raise InvalidInput(field, f"unknown role '{value}' (known: {known})") from None
    if not roles:
        raise InvalidInput(field, "give at least one role")
    return tuple(sorted(set(roles)))


def parse_scopes(values: Iterable[str]) -> tuple[Scope, ...]:
    scopes = []
    for value in values:
        try:
            scopes.append(Scope(value))
        except ValueError:
            known = ", ".join(s.value for s in Scope)
            raise InvalidInput("scopes", f"unknown scope '{value}' (known: {known})") from None
    if not scopes:
        raise InvalidInput("scopes", "give at least one scope")
    return tuple(sorted(set(scopes)))


def speaks_for_carrier(party: str | None, carrier: str) -> bool:
    """Whether a key speaking for `party` may report for this carrier: `--for CMCC`, or a key
    issued before `--for` whose name is `CMCC` or `carrier-cmcc` (how the docs named them)."""
    if party is None:
        return False
    return party.upper().removeprefix("CARRIER-") == carrier.upper()


def carrier_spoken_for(party: str | None) -> str | None:
    """The carrier a key speaks for (`--for CMCC`, or a name such as `carrier-cmcc`), or None."""
    if party is None:
        return None
    name = party.upper().removeprefix("CARRIER-")
    return name if name in Carrier.__members__ else None


def _agent_for_roles(roles: tuple[Role, ...], agent_code: str | None) -> None:
    """An agent's user names the agent it acts as; nobody else acts as an agent."""
    if Role.AGENT in roles and agent_code is None:
        raise InvalidInput("agent", "a user with the agent role needs the agent code it acts as")
    if agent_code is not None and Role.AGENT not in roles:
        raise InvalidInput("agent", "only a user with the agent role acts as an agent")


class User(Aggregate):
    """A person known to the embedded issuer. An external identity provider keeps its own."""

    class Added(Aggregate.Created):
        code: str
        roles: list[str]
        agent_code: str | None
        actor: str
        effective_at: datetime
        reason: str

    class Changed(Aggregate.Event):
        actor: str
        effective_at: datetime
        reason: str

    class RolesSet(Changed):
        roles: list[str]
        agent_code: str | None

    class Disabled(Changed):
        pass

    class Enabled(Changed):
        pass

    @staticmethod
    def create_id(code: str, **_: Any) -> UUID:
        return aggregate_id("user", code)

    @classmethod
    def add(cls, code: str, roles: Iterable[str], agent_code: str | None, audit: Audit) -> "User":
        require_code(code, "code")
        parsed = parse_roles(roles)
        if agent_code is not None:
            require_code(agent_code, "agent")
        _agent_for_roles(parsed, agent_code)
        return cls._create(
            cls.Added,
            code=code,
            roles=[str(r) for r in parsed],
            agent_code=agent_code,
            **audit.fields(),
        )

    @event(Added)
    def __init__(
        self,
        code: str,
        roles: list[str],
        agent_code: str | None,
        actor: str,
        effective_at: datetime,
        reason: str,
    ) -> None:
        self.code = code
        self.roles = list(roles)
        self.agent_code = agent_code
        self.enabled = True

    def set_roles(self, roles: Iterable[str], agent_code: str | None, audit: Audit) -> None:
        parsed = parse_roles(roles)
        if agent_code is not None:
            require_code(agent_code, "agent")
        _agent_for_roles(parsed, agent_code)
        self._set_roles([str(r) for r in parsed], agent_code, **audit.fields())

    @event(RolesSet)
    def _set_roles(
        self,
        roles: list[str],
        agent_code: str | None,
        actor: str,
        effective_at: datetime,
        reason: str,
    ) -> None:
        self.roles = list(roles)
        self.agent_code = agent_code

    def disable(self, audit: Audit) -> None:
        if not self.enabled:
            raise InvalidState("code", f"user '{self.code}' is already disabled")
        self._disable(**audit.fields())

    @event(Disabled)
    def _disable(self, actor: str, effective_at: datetime, reason: str) -> None:
        self.enabled = False

    def enable(self, audit: Audit) -> None:
        if self.enabled:
            raise InvalidState("code", f"user '{self.code}' is already enabled")
        self._enable(**audit.fields())

    @event(Enabled)
    def _enable(self, actor: str, effective_at: datetime, reason: str) -> None:
        self.enabled = True


class ApiKey(Aggregate):
    """A machine's key: its scopes, and its secret sealed by the API layer (key id of the
    sealing key included), which HMAC verification needs back."""

    class Issued(Aggregate.Created):
        key_id: str
        name: str
        scopes: list[str]
        sealed_secret: str
        actor: str
        effective_at: datetime
        reason: str
        # The channel or carrier the key speaks for; keys issued before it was recorded
        # speak for their name (what the docs told operators to name them).
        speaks_for: str | None = None

    class Revoked(Aggregate.Event):
        actor: str
        effective_at: datetime
        reason: str

    @staticmethod
    def create_id(key_id: str, **_: Any) -> UUID:
        return aggregate_id("api-key", key_id)

    @classmethod
    def issue(
        cls,
        key_id: str,
        name: str,
        scopes: Iterable[str],
        sealed_secret: str,
        audit: Audit,
        speaks_for: str | None = None,
    ) -> "ApiKey":
        require_code(key_id, "keyId")
        require_code(name, "name")
        if speaks_for is not None:
            require_code(speaks_for, "for")
        parsed = parse_scopes(scopes)
        if Scope.SETTLEMENTS in parsed and carrier_spoken_for(speaks_for or name) is None:
            # Its rows then count only on that carrier's cards (RowDecider.carrier).
            raise InvalidInput(
                "for", "a settlements key speaks for one carrier: CMCC, CUCC or CTCC"
            )
        if not sealed_secret:
            raise InvalidInput("secret", "a key needs its sealed secret")
        return cls._create(
            cls.Issued,
            key_id=key_id,
            name=name,
            scopes=[str(s) for s in parsed],
            sealed_secret=sealed_secret,
            speaks_for=speaks_for,
            **audit.fields(),
        )

    @event(Issued)
    def __init__(
        self,
        key_id: str,
        name: str,
        scopes: list[str],
        sealed_secret: str,
        actor: str,
        effective_at: datetime,
        reason: str,
        speaks_for: str | None = None,
    ) -> None:
        self.key_id = key_id
        self.name = name
        self.scopes = list(scopes)
        self.sealed_secret = sealed_secret
        self.revoked = False
        self.speaks_for = speaks_for or name

    def revoke(self, audit: Audit) -> None:
        if self.revoked:
            raise InvalidState("keyId", f"key '{self.key_id}' is already revoked")
        self._revoke(**audit.fields())

    @event(Revoked)
    def _revoke(self, actor: str, effective_at: datetime, reason: str) -> None:
        self.revoked = True
