"""Withdrawals: finance's review (single or batch, maker-checker above the threshold), the limits
admins set, account freezes (operator requests, admin approves), and flow-2 funding."""

import strawberry
import structlog

from api.graphql.mutations.base import Outcome, audit_of, fen, mutate
from api.graphql.scalars import DateTime, Money
from api.graphql.types import UserError
from api.observability.metrics import count_large_withdrawal
from application.results import (
    AccountFreezeRecorded,
    DepositTransferred,
    WithdrawalLimitsSet,
    WithdrawalsDecided,
)
from application.use_cases.withdrawals import (
    ApproveWithdrawals,
    DecideAccountFreeze,
    MoveCommissionToDeposit,
    RejectWithdrawals,
    RequestAccountFreeze,
    SetWithdrawalLimits,
)
from domain.money import format_money

log = structlog.get_logger(__name__)


@strawberry.input
class WithdrawalRefInput:
    agent_code: str
    withdrawal_id: str


@strawberry.type
class WithdrawalRef:
    agent_code: str
    withdrawal_id: str


@strawberry.input
class ApproveWithdrawalsInput:
    withdrawals: list[WithdrawalRefInput]
    note: str | None = None
    idempotency_key: str | None = None


@strawberry.input
class RejectWithdrawalsInput:
    withdrawals: list[WithdrawalRefInput]
    reason: str
    idempotency_key: str | None = None


@strawberry.type
class WithdrawalsDecidedPayload:
    withdrawals: list[WithdrawalRef]
    awaiting_second_approval: list[WithdrawalRef] = strawberry.field(
        description="Of these, those whose first approval was recorded: a second, different "
        "approver must approve them."
    )
    user_errors: list[UserError]

    @classmethod
    def of(cls, done: Outcome[WithdrawalsDecided]) -> "WithdrawalsDecidedPayload":
        if done.result is None:
            return cls(withdrawals=[], awaiting_second_approval=[], user_errors=done.errors)
        refs = [WithdrawalRef(agent_code=a, withdrawal_id=w) for a, w in done.result.withdrawals]
        waiting = [
            WithdrawalRef(agent_code=a, withdrawal_id=w)
            for a, w in done.result.awaiting_second_approval
        ]
        return cls(withdrawals=refs, awaiting_second_approval=waiting, user_errors=[])


@strawberry.input
class SetWithdrawalLimitsInput:
    minimum: Money
    fee_rate: str = "0"
    fee_min: Money | None = None
    fee_max: Money | None = None
    daily_max: Money | None = None
    monthly_max: Money | None = None
    daily_count: int | None = None
    large_from: Money | None = None
    tax_method: str = "PER_MONTH"
    reason: str = ""
    occurred_at: DateTime | None = None
    idempotency_key: str | None = None


@strawberry.type
class WithdrawalLimitsPayload:
    effective_at: DateTime | None
    user_errors: list[UserError]


@strawberry.input
class MoveCommissionToDepositInput:
    agent_code: str
    transfer_id: str
    amount: Money
    idempotency_key: str | None = None


@strawberry.type
class DepositTransferPayload:
    deposit: Money | None
    user_errors: list[UserError]


@strawberry.input
class RequestAccountFreezeInput:
    agent_code: str
    action: str = strawberry.field(description="FREEZE or UNFREEZE")
    reason: str
    idempotency_key: str | None = None


@strawberry.input
class DecideAccountFreezeInput:
    agent_code: str
    approved: bool
    reason: str = ""
    idempotency_key: str | None = None


@strawberry.type
class AccountFreezePayload:
    agent_code: str | None
    frozen: bool | None
    pending: str | None
    user_errors: list[UserError]

    @classmethod
    def of(cls, done: Outcome[AccountFreezeRecorded]) -> "AccountFreezePayload":
        r = done.result
        if r is None:
            return cls(agent_code=None, frozen=None, pending=None, user_errors=done.errors)
        return cls(agent_code=r.agent_code, frozen=r.frozen, pending=r.pending, user_errors=[])


def _optional(text: str | None, field: str) -> int | None:
    return None if text is None else fen(text, field)


