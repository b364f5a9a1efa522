"""An agent's wallet: deposit top-ups and withdrawals. Each answers the wallet as it is after."""

from collections.abc import Callable
from typing import Any

import strawberry

from api.graphql.mutations.base import Outcome, audit_of, fen, mutate
from api.graphql.mutations.withdrawals import alert_large
from api.graphql.scalars import DateTime, Money
from api.graphql.types import UserError, Wallet
from application.results import WithdrawalRecorded
from application.use_cases.wallets import RequestWithdrawal, SettleWithdrawal, TopUpDeposit


@strawberry.input
class TopUpDepositInput:
    agent_code: str
    amount: Money
    occurred_at: DateTime | None = None
    idempotency_key: str | None = None


@strawberry.type
class WalletPayload:
    wallet: Wallet | None
    user_errors: list[UserError]

    @classmethod
    def of(cls, agent_code: str) -> Callable[[Outcome[Any]], "WalletPayload"]:
        """The agent's wallet read at the position just after the command."""

        def build(done: Outcome[Any]) -> WalletPayload:
            if done.result is None or done.at is None:
                return cls(wallet=None, user_errors=done.errors)
            balances = done.read.wallet(agent_code, done.at)
            return cls(wallet=Wallet.of(agent_code, balances), user_errors=[])  # type: ignore[arg-type]

        return build


@strawberry.input
class RequestWithdrawalInput:
    agent_code: str
    withdrawal_id: str
    amount: Money
    idempotency_key: str | None = None


@strawberry.input
class SettleWithdrawalInput:
    agent_code: str
    withdrawal_id: str
    paid: bool
    reason: str | None = None
    idempotency_key: str | None = None


@strawberry.type
class WalletMutations:
    @strawberry.mutation
    async def top_up_deposit(
        self, info: strawberry.Info, input: TopUpDepositInput
    ) -> WalletPayload:
        return await mutate(
            info,
            lambda: TopUpDeposit(
                agent_code=input.agent_code,
                amount_fen=fen(input.amount, "amount"),
                audit=audit_of(info, input.occurred_at),
                key=input.idempotency_key,
            ),
            WalletPayload.of(input.agent_code),
        )

    @strawberry.mutation(
        description="Sets available money aside for a withdrawal awaiting finance's review "
        "(real-name agents, accounts not frozen, within the withdrawal limits)."
    )
    async def request_withdrawal(
        self, info: strawberry.Info, input: RequestWithdrawalInput
    ) -> WalletPayload:
        def payload(done: Outcome[WithdrawalRecorded]) -> WalletPayload:
            if done.result is not None and done.result.large:
                alert_large(input.agent_code, input.withdrawal_id, fen(input.amount, "amount"))
            return WalletPayload.of(input.agent_code)(done)

        return await mutate(
            info,
            lambda: RequestWithdrawal(
                agent_code=input.agent_code,
                withdrawal_id=input.withdrawal_id,
                amount_fen=fen(input.amount, "amount"),
                audit=audit_of(info, None),
                key=input.idempotency_key,
            ),
            payload,
        )

    @strawberry.mutation(description="Records the payment channel's outcome of a withdrawal.")
    async def settle_withdrawal(
        self, info: strawberry.Info, input: SettleWithdrawalInput
    ) -> WalletPayload:
        return await mutate(
            info,
            lambda: SettleWithdrawal(
                agent_code=input.agent_code,
                withdrawal_id=input.withdrawal_id,
                paid=input.paid,
                audit=audit_of(info, None, input.reason),
                key=input.idempotency_key,
            ),
            WalletPayload.of(input.agent_code),
        )
