"""Finance's decisions on a wallet's unfreeze requests: approve (maker-checker) or reject.

A mixin of the Wallet (domain/wallet.py), whose events it records: the rules of who may approve
and how many approvers an amount needs are domain/approvals.py's, shared with the approvals of
withdrawals and adjustments.
"""

from typing import Any

from domain.approvals import Approval, ApprovalPolicy
from domain.book import CommissionBook, hold_until
from domain.common import Audit
from domain.errors import InvalidInput, InvalidState


class UnfreezeDecisions:
    agent_code: str
    book: CommissionBook
    balances: dict[str, int]
    # The wallet's events and its recorder (domain/wallet.py).
    CommissionApproved: Any
    UnfreezeApprovalRecorded: Any
    UnfreezeRejected: Any
    CommissionVoided: Any

    def _record(self, event_class: type[Any], **fields: Any) -> None:
        raise NotImplementedError

    def _require_room(self, bucket: str, delta: int, field: str = "amount") -> None:
        raise NotImplementedError

    def approval(self, request_id: str) -> Approval:
        """The state of a pending request's approval: its beneficiary, amount, approvers."""
        line = self.book.lines[self._pending(request_id)]
        return Approval(
            f"unfreeze request {request_id}", self.agent_code, line.amount_fen, line.approvers
        )

    def approve(self, request_id: str, audit: Audit, policy: ApprovalPolicy | None = None) -> bool:
        """Approves a pending request. Returns False when it now waits for a second approver
        (the first approval is recorded), True when the money became available."""
        policy = policy or ApprovalPolicy()
        commission_id = self._pending(request_id)
        approval = self.approval(request_id).approved_by(audit, policy)
        if not approval.complete(policy):
            self._record(
                self.UnfreezeApprovalRecorded,
                commission_id=commission_id,
                request_id=request_id,
                amount_fen=approval.amount_fen,
                approver=audit.actor,
                **audit.fields(),
            )
            return False
        debt_repaid = min(approval.amount_fen, self.balances["debt"])
        self._require_room("available", approval.amount_fen - debt_repaid, "ids")
        self._record(
            self.CommissionApproved,
            commission_id=commission_id,
            request_id=request_id,
            amount_fen=approval.amount_fen,
            debt_repaid_fen=debt_repaid,
            **audit.fields(),
        )
        return True

    def reject(self, request_id: str, void: bool, audit: Audit) -> None:
        """Any one decider ends a request, whoever approved it first."""
        if not audit.reason:
            raise InvalidInput("reason", "a rejection needs a reason")
        commission_id = self._pending(request_id)
        line = self.book.lines[commission_id]
        if void:
            self._record(
                self.CommissionVoided,
                commission_id=commission_id,
                amount_fen=line.amount_fen,
                from_status=str(line.status),
                remaining_fen=0,
                closes_request=request_id,
                decision="REJECTED",
                **audit.fields(),
            )
            return
        self._record(
            self.UnfreezeRejected,
            commission_id=commission_id,
            request_id=request_id,
            amount_fen=line.amount_fen,
            # Back to frozen for another full hold, so it is not re-requested at once.
            releasable_at=hold_until(audit.effective_at, line.hold_days),
            **audit.fields(),
        )

    def _pending(self, request_id: str) -> str:
        try:
            return self.book.requests[request_id]
        except KeyError:
            raise InvalidState(
                "ids", f"unfreeze request {request_id} is not pending on {self.agent_code}"
            ) from None
