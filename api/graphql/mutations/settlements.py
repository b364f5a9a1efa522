"""Number-card settlements: one row of a carrier's settlement file."""

from enum import Enum

import strawberry

from api.graphql.mutations.base import Outcome, audit_of, fen, mutate
from api.graphql.scalars import DateTime, Money
from api.graphql.types import UserError
from application.results import SettlementRecorded
from application.use_cases.settlements import RecordCarrierSettlement


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

    @classmethod
    def of(cls, done: Outcome[SettlementRecorded]) -> "RecordCarrierSettlementPayload":
        return cls(
            row_id=done.get(lambda r: r.row_id),
            agent_share=done.get(lambda r: r.agent_share_fen),
            platform_share=done.get(lambda r: r.platform_share_fen),
            user_errors=done.errors,
        )


@strawberry.type
class SettlementMutations:
    @strawberry.mutation(
        description="Records one row of a carrier settlement (number cards): the carrier's total "
        "commission for a card and period, split by the LONG_TERM rules; the platform keeps "
        "the rest. Idempotent per rowId."
    )
    async def record_carrier_settlement(
        self, info: strawberry.Info, input: RecordCarrierSettlementInput
    ) -> RecordCarrierSettlementPayload:
        return await mutate(
            info,
            lambda: RecordCarrierSettlement(
                row_id=input.row_id,
                iccid=input.iccid,
                period=input.period,
                total_fen=fen(input.total_commission, "totalCommission"),
                network_status=input.network_status.value,
                three_no=(input.no_arrears, input.no_suspension, input.no_complaint),
                periods_used=input.periods_used,
                audit=audit_of(info, input.occurred_at, f"carrier settlement {input.row_id}"),
                key=input.idempotency_key,
            ),
            RecordCarrierSettlementPayload.of,
        )
