"""Maker-checker, once for every approval of money (SPEC §2, finance controls).

An approval (of an unfreeze request today; of withdrawals and adjustments next) has a
beneficiary, an amount and the approvers so far. The rules, in one place:
- the beneficiary, or anyone acting as that agent, never approves it;
- nobody approves the same thing twice;
- an amount at or above the policy's threshold needs two different approvers: the first
  approval is recorded and the request waits; the second completes it.
Rejection is not an approval: any one decider ends it (the aggregate records that).
"""

from dataclasses import dataclass, replace

from domain.common import Audit
from domain.errors import SameApprover, SelfApproval
from domain.money import format_money, require_fen

DEFAULT_SECOND_APPROVER_FROM_FEN = 1_000_000  # 10,000.00


@dataclass(frozen=True)
class ApprovalPolicy:
    """How many distinct approvers an amount needs."""

    second_approver_from_fen: int = DEFAULT_SECOND_APPROVER_FROM_FEN

    def __post_init__(self) -> None:
        require_fen(self.second_approver_from_fen, "secondApproverFrom", allow_zero=False)

    def approvers_needed(self, amount_fen: int) -> int:
        return 2 if amount_fen >= self.second_approver_from_fen else 1


@dataclass(frozen=True)
class Approval:
    """The state of one approval: whose money, how much, and who approved it so far."""

    subject: str  # what is approved, for messages (e.g. "unfreeze request 4f2c...")
    beneficiary: str  # the agent whose money it is
    amount_fen: int
    approvers: tuple[str, ...] = ()

    def approved_by(self, audit: Audit, policy: ApprovalPolicy) -> "Approval":
        """The approval with one more approver, or a refusal: checks only, records nothing."""
        if audit.agent_code == self.beneficiary:
            raise SelfApproval(
                "ids",
                f"{audit.actor} acts as agent {self.beneficiary}, the beneficiary of "
                f"{self.subject}: someone else must approve it",
            )
        if audit.actor in self.approvers:
            needed = policy.approvers_needed(self.amount_fen)
            raise SameApprover(
                "ids",
                f"{audit.actor} already approved {self.subject}: "
                f"{format_money(self.amount_fen)} needs {needed} different approvers",
            )
        return replace(self, approvers=(*self.approvers, audit.actor))

    def complete(self, policy: ApprovalPolicy) -> bool:
        return len(self.approvers) >= policy.approvers_needed(self.amount_fen)
