"""An agent's wallet: the commission lifecycle and the balance buckets it moves.

Buckets: frozen, unfreezing (awaiting approval), available, withdrawing, debt, deposit (flow 2).
Every event says how it moves the buckets (`deltas`), and every commission lifecycle event what it
does to its line (`line_effect`), so the aggregate and the views share one definition of each and
cannot drift apart. The open lines are the wallet's CommissionBook (domain/book.py).

The events stay declared here (their topics, domain.wallet:Wallet.<Name>, are in the log); the
operations that record them are mixins by area: commission lines (domain/commission_lines.py),
the deposit (domain/deposits.py), unfreeze decisions (domain/unfreezing.py), withdrawals
(domain/payouts.py, their state domain/withdrawal_state.py), adjustments (domain/adjustments.py).
"""

from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.adjustments import Adjustments
from domain.balance_event import BalanceMovement
from domain.book import CommissionBook, CommissionStatus, LineEffect
from domain.commission_lines import CommissionLines
from domain.common import aggregate_id
from domain.deposits import Deposits
from domain.money import require_balance
from domain.payouts import Payouts
from domain.unfreezing import UnfreezeDecisions

BUCKETS = ("frozen", "unfreezing", "available", "withdrawing", "debt", "deposit")

_BUCKET_OF = {
    CommissionStatus.FROZEN: "frozen",
    CommissionStatus.UNFREEZE_REQUESTED: "unfreezing",
    CommissionStatus.APPROVED: "available",
}


