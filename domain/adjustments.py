"""Manual commission adjustments (佣金调整): a proposal with a reason, approved by someone else.

A mixin of the Wallet (domain/wallet.py), whose events it records. An approved adjustment moves
the available bucket directly (decision 0027): an increase repays debt first, a decrease that
available cannot cover becomes debt, as a claw-back does. Who may approve is decided once, in
domain/approvals.py (maker-checker): never the proposer, never the beneficiary agent, nobody
twice, and two different approvers from the policy's threshold up.
"""

from typing import Any

from domain.approvals import Approval, ApprovalPolicy
from domain.common import Audit
from domain.errors import InvalidInput, InvalidState, SelfApproval
from domain.money import require_fen
from domain.values import CODE


class Adjustments:
    agent_code: str
    balances: dict[str, int]
    AdjustmentProposed: Any
    AdjustmentApprovalRecorded: Any
    AdjustmentRejected: Any
    CommissionAdjusted: Any

    def _record(self, event_class: type[Any], **fields: Any) -> None:
        raise NotImplementedError

    def _require_room(self, bucket: str, delta: int, field: str = "amount") -> None:
        raise NotImplementedError

    def pending_adjustments(self) -> dict[str, dict[str, Any]]:
        """Adjustments proposed and not yet decided: id -> amount, direction, proposer,
        approvers. Kept in the wallet's state (wallets snapshotted before adjustments existed
        have none)."""
        return self.__dict__.setdefault("adjustments_pending", {})  # type: ignore[no-any-return]

    def decided_adjustments(self) -> set[str]:
        return self.__dict__.setdefault("adjustments_decided", set())  # type: ignore[no-any-return]

    def open_adjustment(self, proposed: Any) -> None:
        self.pending_adjustments()[proposed.adjustment_id] = {
            "amount_fen": proposed.amount_fen,
            "increase": proposed.increase,
            "proposer": proposed.proposer,
            "approvers": [],
        }

    def close_adjustment(self, adjustment_id: str) -> None:
        del self.pending_adjustments()[adjustment_id]
        self.decided_adjustments().add(adjustment_id)

    def propose_adjustment(
        self, adjustment_id: str, amount_fen: int, increase: bool, audit: Audit
    ) -> None:
        CODE.check(adjustment_id, "adjustmentId")
        require_fen(amount_fen, "amount", allow_zero=False)
        if not audit.reason:
            raise InvalidInput("reason", "an adjustment needs a reason")
        if (
            adjustment_id in self.pending_adjustments()
            or adjustment_id in self.decided_adjustments()
        ):
            raise InvalidState("adjustmentId", f"adjustment {adjustment_id} was already proposed")
        if audit.agent_code == self.agent_code:
            raise SelfApproval("agentCode", "an agent does not adjust its own commissions")
        self._record(
            self.AdjustmentProposed,
            adjustment_id=adjustment_id,
            amount_fen=amount_fen,
            increase=increase,
            proposer=audit.actor,
            **audit.fields(),
        )

    def _pending_adjustment(self, adjustment_id: str) -> dict[str, Any]:
        try:
            return self.pending_adjustments()[adjustment_id]
        except KeyError:
            raise InvalidState(
                "adjustmentId",
                f"adjustment {adjustment_id} is not pending on {self.agent_code}",
            ) from None

    def approve_adjustment(
        self, adjustment_id: str, audit: Audit, policy: ApprovalPolicy | None = None
    ) -> bool:
        """True when the adjustment moved the money; False when it waits for a second approver."""
        policy = policy or ApprovalPolicy()
        pending = self._pending_adjustment(adjustment_id)
        if audit.actor == pending["proposer"]:
            raise SelfApproval(
                "adjustmentId",
                f"{audit.actor} proposed adjustment {adjustment_id}: someone else must approve it",
            )
        approval = Approval(
            f"adjustment {adjustment_id}",
            self.agent_code,
            pending["amount_fen"],
            tuple(pending["approvers"]),
        ).approved_by(audit, policy)
        if not approval.complete(policy):
            self._record(
                self.AdjustmentApprovalRecorded,
                adjustment_id=adjustment_id,
                approver=audit.actor,
                **audit.fields(),
            )
            return False
        amount = pending["amount_fen"]
        if pending["increase"]:
            repaid = min(amount, self.balances["debt"])
            available, debt = amount - repaid, -repaid
        else:
            taken = min(amount, self.balances["available"])
            available, debt = -taken, amount - taken
        self._require_room("available", available, "adjustmentId")
        self._require_room("debt", debt, "adjustmentId")
        self._record(
            self.CommissionAdjusted,
            adjustment_id=adjustment_id,
            amount_fen=amount,
            increase=pending["increase"],
            available_fen=available,
            debt_fen=debt,
            **audit.fields(),
        )
        return True

    def reject_adjustment(self, adjustment_id: str, audit: Audit) -> None:
        if not audit.reason:
            raise InvalidInput("reason", "a rejection needs a reason")
        self._pending_adjustment(adjustment_id)
        self._record(self.AdjustmentRejected, adjustment_id=adjustment_id, **audit.fields())
