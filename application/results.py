"""What a use case answers: typed values in the ledger's words (snake_case, integer fen).

They are stored with the idempotency key that recorded them, as `{"type": name, **fields}`, so a
retry gets the same value back. The API translates them into its own vocabulary at the edge;
nothing of the API's names is persisted here.
"""

from dataclasses import asdict, dataclass, fields
from typing import Any


class Result:
    """Base of every use case's result (frozen dataclasses below)."""


@dataclass(frozen=True)
class AgentRegistered(Result):
    agent_code: str


@dataclass(frozen=True)
class UplineBound(Result):
    agent_code: str
    parent_code: str


@dataclass(frozen=True)
class PackageDefined(Result):
    package_code: str


@dataclass(frozen=True)
class CostPriceSet(Result):
    agent_code: str
    package_code: str
    cost_price_fen: int


@dataclass(frozen=True)
class RetailPriceSet(Result):
    agent_code: str
    package_code: str
    retail_price_fen: int


@dataclass(frozen=True)
class PlanVersionRecorded(Result):
    """A commission plan version, ordinary or correcting."""

    plan_code: str
    version: int


@dataclass(frozen=True)
class OrderPlaced(Result):
    order_id: str
    paid_fen: int


@dataclass(frozen=True)
class OrderCompleted(Result):
    order_id: str


@dataclass(frozen=True)
class OrderRefunded(Result):
    order_id: str
    refunded_fen: int  # the order's refunds so far, this one included


@dataclass(frozen=True)
class DepositToppedUp(Result):
    agent_code: str
    deposit_fen: int  # the deposit after the top-up


@dataclass(frozen=True)
class PayoutRecorded(Result):
    """A payout after a request to its channel or an answer from it; `recorded`: whether the
    answer changed anything (a repeated or stale one does not)."""

    withdrawal_id: str
    status: str
    recorded: bool


@dataclass(frozen=True)
class PayoutsReleased(Result):
    """Held payouts sent to their channel (a batch payout)."""

    withdrawal_ids: tuple[str, ...]


@dataclass(frozen=True)
class WithdrawalRecorded(Result):
    """A withdrawal requested or settled."""

    agent_code: str
    withdrawal_id: str
    large: bool = False  # the large-withdrawal alert went off (results recorded before: False)


@dataclass(frozen=True)
class WithdrawalsDecided(Result):
    """Withdrawals approved or rejected, as (agent code, withdrawal id)."""

    withdrawals: tuple[tuple[str, str], ...]
    # Of these, the ones whose first approval was recorded: they wait for a second approver.
    awaiting_second_approval: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class WithdrawalLimitsSet(Result):
    effective_at: str  # ISO time from which they are in force


@dataclass(frozen=True)
class DepositTransferred(Result):
    agent_code: str
    transfer_id: str
    deposit_fen: int  # the deposit after the transfer


@dataclass(frozen=True)
class PayeeRecorded(Result):
    agent_code: str


@dataclass(frozen=True)
class AccountFreezeRecorded(Result):
    agent_code: str
    frozen: bool
    pending: str | None  # FREEZE or UNFREEZE awaiting an admin


@dataclass(frozen=True)
class CardRecorded(Result):
    """A card assigned or activated."""

    iccid: str


@dataclass(frozen=True)
class RechargeRecorded(Result):
    iccid: str
    total_recharge_fen: int


@dataclass(frozen=True)
class CardConditionsRecorded(Result):
    """A carrier's conditions of a card recorded: the ones it fails (empty: all normal)."""

    iccid: str
    failed: tuple[str, ...]


@dataclass(frozen=True)
class UnfreezeRequested(Result):
    """The unfreeze requests a release of due commissions created."""

    request_ids: tuple[str, ...]


@dataclass(frozen=True)
class UnfreezeRequestsDecided(Result):
    request_ids: tuple[str, ...]
    # Of these, the requests whose first approval was recorded: they wait for a second,
    # different approver (maker-checker). Recorded results without it had none.
    awaiting_second_approval: tuple[str, ...] = ()


@dataclass(frozen=True)
class LevelsDefined(Result):
    level_codes: tuple[str, ...]  # the ladder, lowest rank first


@dataclass(frozen=True)
class AgentLevelSet(Result):
    agent_code: str
    level_code: str


@dataclass(frozen=True)
class UserRecorded(Result):
    """A user added, changed, disabled or enabled."""

    user_code: str


@dataclass(frozen=True)
class ApiKeyRecorded(Result):
    """An API key issued or revoked."""

    key_id: str