class Wallet(Aggregate, CommissionLines, Deposits, UnfreezeDecisions, Payouts, Adjustments):
    class Opened(Aggregate.Created):
        agent_code: str

    class BalanceEvent(BalanceMovement, Aggregate.Event):
        """Base of the events that move money (what they do: domain/balance_event.py).

        Each carries, besides its own fields, the agent whose wallet it is (version 2 on;
        version 1 events get it from the wallet's opening when read) and the audit fields."""

        class_version = 2
        # Its kind in the movement ledger and on statements (domain/movements.py): every
        # concrete balance event names one, as a plain class attribute (not a field).
        MOVEMENT: ClassVar[str]
        agent_code: str
        actor: str
        effective_at: datetime
        reason: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["agent_code"] = None

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
        MOVEMENT = "deposit_top_up"
        amount_fen: int

        def deltas(self) -> dict[str, int]:
            return {"deposit": self.amount_fen}

    class DepositDebited(BalanceEvent):
        MOVEMENT = "deposit_debit"
        order_id: str
        amount_fen: int

        def deltas(self) -> dict[str, int]:
            return {"deposit": -self.amount_fen}

    class DepositRefunded(BalanceEvent):
        MOVEMENT = "deposit_refund"
        order_id: str
        amount_fen: int

        def deltas(self) -> dict[str, int]:
            return {"deposit": self.amount_fen}

    class CommissionAccrued(LineEvent):
        MOVEMENT = "commission_accrued"
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
            wallet.open_line(self)

    class UnfreezeRequested(LineEvent):
        MOVEMENT = "unfreeze_requested"
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
        MOVEMENT = "commission_approved"
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

        MOVEMENT = "unfreeze_approval_recorded"
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
        MOVEMENT = "unfreeze_rejected"
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

        MOVEMENT = "commission_voided"
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
        """Available money is set aside for a withdrawal; it then awaits finance's review.

        Version 3 records the business day it counts on for the limits and whether it set off
        the large-withdrawal alert (earlier ones: no day, so no limit counts them; not large)."""

        class_version = 3
        MOVEMENT = "withdrawal_requested"
        withdrawal_id: str
        amount_fen: int
        business_day: str | None
        large: bool

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            state["business_day"] = None
            state["large"] = False

        def deltas(self) -> dict[str, int]:
            return {"available": -self.amount_fen, "withdrawing": self.amount_fen}

        def apply_to_lines(self, wallet: Any) -> None:
            wallet.hold_withdrawal(self)

    class WithdrawalApprovalRecorded(BalanceEvent):
        """A first approval of a withdrawal that needs two different approvers: nothing moves."""

        withdrawal_id: str
        amount_fen: int
        approver: str
        MOVEMENT = "withdrawal_approval_recorded"

        def apply_to_lines(self, wallet: Any) -> None:
            wallet.withdrawal_reviews[self.withdrawal_id].append(self.approver)

    class WithdrawalApproved(BalanceEvent):
        """Finance approved: the channel is to pay net_fen = amount_fen - fee_fen - tax_fen.
        The gross stays in withdrawing until the payout's outcome (domain/payouts.py)."""

        withdrawal_id: str
        amount_fen: int
        fee_fen: int
        tax_fen: int
        net_fen: int
        tax_method: str | None  # None: a company, nothing withheld
        tax_period: str | None  # the month (PER_MONTH) or year (CUMULATIVE) the tax counts in
        tax_month: str
        MOVEMENT = "withdrawal_approved"

        def apply_to_lines(self, wallet: Any) -> None:
            wallet.fix_approved_terms(self)

    class WithdrawalRejected(BalanceEvent):
        """Finance rejected (reason): the money comes back, and repays any debt first."""

        withdrawal_id: str
        amount_fen: int
        debt_repaid_fen: int
        MOVEMENT = "withdrawal_rejected"

        def deltas(self) -> dict[str, int]:
            return {
                "withdrawing": -self.amount_fen,
                "available": self.amount_fen - self.debt_repaid_fen,
                "debt": -self.debt_repaid_fen,
            }

        def apply_to_lines(self, wallet: Any) -> None:
            del wallet.withdrawal_reviews[self.withdrawal_id]
            wallet.end_withdrawal(self.withdrawal_id, counts=False)

    class WithdrawalFeeCharged(BalanceEvent):
        """The fee of a paid withdrawal leaves the wallet (platform revenue)."""

        withdrawal_id: str
        amount_fen: int
        MOVEMENT = "fee"

        def deltas(self) -> dict[str, int]:
            return {"withdrawing": -self.amount_fen}

    class WithdrawalTaxWithheld(BalanceEvent):
        """The 劳务报酬 tax withheld from a paid withdrawal leaves the wallet (to the tax office)."""

        withdrawal_id: str
        amount_fen: int
        tax_period: str
        MOVEMENT = "tax"

        def deltas(self) -> dict[str, int]:
            return {"withdrawing": -self.amount_fen}

    class WithdrawalPaid(BalanceEvent):
        """The channel paid the agent the net amount (after fee and tax): it has left the ledger."""

        MOVEMENT = "withdrawal_paid"
        withdrawal_id: str
        amount_fen: int

        def deltas(self) -> dict[str, int]:
            return {"withdrawing": -self.amount_fen}

        def apply_to_lines(self, wallet: Any) -> None:
            wallet.end_withdrawal(self.withdrawal_id, counts=True)

    class WithdrawalFailed(BalanceEvent):
        """The payout failed: the whole gross comes back (fee and tax reversed: the tax no longer
        counts as withheld in its period), and repays any debt first."""

        MOVEMENT = "withdrawal_failed"
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
            wallet.reverse_failed(self)

    class CommissionMovedToDeposit(BalanceEvent):
        """Flow 2 funding (返还到代理余额): available commission becomes prepaid deposit."""

        transfer_id: str
        amount_fen: int
        MOVEMENT = "deposit_transfer"

        def deltas(self) -> dict[str, int]:
            return {"available": -self.amount_fen, "deposit": self.amount_fen}

        def apply_to_lines(self, wallet: Any) -> None:
            wallet.deposit_transfers.add(self.transfer_id)

    class CommissionClawedBack(LineEvent):
        """Part or all of a released commission is taken back; what available lacks becomes debt."""

        MOVEMENT = "commission_clawed_back"
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

    class AdjustmentProposed(BalanceEvent):
        """A manual commission adjustment (佣金调整) proposed: nothing moves until someone
        other than the proposer approves it (domain/adjustments.py)."""

        MOVEMENT = "adjustment_proposed"
        adjustment_id: str
        amount_fen: int
        increase: bool
        proposer: str  # the proposing subject, who may not approve it

        def apply_to_lines(self, wallet: Any) -> None:
            wallet.open_adjustment(self)

    class AdjustmentApprovalRecorded(BalanceEvent):
        """A first approval of an adjustment that needs two approvers: nothing moves yet."""

        MOVEMENT = "adjustment_approval_recorded"
        adjustment_id: str
        approver: str

        def apply_to_lines(self, wallet: Any) -> None:
            wallet.pending_adjustments()[self.adjustment_id]["approvers"].append(self.approver)

    class AdjustmentRejected(BalanceEvent):
        MOVEMENT = "adjustment_rejected"
        adjustment_id: str

        def apply_to_lines(self, wallet: Any) -> None:
            wallet.close_adjustment(self.adjustment_id)

    class CommissionAdjusted(BalanceEvent):
        """An approved adjustment moves available directly: an increase repays debt first, a
        decrease takes what available lacks as debt (as a claw-back does)."""

        MOVEMENT = "commission_adjusted"
        adjustment_id: str
        amount_fen: int
        increase: bool
        available_fen: int  # signed change of available
        debt_fen: int  # signed change of debt

        def deltas(self) -> dict[str, int]:
            return {"available": self.available_fen, "debt": self.debt_fen}

        def movement_fen(self) -> int:
            return self.amount_fen if self.increase else -self.amount_fen

        def apply_to_lines(self, wallet: Any) -> None:
            wallet.close_adjustment(self.adjustment_id)

    class Snapshot(Aggregate.Snapshot):
        """A wallet's state, its book as plain data: the book comes back typed."""

        def mutate(self, _: None) -> Any:
            wallet = super().mutate(None)
            wallet.book = CommissionBook.from_state(wallet.book)
            wallet.restore_withdrawal_state()  # snapshots taken before withdrawals were reviewed
            return wallet

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
        self.restore_withdrawal_state()

    def snapshot_weight(self) -> int:
        """What a snapshot's size grows with: the open lines (snapshot intervals stretch)."""
        return len(self.book.lines)

    def _record(self, event_class: type[Any], **fields: Any) -> None:
        """Every wallet event names the agent whose wallet it is."""
        self.trigger_event(event_class, agent_code=self.agent_code, **fields)

    def _require_room(self, bucket: str, delta: int, field: str = "amount") -> None:
        """A bucket a command moves stays within MAX_BALANCE_FEN (domain/money.py)."""
        require_balance(self.balances[bucket] + delta, field, f"the {bucket} of {self.agent_code}")
