"""An agent's wallet: the commission lifecycle and the balance buckets it moves.

Buckets: frozen, unfreezing (awaiting approval), available, withdrawing, debt, deposit (flow 2).
Every event says how it moves the buckets (`deltas`), so the aggregate and the balance projection
share one definition and cannot drift apart.
"""

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import Audit, aggregate_id, derived_id
from domain.errors import InsufficientDeposit, InsufficientFunds, InvalidInput, InvalidState
from domain.money import format_money, require_fen
from domain.rules import CommissionLine

BUCKETS = ("frozen", "unfreezing", "available", "withdrawing", "debt", "deposit")


class CommissionStatus(StrEnum):
    FROZEN = "FROZEN"
    UNFREEZE_REQUESTED = "UNFREEZE_REQUESTED"
    APPROVED = "APPROVED"
    VOIDED = "VOIDED"
    CLAWED_BACK = "CLAWED_BACK"


_BUCKET_OF = {
    CommissionStatus.FROZEN: "frozen",
    CommissionStatus.UNFREEZE_REQUESTED: "unfreezing",
    CommissionStatus.APPROVED: "available",
}


class Wallet(Aggregate):
    class Opened(Aggregate.Created):
        agent_code: str

    class BalanceEvent(Aggregate.Event):
        """Base of the events that move money. `apply` only assigns: checks ran before."""

        def deltas(self) -> dict[str, int]:
            return {}

        def apply(self, aggregate: Any) -> None:
            for bucket, delta in self.deltas().items():
                aggregate.balances[bucket] += delta
            self.apply_to_lines(aggregate)

        def apply_to_lines(self, wallet: Any) -> None:
            """Changes to the open commission lines, for the events that have any."""

    class DepositToppedUp(BalanceEvent):
        amount_fen: int
        actor: str
        effective_at: datetime
        reason: str

        def deltas(self) -> dict[str, int]:
            return {"deposit": self.amount_fen}

    class DepositDebited(BalanceEvent):
        order_id: str
        amount_fen: int
        actor: str
        effective_at: datetime
        reason: str

        def deltas(self) -> dict[str, int]:
            return {"deposit": -self.amount_fen}

    class DepositRefunded(BalanceEvent):
        order_id: str
        amount_fen: int
        actor: str
        effective_at: datetime
        reason: str

        def deltas(self) -> dict[str, int]:
            return {"deposit": self.amount_fen}

    class CommissionAccrued(BalanceEvent):
        commission_id: str
        kind: str
        amount_fen: int
        base_fen: int
        rate: str | None
        order_id: str | None
        iccid: str | None
        source: str
        plan_code: str
        plan_version: int
        rule_code: str
        hold_days: int
        releasable_at: datetime
        facts: dict[str, Any]
        actor: str
        effective_at: datetime
        reason: str

        def deltas(self) -> dict[str, int]:
            return {"frozen": self.amount_fen}

        def apply_to_lines(self, wallet: Any) -> None:
            wallet.commissions[self.commission_id] = {
                "status": CommissionStatus.FROZEN,
                "amount": self.amount_fen,
                "original": self.amount_fen,
                "order_id": self.order_id,
                "hold_days": self.hold_days,
                "releasable_at": self.releasable_at,
                "request_id": None,
                "requests": 0,
            }
            if self.order_id is not None:
                wallet.by_order.setdefault(self.order_id, []).append(self.commission_id)
            # A correction's adjustment names the line it corrects: later corrections find the
            # line's whole amount through it.
            if corrects := self.facts.get("corrects"):
                wallet.adjustments.setdefault(corrects, []).append(self.commission_id)

    class UnfreezeRequested(BalanceEvent):
        commission_id: str
        request_id: str
        amount_fen: int
        actor: str
        effective_at: datetime
        reason: str

        def deltas(self) -> dict[str, int]:
            return {"frozen": -self.amount_fen, "unfreezing": self.amount_fen}

        def apply_to_lines(self, wallet: Any) -> None:
            line = wallet.commissions[self.commission_id]
            line.update(
                status=CommissionStatus.UNFREEZE_REQUESTED,
                request_id=self.request_id,
                requests=line["requests"] + 1,
            )
            wallet.requests[self.request_id] = self.commission_id

    class CommissionApproved(BalanceEvent):
        commission_id: str
        request_id: str
        amount_fen: int
        debt_repaid_fen: int
        actor: str
        effective_at: datetime
        reason: str

        def deltas(self) -> dict[str, int]:
            return {
                "unfreezing": -self.amount_fen,
                "available": self.amount_fen - self.debt_repaid_fen,
                "debt": -self.debt_repaid_fen,
            }

        def apply_to_lines(self, wallet: Any) -> None:
            wallet.commissions[self.commission_id].update(
                status=CommissionStatus.APPROVED, request_id=None
            )
            del wallet.requests[self.request_id]

    class UnfreezeRejected(BalanceEvent):
        commission_id: str
        request_id: str
        amount_fen: int
        releasable_at: datetime
        actor: str
        effective_at: datetime
        reason: str

        def deltas(self) -> dict[str, int]:
            return {"unfreezing": -self.amount_fen, "frozen": self.amount_fen}

        def apply_to_lines(self, wallet: Any) -> None:
            wallet.commissions[self.commission_id].update(
                status=CommissionStatus.FROZEN, request_id=None, releasable_at=self.releasable_at
            )
            del wallet.requests[self.request_id]

    class CommissionVoided(BalanceEvent):
        """Part or all of a commission not yet released is cancelled."""

        commission_id: str
        amount_fen: int
        from_status: str
        remaining_fen: int
        closes_request: str | None  # the pending unfreeze request this void ends, if any
        decision: str | None  # how that request ended: REJECTED (by finance) or VOIDED
        actor: str
        effective_at: datetime
        reason: str

        def deltas(self) -> dict[str, int]:
            return {_BUCKET_OF[CommissionStatus(self.from_status)]: -self.amount_fen}

        def apply_to_lines(self, wallet: Any) -> None:
            if self.decision == "REJECTED":
                wallet.rejected.add(self.commission_id)
            wallet.set_remaining(self.commission_id, self.remaining_fen)

    class WithdrawalRequested(BalanceEvent):
        """Available money is set aside for a payout through the payment channel."""

        withdrawal_id: str
        amount_fen: int
        actor: str
        effective_at: datetime
        reason: str

        def deltas(self) -> dict[str, int]:
            return {"available": -self.amount_fen, "withdrawing": self.amount_fen}

        def apply_to_lines(self, wallet: Any) -> None:
            wallet.withdrawals[self.withdrawal_id] = self.amount_fen

    class WithdrawalPaid(BalanceEvent):
        """The channel paid the agent: the money has left the ledger."""

        withdrawal_id: str
        amount_fen: int
        actor: str
        effective_at: datetime
        reason: str

        def deltas(self) -> dict[str, int]:
            return {"withdrawing": -self.amount_fen}

        def apply_to_lines(self, wallet: Any) -> None:
            del wallet.withdrawals[self.withdrawal_id]
            wallet.settled_withdrawals.add(self.withdrawal_id)

    class WithdrawalFailed(BalanceEvent):
        """The payout failed: the money comes back, and repays any debt first."""

        withdrawal_id: str
        amount_fen: int
        debt_repaid_fen: int
        actor: str
        effective_at: datetime
        reason: str

        def deltas(self) -> dict[str, int]:
            return {
                "withdrawing": -self.amount_fen,
                "available": self.amount_fen - self.debt_repaid_fen,
                "debt": -self.debt_repaid_fen,
            }

        def apply_to_lines(self, wallet: Any) -> None:
            del wallet.withdrawals[self.withdrawal_id]
            wallet.settled_withdrawals.add(self.withdrawal_id)

    class CommissionClawedBack(BalanceEvent):
        """Part or all of a released commission is taken back; what available lacks becomes debt."""

        commission_id: str
        amount_fen: int
        from_available_fen: int
        to_debt_fen: int
        remaining_fen: int
        actor: str
        effective_at: datetime
        reason: str

        def deltas(self) -> dict[str, int]:
            return {"available": -self.from_available_fen, "debt": self.to_debt_fen}

        def apply_to_lines(self, wallet: Any) -> None:
            wallet.set_remaining(self.commission_id, self.remaining_fen)

    # -------------------------------------------------------------------------------------------

    @staticmethod
    def create_id(agent_code: str, **_: Any) -> UUID:
        return aggregate_id("wallet", agent_code)

    @classmethod
    def open(cls, agent_code: str) -> "Wallet":
        return cls._create(cls.Opened, agent_code=agent_code)

    @event(Opened)
    def __init__(self, agent_code: str) -> None:
        self.agent_code = agent_code
        self.balances = dict.fromkeys(BUCKETS, 0)
        # Open lines only: id -> {status, amount (remaining), order_id, hold_days, releasable_at,
        # request_id}. Voided and fully clawed-back lines are dropped: nothing can move them again.
        self.commissions: dict[str, dict[str, Any]] = {}
        self.requests: dict[str, str] = {}  # pending unfreeze request id -> commission id
        # Ids of card-triggered lines that reached zero, so they are never accrued again.
        self.closed: set[str] = set()
        self.withdrawals: dict[str, int] = {}  # payouts in flight: id -> amount
        self.by_order: dict[str, list[str]] = {}  # order id -> ids of the lines it paid
        self.adjustments: dict[str, list[str]] = {}  # corrected line id -> its adjustments
        self.rejected: set[str] = set()  # lines finance voided: no correction pays them again
        self.settled_withdrawals: set[str] = set()  # a payout id names one payout, ever

    # -- deposit (flow 2) -------------------------------------------------------------------------
    def top_up(self, amount_fen: int, audit: Audit) -> None:
        require_fen(amount_fen, "amount", allow_zero=False)
        self.trigger_event(self.DepositToppedUp, amount_fen=amount_fen, **audit.fields())

    def debit_deposit(self, order_id: str, amount_fen: int, audit: Audit) -> None:
        require_fen(amount_fen, "amount", allow_zero=False)
        if amount_fen > self.balances["deposit"]:
            raise InsufficientDeposit(
                "flow",
                f"deposit {format_money(self.balances['deposit'])} does not cover the cost "
                f"{format_money(amount_fen)}",
            )
        self.trigger_event(
            self.DepositDebited, order_id=order_id, amount_fen=amount_fen, **audit.fields()
        )

    def refund_deposit(self, order_id: str, amount_fen: int, audit: Audit) -> None:
        require_fen(amount_fen, "amount", allow_zero=False)
        self.trigger_event(
            self.DepositRefunded, order_id=order_id, amount_fen=amount_fen, **audit.fields()
        )

    # -- commission lifecycle -------------------------------------------------------------------
    def accrue(self, commission_id: str, line: CommissionLine, audit: Audit) -> bool:
        """Records a commission frozen. The same fact accrued again is a no-op (returns False)."""
        if commission_id in self.commissions or commission_id in self.closed:
            return False
        self.trigger_event(
            self.CommissionAccrued,
            commission_id=commission_id,
            kind=str(line.kind),
            amount_fen=line.amount_fen,
            base_fen=line.base_fen,
            rate=line.rate,
            order_id=line.order_id,
            iccid=line.iccid,
            source=line.source,
            plan_code=line.plan_code,
            plan_version=line.plan_version,
            rule_code=line.rule_code,
            hold_days=line.hold_days,
            releasable_at=line.releasable_at(audit.effective_at),
            facts=line.facts,
            **audit.fields(),
        )
        return True

    def due_for_release(self, now: datetime) -> list[str]:
        return [
            cid
            for cid, c in self.commissions.items()
            if c["status"] == CommissionStatus.FROZEN and c["releasable_at"] <= now
        ]

    def request_unfreeze(self, commission_id: str, audit: Audit) -> str:
        line = self._line(commission_id)
        if line["status"] != CommissionStatus.FROZEN:
            raise InvalidState("ids", f"commission {commission_id} is {line['status']}, not FROZEN")
        if line["releasable_at"] > audit.effective_at:
            raise InvalidState(
                "now",
                f"commission {commission_id} is held until {line['releasable_at'].isoformat()}",
            )
        request_id = derived_id("unfreeze", commission_id, line["requests"] + 1)
        self.trigger_event(
            self.UnfreezeRequested,
            commission_id=commission_id,
            request_id=request_id,
            amount_fen=line["amount"],
            **audit.fields(),
        )
        return request_id

    def approve(self, request_id: str, audit: Audit) -> None:
        commission_id = self._pending(request_id)
        amount = self.commissions[commission_id]["amount"]
        self.trigger_event(
            self.CommissionApproved,
            commission_id=commission_id,
            request_id=request_id,
            amount_fen=amount,
            debt_repaid_fen=min(amount, self.balances["debt"]),
            **audit.fields(),
        )

    def reject(self, request_id: str, void: bool, audit: Audit) -> None:
        if not audit.reason:
            raise InvalidInput("reason", "a rejection needs a reason")
        commission_id = self._pending(request_id)
        line = self.commissions[commission_id]
        if void:
            self.trigger_event(
                self.CommissionVoided,
                commission_id=commission_id,
                amount_fen=line["amount"],
                from_status=str(line["status"]),
                remaining_fen=0,
                closes_request=request_id,
                decision="REJECTED",
                **audit.fields(),
            )
            return
        self.trigger_event(
            self.UnfreezeRejected,
            commission_id=commission_id,
            request_id=request_id,
            amount_fen=line["amount"],
            # Back to frozen for another full hold, so it is not re-requested at once.
            releasable_at=audit.effective_at + timedelta(days=line["hold_days"]),
            **audit.fields(),
        )

    def reduce(self, commission_id: str, amount_fen: int, audit: Audit) -> None:
        """A refund takes amount_fen off a line: void while unreleased, claw back once released."""
        line = self._line(commission_id)
        amount_fen = min(amount_fen, line["amount"])
        if amount_fen <= 0:
            return
        remaining = line["amount"] - amount_fen
        if line["status"] == CommissionStatus.APPROVED:
            from_available = min(amount_fen, self.balances["available"])
            self.trigger_event(
                self.CommissionClawedBack,
                commission_id=commission_id,
                amount_fen=amount_fen,
                from_available_fen=from_available,
                to_debt_fen=amount_fen - from_available,
                remaining_fen=remaining,
                **audit.fields(),
            )
        else:
            self.trigger_event(
                self.CommissionVoided,
                commission_id=commission_id,
                amount_fen=amount_fen,
                from_status=str(line["status"]),
                remaining_fen=remaining,
                closes_request=line["request_id"] if remaining == 0 else None,
                decision="VOIDED" if remaining == 0 and line["request_id"] else None,
                **audit.fields(),
            )

    def set_remaining(self, commission_id: str, remaining_fen: int) -> None:
        line = self.commissions[commission_id]
        line["amount"] = remaining_fen
        if remaining_fen == 0:
            if line["request_id"] is not None:
                self.requests.pop(line["request_id"], None)
            del self.commissions[commission_id]
            if line["order_id"] is None:
                # Card facts can re-trigger a one-time rule (activation, then a recharge): keep
                # the id so a closed line is never paid again. Orders complete only once.
                self.closed.add(commission_id)

    # -- withdrawals ------------------------------------------------------------------------------
    def request_withdrawal(self, withdrawal_id: str, amount_fen: int, audit: Audit) -> None:
        """Never lets available go below zero; debt must be repaid before anything is paid out."""
        require_fen(amount_fen, "amount", allow_zero=False)
        if withdrawal_id in self.withdrawals or withdrawal_id in self.settled_withdrawals:
            raise InvalidState("withdrawalId", f"withdrawal {withdrawal_id} was already requested")
        if self.balances["debt"] > 0:
            raise InsufficientFunds(
                "amount", f"the debt {format_money(self.balances['debt'])} must be repaid first"
            )
        if amount_fen > self.balances["available"]:
            raise InsufficientFunds(
                "amount",
                f"{format_money(amount_fen)} exceeds the available "
                f"{format_money(self.balances['available'])}",
            )
        self.trigger_event(
            self.WithdrawalRequested,
            withdrawal_id=withdrawal_id,
            amount_fen=amount_fen,
            **audit.fields(),
        )

    def settle_withdrawal(self, withdrawal_id: str, paid: bool, audit: Audit) -> None:
        if withdrawal_id not in self.withdrawals:
            raise InvalidState("withdrawalId", f"withdrawal {withdrawal_id} is not in flight")
        if not paid and not audit.reason:
            raise InvalidInput("reason", "a failed payout needs a reason")
        amount = self.withdrawals[withdrawal_id]
        if paid:
            self.trigger_event(
                self.WithdrawalPaid,
                withdrawal_id=withdrawal_id,
                amount_fen=amount,
                **audit.fields(),
            )
            return
        self.trigger_event(
            self.WithdrawalFailed,
            withdrawal_id=withdrawal_id,
            amount_fen=amount,
            debt_repaid_fen=min(amount, self.balances["debt"]),
            **audit.fields(),
        )

    def take_back(self, commission_id: str, amount_fen: int, audit: Audit) -> int:
        """Takes amount_fen off a line and the adjustments that corrected it, newest first:
        void while unreleased, claw back once released. Returns what was taken."""
        require_fen(amount_fen, "amount", allow_zero=False)
        taken = 0
        for cid in reversed(self.parts_of(commission_id)):
            part = min(amount_fen - taken, self.commissions[cid]["amount"])
            if part > 0:
                self.reduce(cid, part, audit)
                taken += part
        return taken

    # -- queries ----------------------------------------------------------------------------------
    def lines_for_order(self, order_id: str) -> list[str]:
        return [cid for cid in self.by_order.get(order_id, ()) if cid in self.commissions]

    def was_rejected(self, commission_id: str) -> bool:
        """Whether finance voided the line, or any adjustment of it, on rejection."""
        return any(
            cid in self.rejected
            for cid in (commission_id, *self.adjustments.get(commission_id, ()))
        )

    def parts_of(self, commission_id: str) -> list[str]:
        """The open line and its open adjustments, oldest first."""
        parts = [commission_id, *self.adjustments.get(commission_id, ())]
        return [cid for cid in parts if cid in self.commissions]

    def _line(self, commission_id: str) -> dict[str, Any]:
        try:
            return self.commissions[commission_id]
        except KeyError:
            raise InvalidState("ids", f"commission {commission_id} is not open") from None

    def _pending(self, request_id: str) -> str:
        try:
            return self.requests[request_id]
        except KeyError:
            raise InvalidState(
                "ids", f"unfreeze request {request_id} is not pending on {self.agent_code}"
            ) from None
