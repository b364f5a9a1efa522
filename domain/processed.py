"""A fact (an event) the commission policy has acted on, recorded with the effects it caused.

Its id derives from the source event (aggregate id and version), so the store itself refuses to
record a second processing of the same fact: re-delivery yields nothing new, whatever happened
to the policy's tracking position.
"""

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import aggregate_id


class ProcessedFact(Aggregate):
    class Processed(Aggregate.Created):
        source_id: str
        source_version: int

    @staticmethod
    def create_id(source_id: str, source_version: int, **_: Any) -> UUID:
        return aggregate_id("processed-fact", f"{source_id}:{source_version}")

    @classmethod
    def record(cls, source_id: UUID, source_version: int) -> "ProcessedFact":
        return cls._create(cls.Processed, source_id=str(source_id), source_version=source_version)

    @event(Processed)
    def __init__(self, source_id: str, source_version: int) -> None:
        self.source_id = source_id
        self.source_version = source_version
