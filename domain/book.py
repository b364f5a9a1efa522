"""An agent's commission book: its open lines, and the decisions that move them.

The book is the one place that knows which lines are open, what is left of each, which order
paid them, which adjustments correct them, and how much a refund, a take-back or a re-rating
takes from each. It decides; a holder acts on its decisions: the Wallet records each as an event
(whose declared `LineEffect` the book then applies), and a simulation's shadow wallet applies the
same effects directly, without events, statuses that finance moves, or balances.
"""

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, cast

from domain.common import Audit
from domain.errors import InvalidState
from domain.money import format_money, require_fen, scale_half_up
from domain.rules import CommissionLine


class CommissionStatus(StrEnum):
    FROZEN = "FROZEN"
    UNFREEZE_REQUESTED = "UNFREEZE_REQUESTED"
    APPROVED = "APPROVED"
    VOIDED = "VOIDED"
    CLAWED_BACK = "CLAWED_BACK"


ENDED = frozenset({CommissionStatus.VOIDED, CommissionStatus.CLAWED_BACK})


def hold_until(since: datetime, hold_days: int) -> datetime:
    """The hold: a line may be released `hold_days` after it accrued, and again that long after
    finance sent it back to frozen."""
    return since + timedelta(days=hold_days)


@dataclass(frozen=True, slots=True)
class LineEffect:
    """What one lifecycle event does to one commission line. Each event declares it beside its
    bucket `deltas()`; the book applies it, and every view that shows a line's status reads it.

    `moved_fen` leaves `from_status` (None when the event opens the line) for `to_status`; what
    is left of the line afterwards is `remaining_fen`, in `status`."""

    commission_id: str
    moved_fen: int
    from_status: CommissionStatus | None
    to_status: CommissionStatus
    status: CommissionStatus
    remaining_fen: int
    releasable_at: datetime | None = None  # the line's new hold end, when the event sets one
    opens_request: str | None = None  # the unfreeze request the event makes
    closes_request: str | None = None  # the pending request the event ends...
    decision: str | None = None  # ...and how: APPROVED, REJECTED or VOIDED
    approver: str | None = None  # an approval recorded on the pending request, which waits on

    @classmethod
    def whole(
        cls,
        commission_id: str,
        amount_fen: int,
        from_status: CommissionStatus | None,
        to_status: CommissionStatus,
        **request: Any,
    ) -> "LineEffect":
        """The whole line moves (accrual, request, approval, rejection back to frozen)."""
        return cls(
            commission_id, amount_fen, from_status, to_status, to_status, amount_fen, **request
        )

    @classmethod
    def taken(
        cls,
        commission_id: str,
        amount_fen: int,
        from_status: CommissionStatus,
        to_status: CommissionStatus,
        remaining_fen: int,
        **request: Any,
    ) -> "LineEffect":
        """Part or all of a line ends (voided, clawed back); a part left keeps its status."""
        status = to_status if remaining_fen == 0 else from_status
        return cls(
            commission_id, amount_fen, from_status, to_status, status, remaining_fen, **request
        )


@dataclass(slots=True)
class OpenLine:
    status: CommissionStatus
    amount_fen: int  # what is left of it
    original_fen: int
    order_id: str | None
    hold_days: int
    releasable_at: datetime
    request_id: str | None = None  # its pending unfreeze request
    requests: int = 0  # unfreeze requests made for it so far (their ids count them)
    approvers: tuple[str, ...] = ()  # who approved its pending request so far (maker-checker)
    iccid: str | None = None  # the card it pays for, if any (its conditions can void it)
    rule: tuple[str, int, str] | None = None  # (plan code, version, rule code) that paid it


@dataclass(frozen=True, slots=True)
class Correction:
    """A line found to be due another amount (a plan correction, a re-rated month): the excess
    is taken back from it; a shortfall is paid by an adjustment line, unless finance voided the
    line on rejection (it stays voided)."""

    commission_id: str
    recorded_fen: int  # what the line and its adjustments pay
    corrected_fen: int  # what is due
    rejected: bool = False

    @property
    def take_back_fen(self) -> int:
        return max(self.recorded_fen - self.corrected_fen, 0)

    @property
    def pay_fen(self) -> int:
        short = self.corrected_fen - self.recorded_fen
        return short if short > 0 and not self.rejected else 0


