"""Commands for a carrier about a card (stop, resume, activate), and the carrier's answers.

A quota decision (the cards area's events) enqueues a `carrier.card` command in the outbox
(domain/outbox.py) through `card_command` below: one kind for every action, keyed by the card,
so that a newer decision about a card supersedes an older one not yet delivered (a STOP waiting
behind a carrier outage is dropped when the pool is topped up and a RESUME is decided).

The dispatcher's answer is a fact of its own: a CarrierCommandAnswer, one per command id,
recorded once however many times the command was delivered.
"""

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import Audit, aggregate_id
from domain.errors import InvalidInput
from domain.outbox import OutboxCommand

KIND = "carrier.card"
ACTIONS = ("STOP", "RESUME", "ACTIVATE")
OUTCOMES = ("ACCEPTED", "REFUSED")


def card_command(card_id: UUID, action: str, decision_id: str, cause: str) -> OutboxCommand:
    """The outbox command for a decision that a card be stopped, resumed or activated, keyed
    by the card's aggregate id (a personal decision and its enterprise's supersede each other).
    The sender reads the card's ICCID and carrier (the one that reports it) when it sends."""
    if action not in ACTIONS:
        raise InvalidInput("command", f"'{action}' is not one of {', '.join(ACTIONS)}")
    payload = {"card": str(card_id), "action": action, "decisionId": decision_id, "cause": cause}
    return OutboxCommand(KIND, str(card_id), payload)


class CarrierCommandAnswer(Aggregate):
    class Answered(Aggregate.Created):
        command_id: str
        carrier: str
        iccid: str
        action: str
        outcome: str  # ACCEPTED | REFUSED
        carrier_ref: str | None  # the carrier's id of the request (OneLink's transid, ...)
        raw_state: str | None  # the card's state at the carrier afterwards, where it says
        code: str | None  # the carrier's refusal code
        message: str
        attempt: int  # the delivery attempt that got this answer
        actor: str
        effective_at: datetime
        reason: str

    @staticmethod
    def create_id(command_id: str, **_: Any) -> UUID:
        return aggregate_id("carrier-command", command_id)

    @classmethod
    def answer(
        cls, command_id: str, answer: dict[str, Any], attempt: int, audit: Audit
    ) -> "CarrierCommandAnswer":
        if answer.get("outcome") not in OUTCOMES:
            raise InvalidInput("outcome", f"an answer is one of {', '.join(OUTCOMES)}")
        if answer.get("action") not in ACTIONS:
            raise InvalidInput(
                "action", f"'{answer.get('action')}' is not one of {', '.join(ACTIONS)}"
            )
        return cls._create(
            cls.Answered,
            command_id=command_id,
            carrier=answer["carrier"],
            iccid=answer["iccid"],
            action=answer["action"],
            outcome=answer["outcome"],
            carrier_ref=answer.get("carrierRef"),
            raw_state=answer.get("rawState"),
            code=answer.get("code"),
            message=answer.get("message", ""),
            attempt=attempt,
            **audit.fields(),
        )

    @event(Answered)
    def __init__(
        self,
        command_id: str,
        carrier: str,
        iccid: str,
        action: str,
        outcome: str,
        carrier_ref: str | None,
        raw_state: str | None,
        code: str | None,
        message: str,
        attempt: int,
        actor: str,
        effective_at: datetime,
        reason: str,
    ) -> None:
        self.command_id = command_id
        self.carrier = carrier
        self.iccid = iccid
        self.action = action
        self.outcome = outcome
        self.raw_state = raw_state
        self.answered_at = effective_at
