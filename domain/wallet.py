"""An agent's wallet: the commission lifecycle and the balance buckets it moves.

Buckets: frozen, unfreezing (awaiting approval), available, withdrawing, debt, deposit (flow 2).
Every event says how it moves the buckets (`deltas`), and every commission lifecycle event what it
does to its line (`line_effect`), so the aggregate and the views share one definition of each and
cannot drift apart. The open lines are the wallet's CommissionBook (domain/book.py).
"""

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.book import BookKeeper, CommissionBook, CommissionStatus, LineEffect, hold_until
from domain.common import Audit, aggregate_id, derived_id
from domain.errors import InsufficientDeposit, InvalidState
from domain.log import FilledFromHistory
from domain.money import format_money, require_balance, require_fen
from domain.payouts import Payouts
from domain.rules import CommissionLine
from domain.unfreezing import UnfreezeDecisions

BUCKETS = ("frozen", "unfreezing", "available", "withdrawing", "debt", "deposit")

_BUCKET_OF = {
    CommissionStatus.FROZEN: "frozen",
    CommissionStatus.UNFREEZE_REQUESTED: "unfreezing",
    CommissionStatus.APPROVED: "available",
}


class Wallet(Aggregate, BookKeeper, UnfreezeDecisions, Payouts):
    class Opened(Aggregate.Created):
        agent_code: str

    class BalanceEvent(Aggregate.Event, FilledFromHistory):
        """Base of the events that move money. `apply` only assigns: checks ran before.

        Each carries, besides its own fields, the agent whose wallet it is (version 2 on;
        version 1 events get it from the wallet's opening when read) and the audit fields."""

        class_version = 2
        agent_code: str
        actor: str
        effective_at: datetime
        reason: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["agent_code"] = None

        def missing_facts(self) -> bool:
            return self.agent_code is None

        def filled(self, first: Sequence[Any]) -> Any:
            return replace(self, agent_code=first[0].agent_code)

        def deltas(self) -> dict[str, int]:
            return {}

        def apply(self, aggregate: Any) -> None:
            for bucket, delta in self.deltas().items():
                aggregate.balances[bucket] += delta
            self.apply_to_lines(aggregate)

        def apply_to_lines(self, wallet: Any) -> None:
            """Changes to what the wallet holds besides balances, for the events that have any."""

    class LineEvent(BalanceEvent):
        """A step of a commission line's lifecycle (each carries its line's commission_id): it
        declares its effect on the line once, and the wallet's book and every view derive the
        line's status from that declaration."""

        commission_id: str

        def line_effect(self) -> LineEffect:
            raise NotImplementedError

        def apply_to_lines(self, wallet: Any) -> None:
            wallet.book.apply(self.line_effect())

    class DepositToppedUp(BalanceEvent):
        amount_fen: int

        def deltas(self) -> dict[str, int]:
            return {"deposit": self.amount_fen}

    class DepositDebited(BalanceEvent):
        order_id: str
        amount_fen: int

        def deltas(self) -> dict[str, int]:
            return {"deposit": -self.amount_fen}

    class DepositRefunded(BalanceEvent):
        order_id: str
        amount_fen: int

        def deltas(self) -> dict[str, int]:
            return {"deposit": self.amount_fen}

    class CommissionAccrued(LineEvent):
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

        def deltas(self) -> dict[str, int]:
            return {"frozen": self.amount_fen}

        def line_effect(self) -> LineEffect:
            return LineEffect.whole(
                self.commission_id,
                self.amount_fen,
                None,
                CommissionStatus.FROZEN,
                releasable_at=self.releasable_at,
            )

        def apply_to_lines(self, wallet: Any) -> None:
            wallet.book.open(
                self.line_effect(),
                self.order_id,
                self.hold_days,
                self.facts.get("corrects"),
                iccid=self.iccid,
                rule=(self.plan_code, self.plan_version, self.rule_code),
            )

    class UnfreezeRequested(LineEvent):
        request_id: str
        amount_fen: int

        def deltas(self) -> dict[str, int]:
            return {"frozen": -self.amount_fen, "unfreezing": self.amount_fen}

        def line_effect(self) -> LineEffect:
            return LineEffect.whole(
                self.commission_id,
                self.amount_fen,
                CommissionStatus.FROZEN,
                CommissionStatus.UNFREEZE_REQUESTED,
                opens_request=self.request_id,
            )

    class CommissionApproved(LineEvent):
        request_id: str
        amount_fen: int
        debt_repaid_fen: int

        def deltas(self) -> dict[str, int]:
            return {
                "unfreezing": -self.amount_fen,
                "available": self.amount_fen - self.debt_repaid_fen,
                "debt": -self.debt_repaid_fen,
            }

        def line_effect(self) -> LineEffect:
            return LineEffect.whole(
                self.commission_id,
                self.amount_fen,
                CommissionStatus.UNFREEZE_REQUESTED,
                CommissionStatus.APPROVED,
                closes_request=self.request_id,
                decision="APPROVED",
            )

    class UnfreezeApprovalRecorded(LineEvent):
        """A first approval of a request that needs two different approvers (maker-checker):
        nothing moves; the request waits for a second approver (domain/approvals.py)."""

        request_id: str
        amount_fen: int
        approver: str  # the approving subject, compared with the next approver

        def line_effect(self) -> LineEffect:
            requested = CommissionStatus.UNFREEZE_REQUESTED
            return LineEffect(
                self.commission_id, 0, requested, requested, requested, self.amount_fen,
                approver=self.approver,
            )  # fmt: skip

    class UnfreezeRejected(LineEvent):
        request_id: str
        amount_fen: int
        releasable_at: datetime

        def deltas(self) -> dict[str, int]:
            return {"unfreezing": -self.amount_fen, "frozen": self.amount_fen}

        def line_effect(self) -> LineEffect:
            return LineEffect.whole(
                self.commission_id,
                self.amount_fen,
                CommissionStatus.UNFREEZE_REQUESTED,
                CommissionStatus.FROZEN,
                releasable_at=self.releasable_at,
                closes_request=self.request_id,
                decision="REJECTED",
            )

    class CommissionVoided(LineEvent):
        """Part or all of a commission not yet released is cancelled."""

        amount_fen: int
        from_status: str
        remaining_fen: int
        closes_request: str | None  # the pending unfreeze request this void ends, if any
        decision: str | None  # how that request ended: REJECTED (by finance) or VOIDED

        def deltas(self) -> dict[str, int]:
            return {_BUCKET_OF[CommissionStatus(self.from_status)]: -self.amount_fen}

        def line_effect(self) -> LineEffect:
            closes = self.closes_request
            return LineEffect.taken(
                self.commission_id,
                self.amount_fen,
                CommissionStatus(self.from_status),
                CommissionStatus.VOIDED,
                self.remaining_fen,
                closes_request=closes,
                decision=(self.decision or "VOIDED") if closes else None,
            )

    class WithdrawalRequested(BalanceEvent):
        """Available money is set aside for a payout through the payment channel."""

        withdrawal_id: str
        amount_fen: int

        def deltas(self) -> dict[str, int]:
            return {"available": -self.amount_fen, "withdrawing": self.amount_fen}

        def apply_to_lines(self, wallet: Any) -> None:
            wallet.withdrawals[self.withdrawal_id] = self.amount_fen

    class WithdrawalPaid(BalanceEvent):
        """The channel paid the agent: the money has left the ledger."""

        withdrawal_id: str
        amount_fen: int

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

        def deltas(self) -> dict[str, int]:
            return {
                "withdrawing": -self.amount_fen,
                "available": self.amount_fen - self.debt_repaid_fen,
                "debt": -self.debt_repaid_fen,
            }

        def apply_to_lines(self, wallet: Any) -> None:
            del wallet.withdrawals[self.withdrawal_id]
            wallet.settled_withdrawals.add(self.withdrawal_id)

    class CommissionClawedBack(LineEvent):
        """Part or all of a released commission is taken back; what available lacks becomes debt."""

        amount_fen: int
        from_available_fen: int
        to_debt_fen: int
        remaining_fen: int

        def deltas(self) -> dict[str, int]:
            return {"available": -self.from_available_fen, "debt": self.to_debt_fen}

        def line_effect(self) -> LineEffect:
            return LineEffect.taken(
                self.commission_id,
                self.amount_fen,
                CommissionStatus.APPROVED,
                CommissionStatus.CLAWED_BACK,
                self.remaining_fen,
            )

    class Snapshot(Aggregate.Snapshot):
        """A wallet's state, its book as plain data: the book comes back typed."""

        def mutate(self, _: None) -> Any:
            wallet = super().mutate(None)
            wallet.book = CommissionBook.from_state(wallet.book)
            return wallet

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
        self.book = CommissionBook()
        self.withdrawals: dict[str, int] = {}  # payouts in flight: id -> amount
        self.settled_withdrawals: set[str] = set()  # a payout id names one payout, ever

    def _record(self, event_class: type[Any], **fields: Any) -> None:
        """Every wallet event names the agent whose wallet it is."""
        self.trigger_event(event_class, agent_code=self.agent_code, **fields)

    # -- deposit (flow 2) -------------------------------------------------------------------------
    def top_up(self, amount_fen: int, audit: Audit) -> None:
        require_fen(amount_fen, "amount", allow_zero=False)
        self._require_room("deposit", amount_fen)
        self._record(self.DepositToppedUp, amount_fen=amount_fen, **audit.fields())

    def debit_deposit(self, order_id: str, amount_fen: int, audit: Audit) -> None:
        require_fen(amount_fen, "amount", allow_zero=False)
        if amount_fen > self.balances["deposit"]:
            raise InsufficientDeposit(
                "flow",
                f"deposit {format_money(self.balances['deposit'])} does not cover the cost "
                f"{format_money(amount_fen)}",
            )
        self._record(
            self.DepositDebited, order_id=order_id, amount_fen=amount_fen, **audit.fields()
        )

    def refund_deposit(self, order_id: str, amount_fen: int, audit: Audit) -> None:
        require_fen(amount_fen, "amount", allow_zero=False)
        self._require_room("deposit", amount_fen)
        self._record(
            self.DepositRefunded, order_id=order_id, amount_fen=amount_fen, **audit.fields()
        )

    # -- commission lifecycle -------------------------------------------------------------------
    def accrue(self, commission_id: str, line: CommissionLine, audit: Audit) -> bool:
        """Records a commission frozen. The same fact accrued again is a no-op (returns False)."""
        if not self.book.accepts(commission_id):
            return False
        self._record(
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
            releasable_at=hold_until(audit.effective_at, line.hold_days),
            facts=line.facts,
            **audit.fields(),
        )
        return True

    def due_for_release(self, now: datetime) -> list[str]:
        return self.book.due(now)

    def request_unfreeze(self, commission_id: str, audit: Audit) -> str:
        line = self.book.line(commission_id)
        if line.status != CommissionStatus.FROZEN:
            raise InvalidState("ids", f"commission {commission_id} is {line.status}, not FROZEN")
        if line.releasable_at > audit.effective_at:
            raise InvalidState(
                "now",
                f"commission {commission_id} is held until {line.releasable_at.isoformat()}",
            )
        request_id = derived_id("unfreeze", commission_id, line.requests + 1)
        self._record(
            self.UnfreezeRequested,
            commission_id=commission_id,
            request_id=request_id,
            amount_fen=line.amount_fen,
            **audit.fields(),
        )
        return request_id

    def reduce(self, commission_id: str, amount_fen: int, audit: Audit) -> None:
        """Takes up to amount_fen off a line: void while unreleased, claw back once released."""
        effect = self.book.reduction(commission_id, amount_fen)
        if effect is None:
            return
        if effect.to_status == CommissionStatus.CLAWED_BACK:
            from_available = min(effect.moved_fen, self.balances["available"])
            self._record(
                self.CommissionClawedBack,
                commission_id=commission_id,
                amount_fen=effect.moved_fen,
                from_available_fen=from_available,
                to_debt_fen=effect.moved_fen - from_available,
                remaining_fen=effect.remaining_fen,
                **audit.fields(),
            )
            return
        assert effect.from_status is not None
        self._record(
            self.CommissionVoided,
            commission_id=commission_id,
            amount_fen=effect.moved_fen,
            from_status=str(effect.from_status),
            remaining_fen=effect.remaining_fen,
            closes_request=effect.closes_request,
            decision=effect.decision,
            **audit.fields(),
        )

    def _require_room(self, bucket: str, delta: int, field: str = "amount") -> None:
        """A bucket a command moves stays within MAX_BALANCE_FEN (domain/money.py)."""
        require_balance(self.balances[bucket] + delta, field, f"the {bucket} of {self.agent_code}")