@dataclass
class CommissionBook:
    """Open lines only: voided and fully clawed-back lines are dropped (nothing can move them
    again), keeping just enough of them to refuse paying them twice."""

    lines: dict[str, OpenLine] = field(default_factory=dict)
    requests: dict[str, str] = field(default_factory=dict)  # pending request id -> line id
    # Ids of card-triggered lines that reached zero, so they are never accrued again. An order
    # completes once: its closed lines need no memory.
    closed: set[str] = field(default_factory=set)
    by_order: dict[str, list[str]] = field(default_factory=dict)  # order id -> its lines' ids
    by_card: dict[str, list[str]] = field(default_factory=dict)  # iccid -> its lines' ids
    adjustments: dict[str, list[str]] = field(default_factory=dict)  # line id -> its corrections
    rejected: set[str] = field(default_factory=set)  # finance voided: no correction pays again

    # -- what it knows ----------------------------------------------------------------------------
    def accepts(self, commission_id: str) -> bool:
        """Whether a line of this id may accrue: the same fact accrued again pays nothing."""
        return commission_id not in self.lines and commission_id not in self.closed

    def line(self, commission_id: str) -> OpenLine:
        try:
            return self.lines[commission_id]
        except KeyError:
            raise InvalidState("ids", f"commission {commission_id} is not open") from None

    def due(self, now: datetime) -> list[str]:
        return [
            cid
            for cid, line in self.lines.items()
            if line.status == CommissionStatus.FROZEN and line.releasable_at <= now
        ]

    def lines_for_order(self, order_id: str) -> list[str]:
        return [cid for cid in self.by_order.get(order_id, ()) if cid in self.lines]

    def lines_for_card(self, iccid: str) -> list[str]:
        """The open lines paid for a card (one-time, long-term, a settlement's upline shares,
        count tiers) and their adjustments."""
        return [cid for cid in self.by_card.get(iccid, ()) if cid in self.lines]

    def parts_of(self, commission_id: str) -> list[str]:
        """The open line and its open adjustments, oldest first."""
        parts = [commission_id, *self.adjustments.get(commission_id, ())]
        return [cid for cid in parts if cid in self.lines]

    def current_fen(self, commission_id: str) -> int:
        """What a line pays now: what is left of it and of its adjustments."""
        return sum(self.lines[cid].amount_fen for cid in self.parts_of(commission_id))

    def was_rejected(self, commission_id: str) -> bool:
        """Whether finance voided the line, or any adjustment of it, on rejection."""
        return any(
            cid in self.rejected
            for cid in (commission_id, *self.adjustments.get(commission_id, ()))
        )

    # -- decisions --------------------------------------------------------------------------------
    def refund_shares(
        self, order_id: str, refund_fen: int, sale_left_fen: int
    ) -> list[tuple[str, int]]:
        """Each open line of the order gives back the refund's share of what is left of it,
        against what is left of the sale (paid - refunded before): left x refund / sale left,
        half-up. A full refund then takes back exactly the rest, and a line that a correction or
        a re-rating changed gives back its share of what it is now, not of what it first was."""
        return [
            (cid, scale_half_up(self.lines[cid].amount_fen, refund_fen, sale_left_fen))
            for cid in self.lines_for_order(order_id)
        ]

    def take_back_plan(self, commission_id: str, amount_fen: int) -> list[tuple[str, int]]:
        """Takes amount_fen off a line and the adjustments that corrected it, newest first."""
        plan, taken = [], 0
        for cid in reversed(self.parts_of(commission_id)):
            part = min(amount_fen - taken, self.lines[cid].amount_fen)
            if part > 0:
                plan.append((cid, part))
                taken += part
        return plan

    def correction(self, commission_id: str, recorded_fen: int, corrected_fen: int) -> Correction:
        return Correction(
            commission_id, recorded_fen, corrected_fen, self.was_rejected(commission_id)
        )

    def rerating(self, commission_id: str, target_fen: int) -> Correction:
        """A re-rated month: the line, with its adjustments, is due target_fen."""
        return self.correction(commission_id, self.current_fen(commission_id), target_fen)

    def reduction(self, commission_id: str, amount_fen: int) -> LineEffect | None:
        """Takes up to amount_fen off a line: voided while unreleased, clawed back once
        released. None when there is nothing to take."""
        line = self.line(commission_id)
        amount_fen = min(amount_fen, line.amount_fen)
        if amount_fen <= 0:
            return None
        remaining = line.amount_fen - amount_fen
        if line.status == CommissionStatus.APPROVED:
            return LineEffect.taken(
                commission_id, amount_fen, line.status, CommissionStatus.CLAWED_BACK, remaining
            )
        closes = line.request_id if remaining == 0 else None
        return LineEffect.taken(
            commission_id,
            amount_fen,
            line.status,
            CommissionStatus.VOIDED,
            remaining,
            closes_request=closes,
            decision="VOIDED" if closes else None,
        )

    # -- applying what the events declare ---------------------------------------------------------
    def open(
        self,
        effect: LineEffect,
        order_id: str | None,
        hold_days: int,
        corrects: str | None,
        iccid: str | None = None,
        rule: tuple[str, int, str] | None = None,
    ) -> None:
        """A new line, as its accrual declares it (an accrual always says when its hold ends)."""
        cid = effect.commission_id
        self.lines[cid] = OpenLine(
            effect.status,
            effect.remaining_fen,
            effect.remaining_fen,
            order_id,
            hold_days,
            cast(datetime, effect.releasable_at),
            iccid=iccid,
            rule=rule,
        )
        if order_id is not None:
            self.by_order.setdefault(order_id, []).append(cid)
        elif iccid is not None:
            self.by_card.setdefault(iccid, []).append(cid)
        # A correction's adjustment names the line it corrects: later corrections and
        # take-backs find the line's whole amount through it.
        if corrects:
            self.adjustments.setdefault(corrects, []).append(cid)

    def apply(self, effect: LineEffect) -> None:
        cid = effect.commission_id
        line = self.lines[cid]
        if effect.closes_request is not None:
            self.requests.pop(effect.closes_request, None)
            line.request_id, line.approvers = None, ()
            if effect.decision == "REJECTED" and effect.to_status == CommissionStatus.VOIDED:
                self.rejected.add(cid)
        if effect.opens_request is not None:
            self.requests[effect.opens_request] = cid
            line.request_id, line.approvers = effect.opens_request, ()
            line.requests += 1
        if effect.approver is not None:
            line.approvers = (*line.approvers, effect.approver)
        line.status, line.amount_fen = effect.status, effect.remaining_fen
        if effect.releasable_at is not None:
            line.releasable_at = effect.releasable_at
        if effect.status in ENDED:
            if line.request_id is not None:
                self.requests.pop(line.request_id, None)
            del self.lines[cid]
            if line.order_id is None:
                self.closed.add(cid)

    # -- snapshots --------------------------------------------------------------------------------
    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "CommissionBook":
        """The book again from a snapshot's plain state (lines come back as dicts)."""
        lines = {
            cid: OpenLine(
                **{
                    **line,
                    "status": CommissionStatus(line["status"]),
                    "approvers": tuple(line.get("approvers", ())),
                    "rule": tuple(line["rule"]) if line.get("rule") else None,
                }
            )
            for cid, line in state["lines"].items()
        }
        return cls(**{**state, "lines": lines})


