"""Payout outcomes under a Hypothesis state machine (issue 11, decision 0026): withdrawals
approved and sent through the simulated channel, its callbacks delivered late, out of order and
more than once, the poll, resubmissions and cancellations interleaved at random.

Invariants: the channel never pays an out-request id twice; the ledger records PAID only for what
the channel paid, once (one Payout.Paid, one WithdrawalPaid per withdrawal); money is conserved
to the fen (available + withdrawing + paid out = what was released); once everything is
delivered, the ledger agrees with the channel's books.
"""

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from api.bootstrap import bootstrap
from api.worker import poll_payouts
from application.clock import SetClock
from application.settings import Settings
from application.simulated_channel import SimulatedChannel
from application.use_cases.payouts import RecordPayoutOutcome, load_payout
from domain.common import Audit
from domain.payout import PayoutStatus
from tests.conftest import create_database, drop_database

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
RELEASED = 4 * 3000  # four sales of 30.00 commission each
# One behaviour of the simulator per amount (application/simulated_channel.py), in fen.
AMOUNTS = [100, 111, 122, 133, 144, 155, 166, 200]


class PayoutMachine(RuleBasedStateMachine):
    server: str = ""
    template: str = ""

    def __init__(self) -> None:
        super().__init__()
        self.db_name = f"fenrun_pm_{uuid.uuid4().hex[:12]}"
        dsn = create_database(self.server, self.db_name, template=self.template)
        try:
            self.clock = SetClock(T0)
            self.app = bootstrap(
                Settings(database_url=dsn, payout_channel="sim", payout_poll_after_seconds=0),
                run_migrations=False,
                clock=self.clock,
            )
        except BaseException:
            drop_database(self.server, self.db_name)
            raise
        self.ledger = self.app.ledger
        self.app.dispatcher.backoff_seconds = (0.0, 0.0)  # a failed delivery is due again at once
        self.channel: SimulatedChannel = self.app.channels["sim"]  # type: ignore[assignment]
        self.callbacks: list[dict[str, Any]] = []  # sent by the channel, not yet delivered
        self.channel.notify = self.callbacks.append
        self.withdrawals: dict[str, int] = {}
        self.seq = 0

    def teardown(self) -> None:
        try:
            self.app.close()
        finally:
            drop_database(self.server, self.db_name)

    def audit(self, actor: str, reason: str = "") -> Audit:
        return Audit(actor, self.clock.now(), reason)

    @initialize()
    def seller_with_released_commissions(self) -> None:
        ledger, a = self.ledger, self.audit("admin")
        ledger.define_package("P", "Traffic 50", "TRAFFIC", 5000, 1, a)
        ledger.register_agent("A", "Agent A", None, True, a)
        ledger.set_cost_price("A", "P", 6000, a)
        ledger.set_retail_price("A", "P", 9000, a)
        for n in range(4):
            ledger.place_order(f"O{n}", "P", "A", None, "cust", "CUSTOMER_PAYS", a)
            ledger.complete_order(f"O{n}", a)
        self.app.catch_up()
        self.clock.set(T0 + timedelta(days=8))
        requested = ledger.release_due_commissions(self.audit("scheduler")).request_ids
        self.app.catch_up()
        ledger.approve_unfreeze_requests(requested, self.audit("finance"))
        self.app.catch_up()
        assert ledger.wallet("A").balances["available"] == RELEASED

    # -- rules ------------------------------------------------------------------------------------
    @rule(amount=st.sampled_from(AMOUNTS))
    def withdraw_and_approve(self, amount: int) -> None:
        if self.ledger.wallet("A").balances["available"] < amount:
            return
        self.seq += 1
        withdrawal_id = f"W{self.seq}"
        self.ledger.request_withdrawal("A", withdrawal_id, amount, self.audit("A"))
        self.ledger.approve_withdrawals((("A", withdrawal_id),), self.audit("finance"))
        self.app.catch_up()  # the payout policy starts the payout, its request in the outbox
        self.withdrawals[withdrawal_id] = amount

    @rule()
    def dispatch(self) -> None:
        self.app.dispatcher.run_until_idle()

    @precondition(lambda self: bool(self.callbacks))
    @rule(pick=st.integers(0, 100), again=st.booleans())
    def deliver_a_callback(self, pick: int, again: bool) -> None:
        """Any waiting callback, not the oldest: reordered; `again`: it stays to come twice."""
        index = pick % len(self.callbacks)
        body = self.callbacks[index] if again else self.callbacks.pop(index)
        paid = body["status"] == "PAID"
        self.ledger.execute(
            RecordPayoutOutcome(
                withdrawal_id=body["outRequestId"].removeprefix("PO-"),
                paid=paid,
                channel_txn_id=body["channelTxnId"],
                audit=self.audit("channel:sim", body["reason"] or "paid"),
            )
        )

    @rule()
    def release_late_callbacks(self) -> None:
        self.channel.release_late()

    @rule()
    def poll(self) -> None:
        self.app.catch_up()
        poll_payouts(self.app, self.clock.now())

    @rule(pick=st.integers(0, 100), cancel=st.integers(0, 3).map(lambda n: n == 0))
    def finance_on_a_failed_payout(self, pick: int, cancel: bool) -> None:
        failed = sorted(w for w in self.withdrawals if self._status(w) == PayoutStatus.FAILED)
        if not failed:
            return
        withdrawal_id = failed[pick % len(failed)]
        if cancel:
            self.ledger.cancel_payout(withdrawal_id, self.audit("finance", "payee gone"))
        else:
            self.ledger.resubmit_payout(withdrawal_id, self.audit("finance"))

    @rule()
    def everything_arrives(self) -> None:
        """All requests sent, every callback delivered, the poll run: the ledger agrees with
        the channel about every payout the channel paid."""
        self.channel.release_late()
        for _ in range(3):
            self.dispatch()
            while self.callbacks:
                self.deliver_a_callback(0, False)
            self.poll()
        books = self.channel.record()
        for withdrawal_id in self.withdrawals:
            paid_by_channel = books.get(f"PO-{withdrawal_id}", {}).get("timesPaid", 0) == 1
            assert (self._status(withdrawal_id) == PayoutStatus.PAID) == paid_by_channel

    # -- invariants -------------------------------------------------------------------------------
    def _status(self, withdrawal_id: str) -> PayoutStatus:
        return load_payout(self.ledger, withdrawal_id).status  # type: ignore[no-any-return]

    @invariant()
    def nothing_is_paid_twice(self) -> None:
        books = self.channel.record()
        assert all(b["timesPaid"] <= 1 for b in books.values())
        with self.app.pool.connection() as conn:
            rows = conn.execute(
                "SELECT topic, count(*) FROM ledger_events WHERE topic LIKE ANY(%s) GROUP BY 1",
                (["%:Payout.Paid", "%:Wallet.WithdrawalPaid"],),
            ).fetchall()
        counts = Counter({topic.rsplit(".", 1)[1]: n for topic, n in rows})
        paid = [w for w in self.withdrawals if self._status(w) == PayoutStatus.PAID]
        assert counts["Paid"] == counts["WithdrawalPaid"] == len(paid)
        for withdrawal_id in paid:  # the ledger's PAID is the channel's
            assert books[f"PO-{withdrawal_id}"]["timesPaid"] == 1

    @invariant()
    def money_is_conserved(self) -> None:
        if not self.withdrawals and self.seq == 0:
            return
        balances = self.ledger.wallet("A").balances
        paid = sum(a for w, a in self.withdrawals.items() if self._status(w) == PayoutStatus.PAID)
        assert balances["available"] + balances["withdrawing"] + paid == RELEASED


def test_payout_outcomes_with_callbacks_duplicated_and_reordered(
    server_url: str, template_db: str
) -> None:
    PayoutMachine.server = server_url
    PayoutMachine.template = template_db
    run_state_machine_as_test(
        PayoutMachine,
        settings=settings(
            max_examples=12,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
