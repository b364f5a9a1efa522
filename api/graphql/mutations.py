"""Mutations: one input object each, an optional idempotencyKey, and a payload with userErrors.

Resolvers only translate: parse inputs, call the ledger use case off the event loop, map refusals
to userErrors, and catch the read models up so the payload reads what the mutation wrote.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import strawberry
from starlette.concurrency import run_in_threadpool
from strawberry.scalars import JSON

from api.graphql.scalars import DateTime, Money
from api.graphql.types import (
    OrderFlow,
    PackageKind,
    UnfreezeRequest,
    UserError,
    Wallet,
)
from domain.common import Audit
from domain.errors import LedgerError
from domain.money import parse_money


def user_error(exc: LedgerError) -> UserError:
    return UserError(
        code=exc.code, field=["input", exc.field] if exc.field else None, message=exc.message
    )


async def _run(
    info: strawberry.Info,
    call: Callable[[Any], dict[str, Any]],
) -> tuple[dict[str, Any] | None, list[UserError]]:
    app = info.context.app

    def work() -> tuple[dict[str, Any] | None, list[UserError]]:
        try:
            result = call(app)
        except LedgerError as exc:
            return None, [user_error(exc)]
        app.catch_up()
        return result, []

    return await run_in_threadpool(work)


def audit_of(info: strawberry.Info, at: datetime | None, reason: str | None = None) -> Audit:
    return Audit(info.context.actor, at or datetime.now(UTC), reason or "", at is not None)


def _fen(text: str, field: str) -> int:
    return parse_money(text, field=field)


# -- inputs and payloads ----------------------------------------------------------------------


@strawberry.input
class RegisterAgentInput:
    code: str
    name: str
    parent_code: str | None = None
    real_name_verified: bool = False
    idempotency_key: str | None = None


@strawberry.type
class RegisterAgentPayload:
    agent_code: str | None
    user_errors: list[UserError]


@strawberry.input
class BindUplineInput:
    agent_code: str
    parent_code: str
    reason: str | None = None
    idempotency_key: str | None = None


@strawberry.type
class BindUplinePayload:
    agent_code: str | None
    parent_code: str | None
    user_errors: list[UserError]


@strawberry.input
class DefinePackageInput:
    code: str
    name: str
    kind: PackageKind
    purchase_price: Money
    period_months: int = 1
    idempotency_key: str | None = None


@strawberry.type
class DefinePackagePayload:
    package_code: str | None
    user_errors: list[UserError]


@strawberry.input
class SetCostPriceInput:
    agent_code: str
    package_code: str
    cost_price: Money
    idempotency_key: str | None = None


@strawberry.type
class SetCostPricePayload:
    agent_code: str | None
    package_code: str | None
    cost_price: Money | None
    user_errors: list[UserError]


@strawberry.input
class SetRetailPriceInput:
    agent_code: str
    package_code: str
    retail_price: Money
    idempotency_key: str | None = None


@strawberry.type
class SetRetailPricePayload:
    agent_code: str | None
    package_code: str | None
    retail_price: Money | None
    user_errors: list[UserError]


@strawberry.input
class DefineCommissionPlanInput:
    code: str
    effective_from: DateTime
    rules: JSON = strawberry.field(description="The rules document: see docs/rules.md.")
    reason: str | None = None
    idempotency_key: str | None = None


@strawberry.type
class DefineCommissionPlanPayload:
    plan_code: str | None
    version: int | None
    user_errors: list[UserError]


@strawberry.input
class PlaceOrderInput:
    order_id: str
    package_code: str
    agent_code: str
    flow: OrderFlow
    iccid: str | None = None
    buyer_code: str | None = None
    occurred_at: DateTime | None = None
    idempotency_key: str | None = None


@strawberry.type
class PlaceOrderPayload:
    order_id: str | None
    paid_amount: Money | None
    user_errors: list[UserError]


@strawberry.input
class CompleteOrderInput:
    order_id: str
    occurred_at: DateTime | None = None
    idempotency_key: str | None = None


@strawberry.type
class CompleteOrderPayload:
    order_id: str | None
    user_errors: list[UserError]


@strawberry.input
class RefundOrderInput:
    order_id: str
    amount: Money
    reason: str
    occurred_at: DateTime | None = None
    idempotency_key: str | None = None


@strawberry.type
class RefundOrderPayload:
    order_id: str | None
    refunded_amount: Money | None
    user_errors: list[UserError]


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


@strawberry.input
class AssignCardInput:
    iccid: str
    agent_code: str
    package_code: str | None = None
    occurred_at: DateTime | None = None
    idempotency_key: str | None = None


@strawberry.input
class ActivateCardInput:
    iccid: str
    occurred_at: DateTime | None = None
    idempotency_key: str | None = None


@strawberry.input
class RecordRechargeInput:
    iccid: str
    amount: Money
    occurred_at: DateTime | None = None
    idempotency_key: str | None = None


@strawberry.type
class CardPayload:
    iccid: str | None
    user_errors: list[UserError]


@strawberry.input
class ReleaseDueCommissionsInput:
    now: DateTime | None = None
    idempotency_key: str | None = None


@strawberry.input
class ApproveUnfreezeRequestsInput:
    ids: list[str]
    note: str | None = None
    idempotency_key: str | None = None


@strawberry.input
class RejectUnfreezeRequestsInput:
    ids: list[str]
    reason: str
    void: bool = False
    idempotency_key: str | None = None


@strawberry.type
class UnfreezeRequestsPayload:
    requests: list[UnfreezeRequest]
    user_errors: list[UserError]


@strawberry.input
class AgentLevelConditionsInput:
    own_sales: Money | None = strawberry.field(default=None, description="Own sales amount.")
    team_sales: Money | None = strawberry.field(default=None, description="Team sales amount.")
    direct_agents: int | None = strawberry.field(
        default=None, description="Number of direct sub-agents."
    )


@strawberry.input
class AgentLevelInput:
    code: str
    name: str
    rank: int = strawberry.field(description="Higher rank = higher level; unique on the ladder.")
    conditions: AgentLevelConditionsInput | None = None


@strawberry.input
class DefineAgentLevelsInput:
    levels: list[AgentLevelInput]
    reason: str | None = None
    idempotency_key: str | None = None


@strawberry.type
class DefineAgentLevelsPayload:
    level_codes: list[str] | None = strawberry.field(description="The ladder, lowest rank first.")
    user_errors: list[UserError]


@strawberry.input
class SetAgentLevelInput:
    agent_code: str
    level_code: str
    reason: str | None = None
    idempotency_key: str | None = None


@strawberry.type
class SetAgentLevelPayload:
    agent_code: str | None
    level_code: str | None
    user_errors: list[UserError]


@strawberry.enum
class NetworkStatus(Enum):
    NORMAL = "NORMAL"
    SUSPENDED = "SUSPENDED"
    CANCELLED = "CANCELLED"
    UNKNOWN = "UNKNOWN"


@strawberry.input
class RecordCarrierSettlementInput:
    row_id: str = strawberry.field(description="The row's id in the carrier's file: idempotent.")
    iccid: str
    period: str = strawberry.field(description="The settled month, 'YYYY-MM'.")
    total_commission: Money = strawberry.field(
        description="What the carrier pays the platform for this card and period."
    )
    network_status: NetworkStatus
    no_arrears: bool
    no_suspension: bool
    no_complaint: bool
    periods_used: int | None = strawberry.field(
        default=None, description="Package periods the card has used (carrier-reported)."
    )
    occurred_at: DateTime | None = None
    idempotency_key: str | None = None


@strawberry.type
class RecordCarrierSettlementPayload:
    row_id: str | None
    agent_share: Money | None = strawberry.field(description="Paid to agents by the rules.")
    platform_share: Money | None = strawberry.field(description="What the platform keeps.")
    user_errors: list[UserError]


def _level_document(levels: list[AgentLevelInput]) -> list[dict[str, Any]]:
    document = []
    for level in levels:
        item: dict[str, Any] = {"code": level.code, "name": level.name, "rank": level.rank}
        if level.conditions is not None:
            c = level.conditions
            conditions = {
                "ownSales": c.own_sales,
                "teamSales": c.team_sales,
                "directAgents": c.direct_agents,
            }
            item["conditions"] = {k: v for k, v in conditions.items() if v is not None}
        document.append(item)
    return document


async def _requests_payload(
    info: strawberry.Info, result: dict[str, Any] | None, errors: list[UserError], key: str
) -> UnfreezeRequestsPayload:
    if result is None:
        return UnfreezeRequestsPayload(requests=[], user_errors=errors)
    ids = list(result[key])
    app = info.context.app

    def read() -> list[UnfreezeRequest]:
        at = app.read.pin().position
        page = app.read.unfreeze_requests(at, None, None, len(ids), None, ids=ids)
        return [UnfreezeRequest.of(r, at) for r in page.rows]

    return UnfreezeRequestsPayload(requests=await run_in_threadpool(read), user_errors=[])


async def _wallet_payload(
    info: strawberry.Info, agent_code: str, result: Any, errors: list[UserError]
) -> WalletPayload:
    if result is None:
        return WalletPayload(wallet=None, user_errors=errors)
    app = info.context.app
    balances = await run_in_threadpool(app.read.wallet, agent_code, app.read.pin().position)
    return WalletPayload(wallet=Wallet.of(agent_code, balances), user_errors=[])


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def register_agent(
        self, info: strawberry.Info, input: RegisterAgentInput
    ) -> RegisterAgentPayload:
        result, errors = await _run(
            info,
            lambda app: app.ledger.register_agent(
                input.code,
                input.name,
                input.parent_code,
                input.real_name_verified,
                audit_of(info, None),
                input.idempotency_key,
            ),
        )
        return RegisterAgentPayload(agent_code=result and result["agentCode"], user_errors=errors)

    @strawberry.mutation
    async def bind_upline(self, info: strawberry.Info, input: BindUplineInput) -> BindUplinePayload:
        result, errors = await _run(
            info,
            lambda app: app.ledger.bind_upline(
                input.agent_code,
                input.parent_code,
                audit_of(info, None, input.reason),
                input.idempotency_key,
            ),
        )
        return BindUplinePayload(
            agent_code=result and result["agentCode"],
            parent_code=result and result["parentCode"],
            user_errors=errors,
        )

    @strawberry.mutation
    async def define_package(
        self, info: strawberry.Info, input: DefinePackageInput
    ) -> DefinePackagePayload:
        result, errors = await _run(
            info,
            lambda app: app.ledger.define_package(
                input.code,
                input.name,
                input.kind.value,
                _fen(input.purchase_price, "purchasePrice"),
                input.period_months,
                audit_of(info, None),
                input.idempotency_key,
            ),
        )
        return DefinePackagePayload(
            package_code=result and result["packageCode"], user_errors=errors
        )

    @strawberry.mutation
    async def set_cost_price(
        self, info: strawberry.Info, input: SetCostPriceInput
    ) -> SetCostPricePayload:
        result, errors = await _run(
            info,
            lambda app: app.ledger.set_cost_price(
                input.agent_code,
                input.package_code,
                _fen(input.cost_price, "costPrice"),
                audit_of(info, None),
                input.idempotency_key,
            ),
        )
        return SetCostPricePayload(
            agent_code=result and result["agentCode"],
            package_code=result and result["packageCode"],
            cost_price=result and result["costPriceFen"],
            user_errors=errors,
        )

    @strawberry.mutation
    async def set_retail_price(
        self, info: strawberry.Info, input: SetRetailPriceInput
    ) -> SetRetailPricePayload:
        result, errors = await _run(
            info,
            lambda app: app.ledger.set_retail_price(
                input.agent_code,
                input.package_code,
                _fen(input.retail_price, "retailPrice"),
                audit_of(info, None),
                input.idempotency_key,
            ),
        )
        return SetRetailPricePayload(
            agent_code=result and result["agentCode"],
            package_code=result and result["packageCode"],
            retail_price=result and result["retailPriceFen"],
            user_errors=errors,
        )

    @strawberry.mutation
    async def define_commission_plan(
        self, info: strawberry.Info, input: DefineCommissionPlanInput
    ) -> DefineCommissionPlanPayload:
        result, errors = await _run(
            info,
            lambda app: app.ledger.define_commission_plan(
                input.code,
                input.effective_from,
                input.rules,
                audit_of(info, None, input.reason),
                input.idempotency_key,
            ),
        )
        return DefineCommissionPlanPayload(
            plan_code=result and result["planCode"],
            version=result and result["version"],
            user_errors=errors,
        )

    @strawberry.mutation
    async def place_order(self, info: strawberry.Info, input: PlaceOrderInput) -> PlaceOrderPayload:
        result, errors = await _run(
            info,
            lambda app: app.ledger.place_order(
                input.order_id,
                input.package_code,
                input.agent_code,
                input.iccid,
                input.buyer_code,
                input.flow.value,
                audit_of(info, input.occurred_at),
                input.idempotency_key,
            ),
        )
        return PlaceOrderPayload(
            order_id=result and result["orderId"],
            paid_amount=result and result["paidFen"],
            user_errors=errors,
        )

    @strawberry.mutation
    async def complete_order(
        self, info: strawberry.Info, input: CompleteOrderInput
    ) -> CompleteOrderPayload:
        result, errors = await _run(
            info,
            lambda app: app.ledger.complete_order(
                input.order_id, audit_of(info, input.occurred_at), input.idempotency_key
            ),
        )
        return CompleteOrderPayload(order_id=result and result["orderId"], user_errors=errors)

    @strawberry.mutation
    async def refund_order(
        self, info: strawberry.Info, input: RefundOrderInput
    ) -> RefundOrderPayload:
        result, errors = await _run(
            info,
            lambda app: app.ledger.refund_order(
                input.order_id,
                _fen(input.amount, "amount"),
                audit_of(info, input.occurred_at, input.reason),
                input.idempotency_key,
            ),
        )
        return RefundOrderPayload(
            order_id=result and result["orderId"],
            refunded_amount=result and result["refundedFen"],
            user_errors=errors,
        )

    @strawberry.mutation
    async def top_up_deposit(
        self, info: strawberry.Info, input: TopUpDepositInput
    ) -> WalletPayload:
        result, errors = await _run(
            info,
            lambda app: app.ledger.top_up_deposit(
                input.agent_code,
                _fen(input.amount, "amount"),
                audit_of(info, input.occurred_at),
                input.idempotency_key,
            ),
        )
        return await _wallet_payload(info, input.agent_code, result, errors)

    @strawberry.mutation(description="Sets available money aside for a payout (real-name agents).")
    async def request_withdrawal(
        self, info: strawberry.Info, input: RequestWithdrawalInput
    ) -> WalletPayload:
        result, errors = await _run(
            info,
            lambda app: app.ledger.request_withdrawal(
                input.agent_code,
                input.withdrawal_id,
                _fen(input.amount, "amount"),
                audit_of(info, None),
                input.idempotency_key,
            ),
        )
        return await _wallet_payload(info, input.agent_code, result, errors)

    @strawberry.mutation(description="Records the payment channel's outcome of a withdrawal.")
    async def settle_withdrawal(
        self, info: strawberry.Info, input: SettleWithdrawalInput
    ) -> WalletPayload:
        result, errors = await _run(
            info,
            lambda app: app.ledger.settle_withdrawal(
                input.agent_code,
                input.withdrawal_id,
                input.paid,
                audit_of(info, None, input.reason),
                input.idempotency_key,
            ),
        )
        return await _wallet_payload(info, input.agent_code, result, errors)

    @strawberry.mutation
    async def assign_card(self, info: strawberry.Info, input: AssignCardInput) -> CardPayload:
        result, errors = await _run(
            info,
            lambda app: app.ledger.assign_card(
                input.iccid,
                input.agent_code,
                input.package_code,
                audit_of(info, input.occurred_at),
                input.idempotency_key,
            ),
        )
        return CardPayload(iccid=result and result["iccid"], user_errors=errors)

    @strawberry.mutation
    async def activate_card(self, info: strawberry.Info, input: ActivateCardInput) -> CardPayload:
        result, errors = await _run(
            info,
            lambda app: app.ledger.activate_card(
                input.iccid, audit_of(info, input.occurred_at), input.idempotency_key
            ),
        )
        return CardPayload(iccid=result and result["iccid"], user_errors=errors)

    @strawberry.mutation
    async def record_recharge(
        self, info: strawberry.Info, input: RecordRechargeInput
    ) -> CardPayload:
        result, errors = await _run(
            info,
            lambda app: app.ledger.record_recharge(
                input.iccid,
                _fen(input.amount, "amount"),
                audit_of(info, input.occurred_at),
                input.idempotency_key,
            ),
        )
        return CardPayload(iccid=result and result["iccid"], user_errors=errors)

    @strawberry.mutation(
        description="Turns frozen commissions whose hold has elapsed at `now` "
        "into unfreeze requests awaiting finance's approval."
    )
    async def release_due_commissions(
        self, info: strawberry.Info, input: ReleaseDueCommissionsInput
    ) -> UnfreezeRequestsPayload:
        result, errors = await _run(
            info,
            lambda app: app.ledger.release_due_commissions(
                audit_of(info, input.now, "hold period elapsed"), input.idempotency_key
            ),
        )
        return await _requests_payload(info, result, errors, "requestIds")

    @strawberry.mutation
    async def approve_unfreeze_requests(
        self, info: strawberry.Info, input: ApproveUnfreezeRequestsInput
    ) -> UnfreezeRequestsPayload:
        result, errors = await _run(
            info,
            lambda app: app.ledger.decide_unfreeze_requests(
                input.ids,
                True,
                False,
                audit_of(info, None, input.note or "approved"),
                input.idempotency_key,
            ),
        )
        return await _requests_payload(info, result, errors, "ids")

    @strawberry.mutation
    async def reject_unfreeze_requests(
        self, info: strawberry.Info, input: RejectUnfreezeRequestsInput
    ) -> UnfreezeRequestsPayload:
        result, errors = await _run(
            info,
            lambda app: app.ledger.decide_unfreeze_requests(
                input.ids,
                False,
                input.void,
                audit_of(info, None, input.reason),
                input.idempotency_key,
            ),
        )
        return await _requests_payload(info, result, errors, "ids")

    @strawberry.mutation(description="Defines the agent level ladder (name, rank, conditions).")
    async def define_agent_levels(
        self, info: strawberry.Info, input: DefineAgentLevelsInput
    ) -> DefineAgentLevelsPayload:
        result, errors = await _run(
            info,
            lambda app: app.ledger.define_agent_levels(
                _level_document(input.levels),
                audit_of(info, None, input.reason),
                input.idempotency_key,
            ),
        )
        return DefineAgentLevelsPayload(level_codes=result and result["levels"], user_errors=errors)

    @strawberry.mutation(description="Sets an agent's level (admin); counts for later sales.")
    async def set_agent_level(
        self, info: strawberry.Info, input: SetAgentLevelInput
    ) -> SetAgentLevelPayload:
        result, errors = await _run(
            info,
            lambda app: app.ledger.set_agent_level(
                input.agent_code,
                input.level_code,
                audit_of(info, None, input.reason),
                input.idempotency_key,
            ),
        )
        return SetAgentLevelPayload(
            agent_code=result and result["agentCode"],
            level_code=result and result["levelCode"],
            user_errors=errors,
        )

    @strawberry.mutation(
        description="Records one row of a carrier settlement (number cards): the carrier's total "
        "commission for a card and period, split by the LONG_TERM rules; the platform keeps "
        "the rest. Idempotent per rowId."
    )
    async def record_carrier_settlement(
        self, info: strawberry.Info, input: RecordCarrierSettlementInput
    ) -> RecordCarrierSettlementPayload:
        result, errors = await _run(
            info,
            lambda app: app.ledger.record_carrier_settlement(
                input.row_id,
                input.iccid,
                input.period,
                _fen(input.total_commission, "totalCommission"),
                input.network_status.value,
                (input.no_arrears, input.no_suspension, input.no_complaint),
                input.periods_used,
                audit_of(info, input.occurred_at, f"carrier settlement {input.row_id}"),
                input.idempotency_key,
            ),
        )
        return RecordCarrierSettlementPayload(
            row_id=result and result["rowId"],
            agent_share=result and result["agentShareFen"],
            platform_share=result and result["platformShareFen"],
            user_errors=errors,
        )
