"""A payout: one withdrawal's money sent through a payment channel, until the channel says paid.

Statuses: PENDING (created; sent at once, or held for a batch payout) -> SUBMITTED (the channel
accepted the request) -> PAID, or FAILED (with the channel's reason) -> RESUBMITTED (sent again
under the same out-request id, which the channel deduplicates by) -> SUBMITTED -> ... A failed
payout that finance gives up on is CANCELLED: the withdrawal's money goes back to the wallet.

Every request to the channel is an event that carries an outbox command (domain/outbox.py): it
is sent by the dispatcher after the event is saved, never inside a request. Answers come back
more than once, late and out of order (callbacks, polls, repeated deliveries): each is recorded
at most once (by the channel's transaction id) and none undoes PAID.
"""

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import Audit, aggregate_id, require_code
from domain.errors import InvalidInput, InvalidState
from domain.money import require_fen
from domain.outbox import OutboxCommand
from domain.values import CODE

SUBMIT = "payout.submit"  # the outbox kind of a request to the channel


class PayoutStatus(StrEnum):
    PENDING = "PENDING"
    SUBMITTED = "SUBMITTED"
    PAID = "PAID"
    FAILED = "FAILED"
    RESUBMITTED = "RESUBMITTED"
    CANCELLED = "CANCELLED"


OPEN = (PayoutStatus.PENDING, PayoutStatus.SUBMITTED, PayoutStatus.RESUBMITTED)


class _Sends:
    """An event that asks the channel to pay (again): its outbox command."""

    originator_id: UUID
    out_request_id: str
    agent_code: str
    payee_account: str
    amount_fen: int
    channel: str

    def outbox_command(self) -> OutboxCommand:
        return OutboxCommand(
            SUBMIT,
            self.out_request_id,
            {
                "outRequestId": self.out_request_id,
                "channel": self.channel,
                "agentCode": self.agent_code,
                "payeeAccount": self.payee_account,
                "amountFen": self.amount_fen,
            },
        )


