"""The release of commissions: due ones become unfreeze requests, finance decides on them."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, ClassVar

from application.commands import Command, Decision
from application.results import UnfreezeRequested, UnfreezeRequestsDecided
from domain.common import Audit
from domain.errors import InvalidInput, UnfreezeRequestNotFound
from domain.values import Code, Key
from domain.wallet import Wallet

if TYPE_CHECKING:
    from application.ledger import Directory, Ledger

MAX_BATCH = 500


def _directory(ledger: "Ledger") -> "Directory":
    if ledger.directory is None:
        raise RuntimeError("the ledger needs a directory to find commissions and requests")
    return ledger.directory


@dataclass(frozen=True)
class ReleaseDueCommissions(Command[UnfreezeRequested]):
    """Turns frozen commissions whose hold has elapsed at audit.effective_at into requests."""

    audit: Audit
    key: Key | None = None

    # An explicit `now` catches up on past releases; it is never later than the clock.
    time_input: ClassVar[str] = "now"
    time_tolerance: ClassVar[timedelta | None] = timedelta(0)

    def decide(self, ledger: "Ledger") -> Decision[UnfreezeRequested]:
        now = self.audit.effective_at
        wallets, requested = [], []
        for agent_code in _directory(ledger).agents_with_due_commissions(now):
            wallet = ledger.wallet(agent_code)
            for commission_id in wallet.due_for_release(now):
                requested.append(wallet.request_unfreeze(commission_id, self.audit))
            wallets.append(wallet)
        return wallets, UnfreezeRequested(tuple(requested))


def _batch(ledger: "Ledger", request_ids: tuple[str, ...]) -> Iterator[tuple[Wallet, str]]:
    """Each request with its agent's wallet, all or nothing: one bad id refuses the batch."""
    if not request_ids or len(request_ids) > MAX_BATCH:
        raise InvalidInput("ids", f"give 1 to {MAX_BATCH} unfreeze request ids")
    if len(set(request_ids)) != len(request_ids):
        raise InvalidInput("ids", "the same unfreeze request id is given twice")
    wallets: dict[str, Wallet] = {}
    for request_id in request_ids:
        agent_code = _directory(ledger).agent_of_unfreeze_request(request_id)
        if agent_code is None:
            raise UnfreezeRequestNotFound(request_id)
        if agent_code not in wallets:
            wallets[agent_code] = ledger.wallet(agent_code)
        yield wallets[agent_code], request_id


@dataclass(frozen=True)
class ApproveUnfreezeRequests(Command[UnfreezeRequestsDecided]):
    request_ids: tuple[Code, ...]
    audit: Audit
    key: Key | None = None

    input_names: ClassVar[dict[str, str]] = {"request_ids": "ids"}

    def decide(self, ledger: "Ledger") -> Decision[UnfreezeRequestsDecided]:
        """Maker-checker per request (domain/approvals.py): all or nothing, so one refused
        approval (self-approval, the same approver twice) refuses the batch; requests whose
        first approval this is are reported as waiting for a second approver."""
        changed: dict[str, Wallet] = {}
        waiting = []
        for wallet, request_id in _batch(ledger, tuple(self.request_ids)):
            if not wallet.approve(request_id, self.audit, ledger.approvals):
                waiting.append(request_id)
            changed[str(wallet.id)] = wallet
        result = UnfreezeRequestsDecided(tuple(self.request_ids), tuple(waiting))
        return list(changed.values()), result


@dataclass(frozen=True)
class RejectUnfreezeRequests(Command[UnfreezeRequestsDecided]):
    """Sends the commissions back to frozen, or voids them (`void`); a reason is required."""

    request_ids: tuple[Code, ...]
    void: bool
    audit: Audit
    key: Key | None = None

    input_names: ClassVar[dict[str, str]] = {"request_ids": "ids"}

    def decide(self, ledger: "Ledger") -> Decision[UnfreezeRequestsDecided]:
        changed: dict[str, Wallet] = {}
        for wallet, request_id in _batch(ledger, tuple(self.request_ids)):
            wallet.reject(request_id, self.void, self.audit)
            changed[str(wallet.id)] = wallet
        return list(changed.values()), UnfreezeRequestsDecided(tuple(self.request_ids))
