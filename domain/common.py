"""What every recorded fact carries besides its payload: who, when it took effect, and why."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from hashlib import sha1
from typing import Any, ClassVar

from domain.errors import InvalidInput
from domain.values import ACTOR, CODE, REASON

# Fixed namespace: aggregate ids are uuid5(kind:code), so the same business code always maps to
# the same aggregate and a repeated create is detected by the event store, not duplicated.
NAMESPACE = uuid.UUID("6f1d3c2e-5b7a-4c1e-9a8f-0f3e2d1c4b5a")
_NAMESPACE_BYTES = NAMESPACE.bytes
SYSTEM_ACTOR = "system"


def aggregate_id(kind: str, code: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"{kind}:{code}")


def derived_id(*parts: object) -> str:
    """A stable id for a fact derived from other facts (a commission line, an unfreeze request).
    A '|' inside a part is escaped, so ('p|q', 'r') and ('p', 'q|r') never share an id (parts
    without '|' or '\\' keep the ids they always had)."""
    texts = [str(p) for p in parts]
    joined = "|".join(texts)
    # As many '|' as separators and no '\\': no part needs escaping (the common case, checked
    # on the joined text at once rather than part by part: a replay derives ids by the million).
    if joined.count("|") != len(texts) - 1 or "\\" in joined:
        joined = "|".join(t.replace("\\", "\\\\").replace("|", "\\|") for t in texts)
    return _uuid5(joined)


@lru_cache(maxsize=1 << 18)  # the policy and a simulation ask for the same ids again and again
def _uuid5(text: str) -> str:
    """str(uuid.uuid5(NAMESPACE, text)), without building a UUID object: the SHA-1 of the
    namespace and the text, version 5 and the RFC 4122 variant set, in the usual 8-4-4-4-12."""
    digest = bytearray(
        sha1(_NAMESPACE_BYTES + text.encode("utf-8"), usedforsecurity=False).digest()[:16]
    )
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclass(frozen=True)
class Audit:
    actor: str
    effective_at: datetime
    reason: str = ""
    # False when the caller gave no time and "now" was assumed: a retry then carries another
    # "now", which must not count as a different request for its idempotency key.
    time_given: bool = True
    # The agent the actor acts as (an agent's user), if any: recorded with the actor, and what
    # maker-checker compares with a beneficiary (domain/approvals.py).
    agent_code: str | None = None

    CHECKED_WHEN_MADE: ClassVar[bool] = True  # a command field of this type needs no other check

    def __post_init__(self) -> None:
        if not self.actor:
            raise InvalidInput("actor", "every change needs an actor")
        ACTOR.check(self.actor, "actor")
        REASON.check(self.reason, "reason")
        if self.agent_code is not None:
            CODE.check(self.agent_code, "actor")
        if not isinstance(self.effective_at, datetime) or self.effective_at.utcoffset() is None:
            raise InvalidInput("occurredAt", "times must carry a UTC offset")

    @classmethod
    def derived(cls, actor: str, effective_at: datetime, reason: str) -> "Audit":
        """The audit of a change a policy derives from stored facts: its description quotes
        them (a refund's reason, codes), so it is fitted to what a reason may be rather than
        refused; the facts themselves stay whole in their own events."""
        return cls(ACTOR.fit(actor), effective_at, REASON.fit(reason))

    @property
    def recorded_actor(self) -> str:
        """Who, as the events record it: the subject, and for an agent's user its agent too."""
        if self.agent_code is None:
            return self.actor
        return f"{self.actor} (agent {self.agent_code})"

    def fields(self) -> dict[str, Any]:
        return {
            "actor": self.recorded_actor,
            "effective_at": self.effective_at,
            "reason": self.reason,
        }

    def time_for_key(self) -> str | None:
        return self.effective_at.isoformat() if self.time_given else None


def require_code(value: object, field: str) -> str:
    """A business code or id (domain/values.py: CODE)."""
    return CODE.check(value, field)