def adjustment(line: CommissionLine, correction: Correction) -> CommissionLine:
    """The line that pays what a corrected line lacked: it names the line it corrects and says
    what was recorded and what is due."""
    facts = {
        **line.facts,
        "corrects": correction.commission_id,
        "recorded": format_money(correction.recorded_fen),
        "corrected": format_money(correction.corrected_fen),
    }
    return replace(line, amount_fen=correction.pay_fen, facts=facts)


class BookKeeper:
    """What a holder of a commission book does with the book's decisions, through its own
    `accrue` and `reduce` (the Wallet records events; a shadow wallet applies them in memory)."""

    book: CommissionBook

    def accrue(self, commission_id: str, line: CommissionLine, audit: Audit) -> bool:
        raise NotImplementedError

    def reduce(self, commission_id: str, amount_fen: int, audit: Audit) -> None:
        raise NotImplementedError

    def take_back(self, commission_id: str, amount_fen: int, audit: Audit) -> int:
        """Takes amount_fen off a line and its adjustments, newest first: void while
        unreleased, claw back once released. Returns what was taken."""
        require_fen(amount_fen, "amount", allow_zero=False)
        plan = self.book.take_back_plan(commission_id, amount_fen)
        for cid, part in plan:
            self.reduce(cid, part, audit)
        return sum(part for _, part in plan)

    def refund(self, order_id: str, refund_fen: int, sale_left_fen: int, audit: Audit) -> None:
        """A refund of refund_fen out of the sale_left_fen not refunded before."""
        for cid, share in self.book.refund_shares(order_id, refund_fen, sale_left_fen):
            self.reduce(cid, share, audit)

    def correct(
        self,
        correction: Correction,
        line: CommissionLine | None,
        adjustment_id: str,
        audit: Audit,
    ) -> bool:
        """Acts on a correction: takes the excess back, or accrues an adjustment (a copy of
        `line`) for the shortfall. Returns whether anything changed."""
        if correction.take_back_fen:
            return bool(self.take_back(correction.commission_id, correction.take_back_fen, audit))
        if correction.pay_fen and line is not None:
            return self.accrue(adjustment_id, adjustment(line, correction), audit)
        return False
