"""A carrier settlement file as imported (issue 13): one aggregate per file content, so the same
file again is recognised by its hash, whatever its name; the rows themselves are
CarrierSettlement aggregates, one per carrier row id.

The record says who imported it, when, under which column profile, how many rows were read,
applied, found already recorded unchanged, and refused, with the refused rows' problems (the
first ones: the counts are complete, the list is bounded).
"""

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import Audit, aggregate_id
from domain.errors import InvalidInput

MAX_PROBLEMS_KEPT = 500
Problem = tuple[int, str | None, str, str]  # row number, column, code, message


class SettlementImport(Aggregate):
    class Recorded(Aggregate.Created):
        file_hash: str
        file_name: str
        profile: str
        rows: int
        applied: int
        unchanged: int
        refused: int
        problems: list[list[Any]]
        actor: str
        effective_at: datetime
        reason: str

    @staticmethod
    def create_id(file_hash: str, **_: Any) -> UUID:
        return aggregate_id("settlement-import", file_hash)

    @classmethod
    def record(
        cls,
        file_hash: str,
        file_name: str,
        profile: str,
        counts: tuple[int, int, int, int],
        problems: list[Problem],
        audit: Audit,
    ) -> "SettlementImport":
        rows, applied, unchanged, refused = counts
        if min(counts) < 0 or applied + unchanged + refused > rows:
            raise InvalidInput("rows", "the counts of an import do not add up")
        if len(problems) > MAX_PROBLEMS_KEPT:
            raise InvalidInput("problems", f"at most {MAX_PROBLEMS_KEPT} problems are kept")
        return cls._create(
            cls.Recorded,
            file_hash=file_hash,
            file_name=file_name,
            profile=profile,
            rows=rows,
            applied=applied,
            unchanged=unchanged,
            refused=refused,
            problems=[list(p) for p in problems],
            **audit.fields(),
        )

    @event(Recorded)
    def __init__(
        self,
        file_hash: str,
        file_name: str,
        profile: str,
        rows: int,
        applied: int,
        unchanged: int,
        refused: int,
        problems: list[list[Any]],
        actor: str,
        effective_at: datetime,
        reason: str,
    ) -> None:
        self.file_hash = file_hash
        self.file_name = file_name
        self.profile = profile
        self.rows, self.applied, self.unchanged, self.refused = rows, applied, unchanged, refused
        self.problems = problems
        self.actor = actor
        self.effective_at = effective_at
