"""An idempotency key, recorded in the same transaction as the command's events.

Saving it together with the command makes "same key applied twice" impossible: the second save
conflicts on the key's aggregate id. A retry with the same payload gets the first result back.
"""

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import aggregate_id
from domain.errors import IdempotencyKeyReused, InvalidInput


class IdempotencyKey(Aggregate):
    class Used(Aggregate.Created):
        key: str
        request_hash: str
        result: dict[str, Any]

    @staticmethod
    def create_id(key: str, **_: Any) -> UUID:
        return aggregate_id("idempotency", key)

    @classmethod
    def use(cls, key: str, request_hash: str, result: dict[str, Any]) -> "IdempotencyKey":
        if not isinstance(key, str) or not 1 <= len(key) <= 200:
            raise InvalidInput("idempotencyKey", "idempotencyKey must be 1-200 characters")
        return cls._create(cls.Used, key=key, request_hash=request_hash, result=result)

    @event(Used)
    def __init__(self, key: str, request_hash: str, result: dict[str, Any]) -> None:
        self.key = key
        self.request_hash = request_hash
        self.result = result

    def replay_result(self, request_hash: str) -> dict[str, Any]:
        if request_hash != self.request_hash:
            raise IdempotencyKeyReused(self.key)
        return self.result
