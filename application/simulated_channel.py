"""A built-in payment channel for tests and demos: in process, or behind the small HTTP service
of api/channel_simulator.py. It pays each out-request id at most once (it deduplicates, as real
channels do), and keeps its own record of every payment, which tests compare with the ledger.

What it does with a request is chosen by the amount's last two fen digits (or set per request
with `behave`):

  .00 and anything else  accepted, paid, one callback
  .11  FAIL_FIRST        the first attempt fails (callback FAILED), later attempts pay
  .22  REFUSE_FIRST      the first attempt is refused at once, later attempts pay
  .33  TIMEOUT_FIRST     the first request is taken (and paid) but its answer is lost: a timeout
  .44  CALLBACK_TWICE    paid, the callback comes twice
  .55  NO_CALLBACK       paid, the callback never comes (the poll finds it)
  .66  LATE_CALLBACK     paid, the callback is held until `release_late()` (after a poll)
"""

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from application.payouts import Accepted, ChannelStatus, Refused

BEHAVIOURS = {
    11: "FAIL_FIRST",
    22: "REFUSE_FIRST",
    33: "TIMEOUT_FIRST",
    44: "CALLBACK_TWICE",
    55: "NO_CALLBACK",
    66: "LATE_CALLBACK",
}
Notify = Callable[[dict[str, Any]], None]


class ChannelTimeout(TimeoutError):
    """The channel took the request, but its answer never arrived."""


@dataclass
class Payment:
    out_request_id: str
    payee_account: str
    amount_fen: int
    behaviour: str
    attempts: int = 0
    state: str = "PROCESSING"
    channel_txn_id: str | None = None
    reason: str = ""
    times_paid: int = 0  # the channel's own count: more than 1 would be a double payment
    history: list[str] = field(default_factory=list)


def behaviour_of(amount_fen: int) -> str:
    return BEHAVIOURS.get(amount_fen % 100, "PAY")


class SimulatedChannel:
    """The channel's state and decisions. `notify` is how a callback is delivered (a signed
    POST for the HTTP service, a direct call in process, nothing if None)."""

    def __init__(self, name: str = "simulated", notify: Notify | None = None) -> None:
        self.name = name
        self.notify = notify
        self.payments: dict[str, Payment] = {}
        self.late: list[dict[str, Any]] = []  # callbacks held back
        self.chosen: dict[str, str] = {}  # behaviours set per out-request id
        self._lock = threading.Lock()

    def behave(self, out_request_id: str, behaviour: str) -> None:
        self.chosen[out_request_id] = behaviour

    def submit(
        self, out_request_id: str, payee_account: str, amount_fen: int
    ) -> Accepted | Refused:
        callbacks: list[dict[str, Any]] = []
        with self._lock:
            payment = self.payments.get(out_request_id)
            if payment is None:
                behaviour = self.chosen.get(out_request_id) or behaviour_of(amount_fen)
                payment = Payment(out_request_id, payee_account, amount_fen, behaviour)
                self.payments[out_request_id] = payment
            if payment.state in ("PAID", "PROCESSING") and payment.channel_txn_id is not None:
                payment.history.append("duplicate")
                return Accepted(payment.channel_txn_id)  # deduplicated: never paid twice
            payment.attempts += 1
            first = payment.attempts == 1
            if payment.behaviour == "REFUSE_FIRST" and first:
                payment.state, payment.reason = "FAILED", "invalid payee account"
                payment.history.append("refused")
                return Refused(payment.reason)
            payment.channel_txn_id = f"{out_request_id}-{payment.attempts}"
            if payment.behaviour == "FAIL_FIRST" and first:
                payment.state, payment.reason = "FAILED", "payee account frozen"
                payment.history.append("failed")
            else:
                payment.state, payment.reason = "PAID", ""
                payment.times_paid += 1
                payment.history.append("paid")
            callbacks = self._callbacks(payment)
            answer = Accepted(payment.channel_txn_id)
            lost = payment.behaviour == "TIMEOUT_FIRST" and first
        for body in callbacks:
            self._notify(body)
        if lost:
            raise ChannelTimeout(f"no answer for {out_request_id} (it was taken)")
        return answer

    def query(self, out_request_id: str) -> ChannelStatus:
        with self._lock:
            payment = self.payments.get(out_request_id)
            if payment is None:
                return ChannelStatus("UNKNOWN")
            return ChannelStatus(payment.state, payment.channel_txn_id, payment.reason)  # type: ignore[arg-type]

    def release_late(self) -> int:
        """Delivers the callbacks held back (LATE_CALLBACK); answers how many."""
        with self._lock:
            held, self.late = self.late, []
        for body in held:
            self._notify(body)
        return len(held)

    def record(self) -> dict[str, dict[str, Any]]:
        """The channel's own books: per out-request id, its state and how often it paid."""
        with self._lock:
            return {
                k: {
                    "state": p.state,
                    "timesPaid": p.times_paid,
                    "attempts": p.attempts,
                    "amountFen": p.amount_fen,
                    "payeeAccount": p.payee_account,
                    "history": list(p.history),
                }
                for k, p in self.payments.items()
            }

    def _callbacks(self, payment: Payment) -> list[dict[str, Any]]:
        body = {
            "outRequestId": payment.out_request_id,
            "channelTxnId": payment.channel_txn_id,
            "status": payment.state,
            "reason": payment.reason or None,
            "amountFen": payment.amount_fen,
        }
        if payment.behaviour == "NO_CALLBACK":
            return []
        if payment.behaviour == "LATE_CALLBACK":
            self.late.append(body)
            return []
        if payment.behaviour == "CALLBACK_TWICE":
            return [body, dict(body)]
        return [body]

    def _notify(self, body: dict[str, Any]) -> None:
        if self.notify is not None:
            self.notify(body)
