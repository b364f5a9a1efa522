"""The carrier's answer to a command about a card (decision 0031)."""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from application.commands import Command, Decision
from application.results import CarrierAnswerRecorded
from domain.carrier_command import CarrierCommandAnswer
from domain.common import Audit
from domain.values import DOCUMENT, KEY, Key, Whole

if TYPE_CHECKING:
    from application.ledger import Ledger

CommandId = Annotated[str, KEY]  # kind:originator:version (domain/outbox.py)
Answer = Annotated[object, DOCUMENT]


@dataclass(frozen=True)
class RecordCarrierAnswer(Command[CarrierAnswerRecorded]):
    """What the carrier answered to a delivered command. Recorded once per command id: a
    command delivered again (its first answer lost on the way back) finds the first answer
    recorded and changes nothing."""

    command_id: CommandId
    answer: Answer  # {carrier, iccid, action, outcome, carrierRef, rawState, code, message}
    attempt: Annotated[int, Whole(1, 1_000_000)]
    audit: Audit
    key: Key | None = None

    def decide(self, ledger: "Ledger") -> Decision[CarrierAnswerRecorded]:
        found = ledger.carrier_answer(self.command_id)
        if found is not None:
            return [], CarrierAnswerRecorded(self.command_id, found.outcome, True)
        assert isinstance(self.answer, dict)
        answer = CarrierCommandAnswer.answer(self.command_id, self.answer, self.attempt, self.audit)
        return [answer], CarrierAnswerRecorded(self.command_id, answer.outcome, False)
