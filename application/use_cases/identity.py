"""Who may use the ledger: users of the embedded issuer and machines' API keys (domain/identity.py)."""

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from application.commands import Command, Decision
from application.results import ApiKeyRecorded, UserRecorded
from domain.common import Audit
from domain.errors import AlreadyExists, NotFound
from domain.identity import ApiKey, User
from domain.values import Code, Key, Name

if TYPE_CHECKING:
    from application.ledger import Ledger


def _user(ledger: "Ledger", code: str) -> User:
    found = ledger.user(code)
    if found is None:
        raise NotFound("code", f"no user '{code}'")
    return found


def _agent_exists(ledger: "Ledger", agent_code: str | None) -> None:
    if agent_code is not None:
        ledger.agent(agent_code, "agent")


@dataclass(frozen=True)
class AddUser(Command[UserRecorded]):
    """A person with roles; an agent's user names the agent it acts as."""

    code: Code
    roles: tuple[Code, ...]
    agent_code: Code | None
    audit: Audit
    key: Key | None = None

    def decide(self, ledger: "Ledger") -> Decision[UserRecorded]:
        if ledger.user(self.code) is not None:
            raise AlreadyExists("code", f"user '{self.code}' already exists")
        user = User.add(self.code, self.roles, self.agent_code, self.audit)
        _agent_exists(ledger, self.agent_code)
        return [user], UserRecorded(self.code)


@dataclass(frozen=True)
class SetUserRoles(Command[UserRecorded]):
    code: Code
    roles: tuple[Code, ...]
    agent_code: Code | None
    audit: Audit
    key: Key | None = None

    def decide(self, ledger: "Ledger") -> Decision[UserRecorded]:
        user = _user(ledger, self.code)
        user.set_roles(self.roles, self.agent_code, self.audit)
        _agent_exists(ledger, self.agent_code)
        return [user], UserRecorded(self.code)


@dataclass(frozen=True)
class DisableUser(Command[UserRecorded]):
    """Its tokens stop working at once (they are checked against the user on every request)."""

    code: Code
    audit: Audit
    key: Key | None = None

    def decide(self, ledger: "Ledger") -> Decision[UserRecorded]:
        user = _user(ledger, self.code)
        user.disable(self.audit)
        return [user], UserRecorded(self.code)


@dataclass(frozen=True)
class EnableUser(Command[UserRecorded]):
    code: Code
    audit: Audit
    key: Key | None = None

    def decide(self, ledger: "Ledger") -> Decision[UserRecorded]:
        user = _user(ledger, self.code)
        user.enable(self.audit)
        return [user], UserRecorded(self.code)


@dataclass(frozen=True)
class IssueApiKey(Command[ApiKeyRecorded]):
    """A machine's key: the secret comes sealed (the API layer holds the sealing key)."""

    key_id: Code
    name: Name
    scopes: tuple[Code, ...]
    sealed_secret: Name  # base64 of the AES-GCM box: printable, well under a name's bound
    audit: Audit
    key: Key | None = None
    # The payment channel or carrier a callbacks/reports key speaks for (None: its name).
    speaks_for: Code | None = field(default=None, kw_only=True)

    added_fields: ClassVar[frozenset[str]] = frozenset({"speaks_for"})

    def decide(self, ledger: "Ledger") -> Decision[ApiKeyRecorded]:
        if ledger.exists("api-key", self.key_id):
            raise AlreadyExists("keyId", f"API key '{self.key_id}' already exists")
        issued = ApiKey.issue(
            self.key_id, self.name, self.scopes, self.sealed_secret, self.audit, self.speaks_for
        )
        return [issued], ApiKeyRecorded(self.key_id)


@dataclass(frozen=True)
class RevokeApiKey(Command[ApiKeyRecorded]):
    key_id: Code
    audit: Audit
    key: Key | None = None

    def decide(self, ledger: "Ledger") -> Decision[ApiKeyRecorded]:
        found = ledger.api_key(self.key_id)
        if found is None:
            raise NotFound("keyId", f"no API key '{self.key_id}'")
        found.revoke(self.audit)
        return [found], ApiKeyRecorded(self.key_id)
