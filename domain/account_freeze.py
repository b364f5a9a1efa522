"""Risk control: an agent's account frozen (or unfrozen) at an operator's request once an admin
approves. A frozen account keeps accruing commissions but cannot withdraw. Every request and
decision is an event with its reason, so whether an account was frozen is known as of any time.
"""

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import Audit, aggregate_id
from domain.errors import AccountFrozen, InvalidInput, InvalidState, SelfApproval

FREEZE, UNFREEZE = "FREEZE", "UNFREEZE"


class AccountFreeze(Aggregate):
    class Created(Aggregate.Created):
        agent_code: str

    class Requested(Aggregate.Event):
        action: str  # FREEZE or UNFREEZE
        requested_by: str
        actor: str
        effective_at: datetime
        reason: str

    class Decided(Aggregate.Event):
        action: str
        approved: bool
        actor: str
        effective_at: datetime
        reason: str

    @staticmethod
    def create_id(agent_code: str, **_: Any) -> UUID:
        return aggregate_id("account-freeze", agent_code)

    @classmethod
    def start(cls, agent_code: str) -> "AccountFreeze":
        return cls._create(cls.Created, agent_code=agent_code)

    @event(Created)
    def __init__(self, agent_code: str) -> None:
        self.agent_code = agent_code
        self.frozen = False
        self.pending: str | None = None  # the action awaiting an admin
        self.requested_by: str | None = None
        self.reason = ""
        self.changes: list[tuple[datetime, bool]] = []  # (effective at, frozen after)

    def request(self, action: str, audit: Audit) -> None:
        if action not in (FREEZE, UNFREEZE):
            raise InvalidInput("action", "action is FREEZE or UNFREEZE")
        if not audit.reason:
            raise InvalidInput("reason", "freezing or unfreezing an account needs a reason")
        if self.pending is not None:
            raise InvalidState(
                "agentCode", f"a {self.pending} of {self.agent_code} already awaits approval"
            )
        if (action == FREEZE) == self.frozen:
            state = "frozen" if self.frozen else "not frozen"
            raise InvalidState("agentCode", f"the account of {self.agent_code} is {state}")
        self._requested(action, audit.actor, **audit.fields())

    @event(Requested)
    def _requested(
        self, action: str, requested_by: str, actor: str, effective_at: datetime, reason: str
    ) -> None:
        self.pending = action
        self.requested_by = requested_by

    def decide(self, approved: bool, audit: Audit) -> None:
        if self.pending is None:
            raise InvalidState("agentCode", f"nothing awaits approval on {self.agent_code}")
        if approved and audit.actor == self.requested_by:
            raise SelfApproval(
                "agentCode", f"{audit.actor} requested this {self.pending}: another must approve"
            )
        if not approved and not audit.reason:
            raise InvalidInput("reason", "a rejection needs a reason")
        self._decided(self.pending, approved, **audit.fields())

    @event(Decided)
    def _decided(
        self, action: str, approved: bool, actor: str, effective_at: datetime, reason: str
    ) -> None:
        if approved:
            self.frozen = action == FREEZE
            self.reason = reason
            self.changes.append((effective_at, self.frozen))
        self.pending = None
        self.requested_by = None

    def frozen_at(self, at: datetime) -> bool:
        frozen = False
        for effective_at, after in sorted(self.changes, key=lambda c: c[0]):
            if effective_at > at:
                break
            frozen = after
        return frozen

    def refuse_withdrawal(self) -> None:
        if self.frozen:
            raise AccountFrozen(
                "agentCode",
                f"the account of {self.agent_code} is frozen ({self.reason}): it cannot withdraw",
            )
