"""Payouts through a payment channel: the channel's answers, resubmission, cancellation and
batch payouts (平台主动打款). The requests themselves go out through the outbox (decision 0026).
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from application.commands import Command, Decision
from application.results import PayoutRecorded, PayoutsReleased
from domain.common import Audit, aggregate_id
from domain.errors import InvalidInput, PayoutNotFound
from domain.payout import Payout, PayoutStatus
from domain.values import Code, Key
from domain.wallet import Wallet

if TYPE_CHECKING:
    from application.ledger import Ledger

MAX_BATCH = 500


def load_payout(ledger: "Ledger", withdrawal_id: str, field: str = "withdrawalId") -> Payout:
    found = ledger._find(Payout, aggregate_id("payout", withdrawal_id))
    if found is None:
        raise PayoutNotFound(withdrawal_id, field)
    return found


def _payout_and_wallet(ledger: "Ledger", withdrawal_id: str) -> tuple[Payout, Wallet]:
    """The payout and its agent's wallet, the payout read after the wallet: both are saved in
    one transaction when a payout is paid or cancelled, so a wallet that shows the withdrawal
    settled comes with a payout that shows why (two callbacks at once must not find a stale
    payout next to a settled wallet and refuse; one of them saves, the other conflicts and is
    decided again)."""
    agent_code = load_payout(ledger, withdrawal_id).agent_code
    wallet = ledger.wallet(agent_code)
    return load_payout(ledger, withdrawal_id), wallet


@dataclass(frozen=True)
class RecordPayoutSubmission(Command[PayoutRecorded]):
    """The channel's answer to a request: accepted (with its transaction id) or refused."""

    withdrawal_id: Code
    accepted: bool
    channel_txn_id: Code | None
    audit: Audit
    key: Key | None = None

    def decide(self, ledger: "Ledger") -> Decision[PayoutRecorded]:
        payout = load_payout(ledger, self.withdrawal_id)
        if self.accepted:
            recorded = payout.accepted(self.channel_txn_id, self.audit)
        else:
            recorded = payout.outcome(False, self.channel_txn_id, self.audit)
        return [payout], PayoutRecorded(self.withdrawal_id, payout.status, recorded)


@dataclass(frozen=True)
class RecordPayoutOutcome(Command[PayoutRecorded]):
    """The channel's outcome (a callback or a poll). Paid settles the withdrawal in the same
    save: the wallet's money leaves exactly when the payout is recorded paid."""

    withdrawal_id: Code
    paid: bool
    channel_txn_id: Code | None
    audit: Audit
    key: Key | None = None

    def decide(self, ledger: "Ledger") -> Decision[PayoutRecorded]:
        payout, wallet = _payout_and_wallet(ledger, self.withdrawal_id)
        recorded = payout.outcome(self.paid, self.channel_txn_id, self.audit)
        changed: list[object] = [payout]
        if recorded and payout.status == PayoutStatus.PAID:
            wallet.settle_withdrawal(payout.withdrawal_id, True, self.audit)
            changed.append(wallet)
        return changed, PayoutRecorded(self.withdrawal_id, payout.status, recorded)  # type: ignore[return-value]


@dataclass(frozen=True)
class ResubmitPayout(Command[PayoutRecorded]):
    """Sends a failed payout again, under the same out-request id."""

    withdrawal_id: Code
    audit: Audit
    key: Key | None = None

    def decide(self, ledger: "Ledger") -> Decision[PayoutRecorded]:
        payout = load_payout(ledger, self.withdrawal_id)
        payout.resubmit(self.audit)
        return [payout], PayoutRecorded(self.withdrawal_id, payout.status, True)


@dataclass(frozen=True)
class CancelPayout(Command[PayoutRecorded]):
    """Gives up on a failed payout: the withdrawal fails and its money is available again."""

    withdrawal_id: Code
    audit: Audit
    key: Key | None = None

    def decide(self, ledger: "Ledger") -> Decision[PayoutRecorded]:
        payout, wallet = _payout_and_wallet(ledger, self.withdrawal_id)
        payout.cancel(self.audit)
        wallet.settle_withdrawal(payout.withdrawal_id, False, self.audit)
        return [payout, wallet], PayoutRecorded(self.withdrawal_id, payout.status, True)


@dataclass(frozen=True)
class PayApprovedWithdrawals(Command[PayoutsReleased]):
    """平台主动打款: sends the payouts held for a batch, all or none."""

    withdrawal_ids: tuple[Code, ...]
    audit: Audit
    key: Key | None = None

    def decide(self, ledger: "Ledger") -> Decision[PayoutsReleased]:
        ids = self.withdrawal_ids
        if not ids or len(ids) > MAX_BATCH:
            raise InvalidInput("ids", f"give 1 to {MAX_BATCH} withdrawal ids")
        if len(set(ids)) != len(ids):
            raise InvalidInput("ids", "the same withdrawal id is given twice")
        payouts = [load_payout(ledger, withdrawal_id, "ids") for withdrawal_id in ids]
        for payout in payouts:
            payout.release(self.audit)
        return payouts, PayoutsReleased(tuple(ids))  # type: ignore[return-value]
