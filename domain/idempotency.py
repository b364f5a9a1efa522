"""An idempotency key, recorded in the same transaction as the command's events.

Saving it together with the command makes "same key applied twice" impossible: the second save
conflicts on the key's aggregate id. A retry with the same request gets the first result back.

`scheme` says how `request_hash` was computed (decision 0014): 1 for the hand-written payloads
of the first releases, 2 for the digest of every field of a typed command. The caller computes
the retry's hash by the record's scheme.
"""

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import aggregate_id
from domain.errors import IdempotencyKeyReused, InvalidInput

LEGACY_SCHEME = 1
CURRENT_SCHEME = 2

# Version 1 stored results as the GraphQL API's camelCase dicts, without their type; the set of
# keys tells which result each one is (no two use cases with different results shared one).
_V1_TYPES: dict[frozenset[str], str] = {
    frozenset({"agentCode"}): "AgentRegistered",
    frozenset({"agentCode", "parentCode"}): "UplineBound",
    frozenset({"packageCode"}): "PackageDefined",
    frozenset({"agentCode", "packageCode", "costPriceFen"}): "CostPriceSet",
    frozenset({"agentCode", "packageCode", "retailPriceFen"}): "RetailPriceSet",
    frozenset({"planCode", "version"}): "PlanVersionRecorded",
    frozenset({"orderId", "paidFen"}): "OrderPlaced",
    frozenset({"orderId"}): "OrderCompleted",
    frozenset({"orderId", "refundedFen"}): "OrderRefunded",
    frozenset({"agentCode", "depositFen"}): "DepositToppedUp",
    frozenset({"agentCode", "withdrawalId"}): "WithdrawalRecorded",
    frozenset({"iccid"}): "CardRecorded",
    frozenset({"iccid", "totalRechargeFen"}): "RechargeRecorded",
    frozenset({"requestIds"}): "UnfreezeRequested",
    frozenset({"ids"}): "UnfreezeRequestsDecided",
    frozenset({"levels"}): "LevelsDefined",
    frozenset({"agentCode", "levelCode"}): "AgentLevelSet",
    frozenset({"rowId", "agentShareFen", "platformShareFen"}): "SettlementRecorded",
}
_V1_NAMES = {
    "agentCode": "agent_code",
    "parentCode": "parent_code",
    "packageCode": "package_code",
    "costPriceFen": "cost_price_fen",
    "retailPriceFen": "retail_price_fen",
    "planCode": "plan_code",
    "version": "version",
    "orderId": "order_id",
    "paidFen": "paid_fen",
    "refundedFen": "refunded_fen",
    "depositFen": "deposit_fen",
    "withdrawalId": "withdrawal_id",
    "iccid": "iccid",
    "totalRechargeFen": "total_recharge_fen",
    "requestIds": "request_ids",
    "ids": "request_ids",
    "levels": "level_codes",
    "levelCode": "level_code",
    "rowId": "row_id",
    "agentShareFen": "agent_share_fen",
    "platformShareFen": "platform_share_fen",
}


def typed_v1_result(result: dict[str, Any]) -> dict[str, Any]:
    """A version-1 result in the shape of version 2: its type's name and snake_case fields."""
    name = _V1_TYPES.get(frozenset(result))
    if name is None:
        raise ValueError(f"an idempotency result of unknown shape: {sorted(result)}")
    return {"type": name, **{_V1_NAMES[k]: v for k, v in result.items()}}


class IdempotencyKey(Aggregate):
    class Used(Aggregate.Created):
        class_version = 2
        key: str
        request_hash: str
        result: dict[str, Any]
        scheme: int

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["result"] = typed_v1_result(state["result"])
            state["scheme"] = LEGACY_SCHEME

    @staticmethod
    def create_id(key: str, **_: Any) -> UUID:
        return aggregate_id("idempotency", key)

    @classmethod
    def use(
        cls, key: str, request_hash: str, result: dict[str, Any], scheme: int = CURRENT_SCHEME
    ) -> "IdempotencyKey":
        if not isinstance(key, str) or not 1 <= len(key) <= 200:
            raise InvalidInput("idempotencyKey", "idempotencyKey must be 1-200 characters")
        return cls._create(
            cls.Used, key=key, request_hash=request_hash, result=result, scheme=scheme
        )

    @event(Used)
    def __init__(self, key: str, request_hash: str, result: dict[str, Any], scheme: int) -> None:
        self.key = key
        self.request_hash = request_hash
        self.result = result
        self.scheme = scheme

    def replay_result(self, request_hash: str) -> dict[str, Any]:
        if request_hash != self.request_hash:
            raise IdempotencyKeyReused(self.key)
        return self.result