class Payout(Aggregate):
    class Created(Aggregate.Created):
        withdrawal_id: str
        agent_code: str
        amount_fen: int
        out_request_id: str
        channel: str
        payee_account: str
        send_now: bool
        actor: str
        effective_at: datetime
        reason: str

        def outbox_command(self) -> OutboxCommand | None:
            return _Sends.outbox_command(self) if self.send_now else None  # type: ignore[arg-type]

    class Released(_Sends, Aggregate.Event):
        """A held payout sent (a batch payout, 平台主动打款)."""

        out_request_id: str
        agent_code: str
        payee_account: str
        amount_fen: int
        channel: str
        actor: str
        effective_at: datetime
        reason: str

    class Submitted(Aggregate.Event):
        channel_txn_id: str | None
        actor: str
        effective_at: datetime
        reason: str

    class Paid(Aggregate.Event):
        channel_txn_id: str | None
        actor: str
        effective_at: datetime
        reason: str

    class Failed(Aggregate.Event):
        channel_txn_id: str | None
        actor: str
        effective_at: datetime
        reason: str

    class Resubmitted(_Sends, Aggregate.Event):
        out_request_id: str
        agent_code: str
        payee_account: str
        amount_fen: int
        channel: str
        actor: str
        effective_at: datetime
        reason: str

    class Cancelled(Aggregate.Event):
        actor: str
        effective_at: datetime
        reason: str

    @staticmethod
    def create_id(withdrawal_id: str, **_: Any) -> UUID:
        return aggregate_id("payout", withdrawal_id)

    @classmethod
    def start(
        cls,
        withdrawal_id: str,
        agent_code: str,
        amount_fen: int,
        channel: str,
        send_now: bool,
        audit: Audit,
        account: tuple[str, str] | None = None,
    ) -> "Payout":
        require_code(withdrawal_id, "withdrawalId")
        require_code(agent_code, "agentCode")
        require_code(channel, "channel")
        require_fen(amount_fen, "amount", allow_zero=False)
        return cls._create(
            cls.Created,
            withdrawal_id=withdrawal_id,
            agent_code=agent_code,
            amount_fen=amount_fen,
            out_request_id=out_request_id(withdrawal_id),
            channel=channel,
            payee_account=payee_account(agent_code, account),
            send_now=send_now,
            **audit.fields(),
        )

    @event(Created)
    def __init__(
        self,
        withdrawal_id: str,
        agent_code: str,
        amount_fen: int,
        out_request_id: str,
        channel: str,
        payee_account: str,
        send_now: bool,
        actor: str,
        effective_at: datetime,
        reason: str,
    ) -> None:
        self.withdrawal_id = withdrawal_id
        self.agent_code = agent_code
        self.amount_fen = amount_fen
        self.out_request_id = out_request_id
        self.channel = channel
        self.payee_account = payee_account
        self.status = PayoutStatus.PENDING
        self.sent = send_now  # a request to the channel was decided (held payouts wait)
        self.submissions = 1 if send_now else 0  # requests decided, resubmissions included
        self.channel_txn_id: str | None = None  # of the attempt the channel accepted last
        self.answered: set[str] = set()  # channel transaction ids whose outcome is recorded
        self.failure_reason: str | None = None
        self.created_at = effective_at
        self.updated_at = effective_at

    # -- requests to the channel -------------------------------------------------------------
    def release(self, audit: Audit) -> None:
        """Sends a payout held for a batch payout."""
        if self.status != PayoutStatus.PENDING or self.sent:
            raise InvalidState("ids", f"payout {self.withdrawal_id} is not waiting to be sent")
        self._release(**self._request(), **audit.fields())

    @event(Released)
    def _release(
        self,
        out_request_id: str,
        agent_code: str,
        payee_account: str,
        amount_fen: int,
        channel: str,
        actor: str,
        effective_at: datetime,
        reason: str,
    ) -> None:
        self.sent = True
        self.submissions += 1
        self.updated_at = effective_at

    def resubmit(self, audit: Audit) -> None:
        if self.status != PayoutStatus.FAILED:
            raise InvalidState(
                "withdrawalId", f"payout {self.withdrawal_id} is {self.status}, not FAILED"
            )
        self._resubmit(**self._request(), **audit.fields())

    @event(Resubmitted)
    def _resubmit(
        self,
        out_request_id: str,
        agent_code: str,
        payee_account: str,
        amount_fen: int,
        channel: str,
        actor: str,
        effective_at: datetime,
        reason: str,
    ) -> None:
        self.status = PayoutStatus.RESUBMITTED
        self.submissions += 1
        self.failure_reason = None
        self.updated_at = effective_at

    def cancel(self, audit: Audit) -> None:
        """Finance gives up on a failed payout: the money goes back (the wallet records it)."""
        if self.status != PayoutStatus.FAILED:
            raise InvalidState(
                "withdrawalId", f"payout {self.withdrawal_id} is {self.status}, not FAILED"
            )
        if not audit.reason:
            raise InvalidInput("reason", "cancelling a payout needs a reason")
        self._cancel(**audit.fields())

    @event(Cancelled)
    def _cancel(self, actor: str, effective_at: datetime, reason: str) -> None:
        self.status = PayoutStatus.CANCELLED
        self.updated_at = effective_at

    def _request(self) -> dict[str, Any]:
        return {
            "out_request_id": self.out_request_id,
            "agent_code": self.agent_code,
            "payee_account": self.payee_account,
            "amount_fen": self.amount_fen,
            "channel": self.channel,
        }

    # -- the channel's answers ---------------------------------------------------------------
    def accepted(self, channel_txn_id: str | None, audit: Audit) -> bool:
        """The channel took the request. False (nothing recorded) when that is known already
        or an outcome came first (a callback can overtake the submission's own answer)."""
        if self.status not in (PayoutStatus.PENDING, PayoutStatus.RESUBMITTED):
            return False
        _check_txn(channel_txn_id)
        self._accepted(channel_txn_id=channel_txn_id, **audit.fields())
        return True

    @event(Submitted)
    def _accepted(
        self, channel_txn_id: str | None, actor: str, effective_at: datetime, reason: str
    ) -> None:
        self.status = PayoutStatus.SUBMITTED
        self.channel_txn_id = channel_txn_id
        self.updated_at = effective_at

    def outcome(self, paid: bool, channel_txn_id: str | None, audit: Audit) -> bool:
        """The channel's outcome (a callback, a poll, a refusal). Recorded at most once per
        transaction id; never after PAID or CANCELLED; a failure of an attempt other than the
        one in flight (a stale, reordered callback) is not recorded. Paid is always believed:
        the money has left. Returns whether it recorded anything."""
        _check_txn(channel_txn_id)
        if self.status in (PayoutStatus.PAID, PayoutStatus.CANCELLED):
            return False
        if channel_txn_id is not None and channel_txn_id in self.answered:
            return False
        if not paid:
            if self.status == PayoutStatus.FAILED:
                return False
            stale = self.channel_txn_id is not None and channel_txn_id not in (
                None,
                self.channel_txn_id,
            )
            if stale:
                return False
            if not audit.reason:
                raise InvalidInput("reason", "a failed payout needs the channel's reason")
            self._failed(channel_txn_id=channel_txn_id, **audit.fields())
            return True
        self._paid(channel_txn_id=channel_txn_id, **audit.fields())
        return True

    @event(Paid)
    def _paid(
        self, channel_txn_id: str | None, actor: str, effective_at: datetime, reason: str
    ) -> None:
        self.status = PayoutStatus.PAID
        if channel_txn_id is not None:
            self.answered.add(channel_txn_id)
            self.channel_txn_id = channel_txn_id
        self.updated_at = effective_at

    @event(Failed)
    def _failed(
        self, channel_txn_id: str | None, actor: str, effective_at: datetime, reason: str
    ) -> None:
        self.status = PayoutStatus.FAILED
        self.failure_reason = reason
        if channel_txn_id is not None:
            self.answered.add(channel_txn_id)
        self.updated_at = effective_at


def out_request_id(withdrawal_id: str) -> str:
    """The id the channel knows the payout by: one per withdrawal, kept by resubmissions."""
    return f"PO-{withdrawal_id}"


def payee_account(agent_code: str, account: tuple[str, str] | None = None) -> str:
    """Where the money goes: the payee's payout account (id, kind) named by its kind and id
    (`bank_card:<accountId>`), never its number, which is personal data the outbox and events
    must not carry in clear (the channel's adapter resolves it when it sends). An agent with no
    payout account is named by its code, as before payees had accounts."""
    if account is None:
        return f"agent:{agent_code}"
    account_id, kind = account
    return f"{kind.lower()}:{account_id}"


def _check_txn(channel_txn_id: str | None) -> None:
    if channel_txn_id is not None:
        CODE.check(channel_txn_id, "channelTxnId")