@dataclass(frozen=True)
class SettlementRecorded(Result):
    row_id: str
    agent_share_fen: int
    platform_share_fen: int


@dataclass(frozen=True)
class StatementsGenerated(Result):
    cycle: str
    through: int  # the log position the statements were generated at
    generated: int  # new drafts
    unchanged: int  # agents whose draft already said the same, or with nothing due


@dataclass(frozen=True)
class StatementDecided(Result):
    statement_id: str
    agent_code: str
    status: str


@dataclass(frozen=True)
class AdjustmentRecorded(Result):
    agent_code: str
    adjustment_id: str
    status: str  # PROPOSED, AWAITING_SECOND_APPROVAL, APPROVED or REJECTED


@dataclass(frozen=True)
class SettlementRowsRecorded(Result):
    """Rows of a carrier file recorded in one command, with what they split into."""

    rows: int
    agent_share_fen: int
    platform_share_fen: int


@dataclass(frozen=True)
class SettlementImportRecorded(Result):
    file_hash: str
    applied: int


@dataclass(frozen=True)
class CarrierAnswerRecorded(Result):
    command_id: str
    outcome: str
    already_recorded: bool  # an earlier delivery of the same command was answered first


@dataclass(frozen=True)
class CardStateRecorded(Result):
    """A carrier's report on a card: what our state is after it, and what the report did."""

    iccid: str
    state: str
    outcome: str  # APPLIED, UNCHANGED, OLDER, REFUSED; DUPLICATE: its report id was recorded
    carrier_state: str | None


@dataclass(frozen=True)
class PackageQuotaSet(Result):
    package_code: str
    quota_mb: int


@dataclass(frozen=True)
class EnterpriseRecorded(Result):
    """An enterprise created, given cards or topped up; with the carrier commands decided."""

    enterprise_code: str
    pool_quota_mb: int
    commands_decided: int = 0


@dataclass(frozen=True)
class QuotaDecided(Result):
    """A quota rule run for a card or an enterprise: how many carrier commands it decided."""

    subject: str
    commands_decided: int


@dataclass(frozen=True)
class OrderCancelled(Result):
    order_id: str
    deposit_returned_fen: int  # a prepaid order's cost back in the deposit (0 otherwise)


@dataclass(frozen=True)
class ReconciliationRecorded(Result):
    run_id: str
    matched: int
    items: int


@dataclass(frozen=True)
class ReconciliationItemDecided(Result):
    run_id: str
    item_id: str
    status: str
    amount_fen: int  # a write-off's amount (0 for a resolution)


RESULTS: dict[str, type[Result]] = {
    cls.__name__: cls
    for cls in (
        AgentRegistered,
        UplineBound,
        PackageDefined,
        CostPriceSet,
        RetailPriceSet,
        PlanVersionRecorded,
        OrderPlaced,
        OrderCompleted,
        OrderRefunded,
        DepositToppedUp,
        WithdrawalRecorded,
        PayoutRecorded,
        PayoutsReleased,
        WithdrawalsDecided,
        WithdrawalLimitsSet,
        DepositTransferred,
        AccountFreezeRecorded,
        PayeeRecorded,
        CardRecorded,
        RechargeRecorded,
        CardConditionsRecorded,
        UnfreezeRequested,
        UnfreezeRequestsDecided,
        LevelsDefined,
        AgentLevelSet,
        SettlementRecorded,
        SettlementRowsRecorded,
        SettlementImportRecorded,
        CarrierAnswerRecorded,
        UserRecorded,
        ApiKeyRecorded,
        StatementsGenerated,
        StatementDecided,
        AdjustmentRecorded,
        CardStateRecorded,
        PackageQuotaSet,
        EnterpriseRecorded,
        QuotaDecided,
        OrderCancelled,
        ReconciliationRecorded,
        ReconciliationItemDecided,
    )
}


def to_record(result: Result) -> dict[str, Any]:
    return {"type": type(result).__name__, **asdict(result)}  # type: ignore[call-overload]


def from_record(record: dict[str, Any]) -> Result:
    """The typed value of a stored record (tuples come back from storage as lists)."""
    values = dict(record)
    cls = RESULTS[values.pop("type")]
    for f in fields(cls):  # type: ignore[arg-type]
        if isinstance(values.get(f.name), list):
            values[f.name] = tuple(tuple(v) if isinstance(v, list) else v for v in values[f.name])
    return cls(**values)
