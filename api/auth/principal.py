"""The authenticated caller of a request, and what the ledger records of it."""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property

from domain.common import Audit
from domain.identity import Role, Scope


@dataclass(frozen=True)
class Principal:
    """A person (roles, and for an agent's user its agent code) or a machine (scopes).

    With FENRUN_AUTH=off every caller is `unchecked`: it names itself and may do everything."""

    subject: str
    roles: frozenset[Role] = frozenset()
    agent_code: str | None = None
    scopes: frozenset[Scope] = frozenset()
    unchecked: bool = False
    # A machine's key: the payment channel or carrier it speaks for (decision 0021).
    speaks_for: str | None = None
    via: str = field(default="token", compare=False)  # token | key | off

    @cached_property  # asked several times per request (logs, rate limits); never changes
    def actor(self) -> str:
        """The actor as events record it: the subject, and an agent's code too (logs)."""
        return self.audit(datetime.now(UTC)).recorded_actor

    def has(self, role: Role) -> bool:
        return self.unchecked or role in self.roles

    def audit(self, at: datetime, reason: str = "", time_given: bool = True) -> Audit:
        return Audit(self.subject, at, reason, time_given, self.agent_code)
