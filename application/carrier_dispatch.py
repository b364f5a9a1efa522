"""Delivering `carrier.card` commands from the outbox (decision 0026) to the carriers' APIs
(the CarrierPort adapters), and recording what they answered (decision 0031).

`send` raises CarrierUnavailable when the outcome is unknown (no answer, a 5xx, the carrier
down): the dispatcher retries later under the same command id, which the adapter sends where the
carrier has a place for it (OneLink's transid), and which a state-setting request (Control
Center's PUT, CMP's stop of a stopped card) does not need: either way a command delivered twice
is one change at the carrier. A definite refusal is an answer, recorded, not retried.

`record` records the answer once per command id (RecordCarrierAnswer) and, when the carrier
said which state the card is in now, reports that state to the cards area as a carrier report
of its own (report id `answer:<command id>`): our state follows without waiting for the next
push or poll, and the push that confirms it later is the same fact again.
"""

import hashlib
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from application.carriers import (
    CardAction,
    CardReports,
    Carrier,
    CarrierPort,
    CarrierRefused,
)
from application.outbox import Delivery
from domain.carrier_command import KIND
from domain.common import SYSTEM_ACTOR, Audit
from domain.values import DOCUMENT_TEXT

ACTOR = f"{SYSTEM_ACTOR}:carrier-dispatcher"


class CarrierCommandSender:
    kind = KIND

    def __init__(
        self,
        ports: Mapping[Carrier, CarrierPort],
        ledger: Any,
        cards: CardReports | None,
        now: Callable[[], datetime],
    ) -> None:
        self.ports = ports
        self.ledger = ledger
        self.cards = cards
        self.now = now

    def send(self, delivery: Delivery) -> dict[str, Any]:
        payload = delivery.payload
        card = self.ledger.repository.get(UUID(payload["card"]))
        base = {"iccid": card.iccid, "carrier": card.carrier or "", "action": payload["action"]}
        try:
            port = self.ports[Carrier(card.carrier)]
        except (KeyError, ValueError):
            message = (
                f"card {card.iccid}'s carrier is not known yet (no report)"
                if card.carrier is None
                else f"no API is configured for carrier '{card.carrier}'"
            )
            return {
                **base,
                "outcome": "REFUSED",
                "code": "CARRIER_NOT_CONFIGURED",
                "message": message,
            }
        try:
            answer = port.set_state(card.iccid, CardAction(payload["action"]), delivery.command_id)
        except CarrierRefused as exc:
            refusal = {
                "code": DOCUMENT_TEXT.fit(exc.code),
                "message": DOCUMENT_TEXT.fit(exc.message),
            }
            return {**base, "outcome": "REFUSED", **refusal}
        return {
            **base,
            "outcome": "ACCEPTED",
            "carrierRef": answer.carrier_ref,
            "rawState": answer.raw_state,
            "message": DOCUMENT_TEXT.fit(answer.message),
        }

    def record(self, delivery: Delivery, answer: dict[str, Any]) -> None:
        at = self.now()
        audit = Audit(ACTOR, at, f"carrier's answer to {delivery.command_id}")
        self.ledger.record_carrier_answer(delivery.command_id, answer, delivery.attempt, audit)
        if self.cards is not None and answer["outcome"] == "ACCEPTED" and answer.get("rawState"):
            self.cards.record_carrier_card_state(
                answer["iccid"],
                answer["carrier"],
                answer["rawState"],
                at,
                _report_id(delivery.command_id),
                ACTOR,
            )


def _report_id(command_id: str) -> str:
    """A report id (a code of at most 64 characters) for the state an answer reports."""
    return "answer:" + hashlib.sha256(command_id.encode()).hexdigest()[:40]
