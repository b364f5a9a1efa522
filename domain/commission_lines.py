"""A wallet's commission lines from accrual to release or reduction: accrue (frozen), request the
unfreeze once the hold is over, reduce (void while unreleased, claw back once released). A mixin
of the Wallet (domain/wallet.py), whose events it records; finance's decisions on the requests
are domain/unfreezing.py's, the lines themselves the CommissionBook's (domain/book.py).
"""

from datetime import datetime
from typing import Any

from domain.book import BookKeeper, CommissionBook, CommissionStatus, hold_until
from domain.common import Audit, derived_id
from domain.errors import InvalidState
from domain.rules import CommissionLine


class CommissionLines(BookKeeper):
    """The wallet's own `accrue` and `reduce`, which BookKeeper's take-back and refund call."""

    book: CommissionBook
    balances: dict[str, int]
    # The wallet's events and its recorder (domain/wallet.py).
    CommissionAccrued: Any
    UnfreezeRequested: Any
    CommissionClawedBack: Any
    CommissionVoided: Any

    def _record(self, event_class: type[Any], **fields: Any) -> None:
        raise NotImplementedError

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

    # -- state changes the events apply (never called to decide) ----------------------------------
    def open_line(self, accrued: Any) -> None:
        """A commission accrued (Wallet.CommissionAccrued): its line opens in the book."""
        self.book.open(
            accrued.line_effect(),
            accrued.order_id,
            accrued.hold_days,
            accrued.facts.get("corrects"),
            iccid=accrued.iccid,
            rule=(accrued.plan_code, accrued.plan_version, accrued.rule_code),
        )