@strawberry.type
class WithdrawalMutations:
    @strawberry.mutation(
        description="Approves withdrawals awaiting review (all or nothing). Amounts at or above "
        "the maker-checker threshold need two different approvers; nobody approves their own."
    )
    async def approve_withdrawals(
        self, info: strawberry.Info, input: ApproveWithdrawalsInput
    ) -> WithdrawalsDecidedPayload:
        return await mutate(
            info,
            lambda: ApproveWithdrawals(
                withdrawals=tuple((r.agent_code, r.withdrawal_id) for r in input.withdrawals),
                audit=audit_of(info, None, input.note or "approved"),
                key=input.idempotency_key,
            ),
            WithdrawalsDecidedPayload.of,
        )

    @strawberry.mutation(
        description="Rejects withdrawals awaiting review: the money is available again."
    )
    async def reject_withdrawals(
        self, info: strawberry.Info, input: RejectWithdrawalsInput
    ) -> WithdrawalsDecidedPayload:
        return await mutate(
            info,
            lambda: RejectWithdrawals(
                withdrawals=tuple((r.agent_code, r.withdrawal_id) for r in input.withdrawals),
                audit=audit_of(info, None, input.reason),
                key=input.idempotency_key,
            ),
            WithdrawalsDecidedPayload.of,
        )

    @strawberry.mutation(description="Sets every withdrawal parameter from occurredAt on (admins).")
    async def set_withdrawal_limits(
        self, info: strawberry.Info, input: SetWithdrawalLimitsInput
    ) -> WithdrawalLimitsPayload:
        def payload(done: Outcome[WithdrawalLimitsSet]) -> WithdrawalLimitsPayload:
            if done.result is None:
                return WithdrawalLimitsPayload(effective_at=None, user_errors=done.errors)
            return WithdrawalLimitsPayload(
                effective_at=done.result.effective_at,  # type: ignore[arg-type]
                user_errors=[],
            )

        return await mutate(
            info,
            lambda: SetWithdrawalLimits(
                minimum_fen=fen(input.minimum, "minimum"),
                daily_max_fen=_optional(input.daily_max, "dailyMax"),
                monthly_max_fen=_optional(input.monthly_max, "monthlyMax"),
                daily_count=input.daily_count,
                fee_rate=input.fee_rate,
                fee_min_fen=_optional(input.fee_min, "feeMin") or 0,
                fee_max_fen=_optional(input.fee_max, "feeMax"),
                large_from_fen=_optional(input.large_from, "largeFrom"),
                tax_method=input.tax_method,
                audit=audit_of(info, input.occurred_at, input.reason),
                key=input.idempotency_key,
            ),
            payload,
        )

    @strawberry.mutation(
        description="Flow-2 funding: moves available commission into the agent's prepaid deposit."
    )
    async def move_commission_to_deposit(
        self, info: strawberry.Info, input: MoveCommissionToDepositInput
    ) -> DepositTransferPayload:
        def payload(done: Outcome[DepositTransferred]) -> DepositTransferPayload:
            if done.result is None:
                return DepositTransferPayload(deposit=None, user_errors=done.errors)
            return DepositTransferPayload(
                deposit=format_money(done.result.deposit_fen), user_errors=[]
            )

        return await mutate(
            info,
            lambda: MoveCommissionToDeposit(
                agent_code=input.agent_code,
                transfer_id=input.transfer_id,
                amount_fen=fen(input.amount, "amount"),
                audit=audit_of(info, None),
                key=input.idempotency_key,
            ),
            payload,
        )

    @strawberry.mutation(description="Asks for an account to be frozen or unfrozen (operators).")
    async def request_account_freeze(
        self, info: strawberry.Info, input: RequestAccountFreezeInput
    ) -> AccountFreezePayload:
        return await mutate(
            info,
            lambda: RequestAccountFreeze(
                agent_code=input.agent_code,
                action=input.action,
                audit=audit_of(info, None, input.reason),
                key=input.idempotency_key,
            ),
            AccountFreezePayload.of,
        )

    @strawberry.mutation(description="Approves or rejects a pending freeze or unfreeze (admins).")
    async def decide_account_freeze(
        self, info: strawberry.Info, input: DecideAccountFreezeInput
    ) -> AccountFreezePayload:
        return await mutate(
            info,
            lambda: DecideAccountFreeze(
                agent_code=input.agent_code,
                approved=input.approved,
                audit=audit_of(info, None, input.reason),
                key=input.idempotency_key,
            ),
            AccountFreezePayload.of,
        )


def alert_large(agent_code: str, withdrawal_id: str, amount_fen: int) -> None:
    """The large-withdrawal alert: a metric and a warning in the log (the withdrawal carries
    the flag too)."""
    count_large_withdrawal()
    log.warning(
        "withdrawal.large",
        agent_code=agent_code,
        withdrawal_id=withdrawal_id,
        amount=format_money(amount_fen),
    )
