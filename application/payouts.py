"""Payouts through a payment channel (decision 0026): the port, the policy that starts a payout
for each withdrawal, the outbox sender that submits it, and the poll for lost callbacks.

A payout starts on ONE event (PAYOUT_STARTS_ON, with the amount it pays); the payout policy
follows the log and saves each new Payout with its tracking position, its first request to the
channel written to the outbox in that same transaction.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

import structlog
from eventsourcing.persistence import Notification
from eventsourcing.utils import get_topic

from application.follower import LogFollower
from application.ledger import Ledger
from application.outbox import Delivery
from application.use_cases.payouts import RecordPayoutOutcome, RecordPayoutSubmission
from domain.common import Audit, aggregate_id
from domain.payout import Payout
from domain.wallet import Wallet

log = structlog.get_logger(__name__)
POLICY_ACTOR = "system:payout-policy"
DISPATCH_ACTOR = "system:payout-dispatcher"
POLL_ACTOR = "system:payout-poll"


@dataclass(frozen=True)
class PayoutTrigger:
    """The event a payout starts on, and the amount it pays from it."""

    event: type
    amount_fen: Callable[[Any], int]


# THE one mapping: which decision starts a payout, for how much. Finance's approval of a
# withdrawal (after review, fee and 劳务报酬 tax): the channel pays the net.
PAYOUT_STARTS_ON = PayoutTrigger(Wallet.WithdrawalApproved, lambda e: e.net_fen)


# -- the port ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Accepted:
    channel_txn_id: str | None


@dataclass(frozen=True)
class Refused:
    reason: str


@dataclass(frozen=True)
class ChannelStatus:
    state: Literal["PAID", "FAILED", "PROCESSING", "UNKNOWN"]
    channel_txn_id: str | None = None
    reason: str = ""


class PaymentChannel(Protocol):
    """A payment channel (WeChat Pay, Alipay, a bank's 代付 API, the simulator). It must
    deduplicate by out_request_id: a request repeated under the same id pays at most once.
    `submit` raises on a timeout or a lost connection (the outbox sends it again)."""

    def submit(
        self, out_request_id: str, payee_account: str, amount_fen: int
    ) -> Accepted | Refused: ...

    def query(self, out_request_id: str) -> ChannelStatus: ...


def withdrawal_of(out_request_id: str) -> str:
    """The withdrawal an out-request id pays (domain/payout.py: out_request_id)."""
    return out_request_id.removeprefix("PO-")


# -- starting payouts ----------------------------------------------------------------------------
class PayoutPolicy(LogFollower):
    """A payout for each withdrawal the trigger event names, exactly once: the Payout and its
    first request (an outbox row) are saved with the tracking position in one transaction."""

    name = "payout-policy"

    def __init__(
        self,
        ledger: Ledger,
        channel: str,
        send_now: bool = True,
        batch_size: int = 500,
        trigger: PayoutTrigger = PAYOUT_STARTS_ON,
    ) -> None:
        super().__init__(ledger, batch_size)
        self.channel = channel
        self.send_now = send_now  # False: held until payApprovedWithdrawals (平台主动打款)
        self.trigger = trigger
        self.topic = get_topic(trigger.event)

    def process(self, start: int, notifications: Sequence[Notification]) -> list[Any]:
        relevant = [n for n in notifications if n.topic == self.topic]
        if not relevant:
            return []
        events = self.ledger.mapper.decode_all(relevant)  # type: ignore[attr-defined]
        ids = {aggregate_id("payout", e.withdrawal_id): e for e in events}
        started = self.ledger.recorder.select_existing(ids)  # type: ignore[attr-defined]
        payouts = []
        for payout_id, event in ids.items():
            if payout_id in started:
                # A re-delivered event: its payout exists. (Or another agent's withdrawal used
                # the same id: said loudly, since that one must then be paid by hand.)
                existing = self.ledger.repository.get(payout_id)
                if existing.agent_code != event.agent_code:
                    log.error(
                        "payout_policy.withdrawal_id_taken",
                        withdrawal=event.withdrawal_id,
                        agent=event.agent_code,
                        paid_for=existing.agent_code,
                    )
                continue
            audit = Audit(POLICY_ACTOR, event.effective_at, f"withdrawal {event.withdrawal_id}")
            payee = self.ledger.existing_payee(event.agent_code)
            account = None if payee is None else payee.payout_account(event.effective_at)
            payouts.append(
                Payout.start(
                    event.withdrawal_id,
                    event.agent_code,
                    self.trigger.amount_fen(event),
                    self.channel,
                    self.send_now,
                    audit,
                    account,
                )
            )
        return payouts

    def forget(self) -> None:
        pass

    def saved(self, position: int) -> None:
        pass


# -- sending through the outbox ------------------------------------------------------------------
class PayoutSender:
    """The outbox's sender of payout requests (kind payout.submit)."""

    def __init__(
        self, ledger: Ledger, channels: dict[str, PaymentChannel], now: Callable[[], datetime]
    ) -> None:
        self.ledger = ledger
        self.channels = channels
        self.now = now

    def send(self, delivery: Delivery) -> dict[str, Any]:
        p = delivery.payload
        channel = self.channels[p["channel"]]
        answer = channel.submit(p["outRequestId"], p["payeeAccount"], p["amountFen"])
        if isinstance(answer, Refused):
            return {"accepted": False, "reason": answer.reason}
        return {"accepted": True, "channelTxnId": answer.channel_txn_id}

    def record(self, delivery: Delivery, answer: dict[str, Any]) -> None:
        reason = answer.get("reason") or "accepted by the channel"
        self.ledger.execute(
            RecordPayoutSubmission(
                withdrawal_id=withdrawal_of(delivery.payload["outRequestId"]),
                accepted=bool(answer["accepted"]),
                channel_txn_id=answer.get("channelTxnId"),
                audit=Audit(DISPATCH_ACTOR, self.now(), reason[:2000], time_given=False),
            )
        )


# -- the poll for callbacks that never came ------------------------------------------------------
@dataclass(frozen=True)
class PollResult:
    asked: int
    paid: list[str]
    failed: list[str]


def poll_channel(
    ledger: Ledger,
    channels: dict[str, PaymentChannel],
    submitted: Sequence[tuple[str, str, str]],
    now: datetime,
) -> PollResult:
    """Asks the channel about submitted payouts (withdrawal id, channel, out-request id) and
    records the outcomes it knows. A payout still processing is asked again next time."""
    paid, failed = [], []
    for withdrawal_id, channel_name, out_request_id in submitted:
        channel = channels.get(channel_name)
        if channel is None:
            continue
        try:
            status = channel.query(out_request_id)
        except Exception as exc:
            log.warning("payout_poll.query_failed", withdrawal=withdrawal_id, error=str(exc))
            continue
        if status.state not in ("PAID", "FAILED"):
            continue
        reason = status.reason or f"channel query: {status.state}"
        done = ledger.execute(
            RecordPayoutOutcome(
                withdrawal_id=withdrawal_id,
                paid=status.state == "PAID",
                channel_txn_id=status.channel_txn_id,
                audit=Audit(POLL_ACTOR, now, reason[:2000], time_given=False),
            )
        )
        if done.recorded:
            (paid if status.state == "PAID" else failed).append(withdrawal_id)
    return PollResult(len(submitted), paid, failed)
