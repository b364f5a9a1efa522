"""Settlement statements (对账单): an agent's book of them, and the cycles they cover.

A statement covers the wallet movements that took effect before its cycle's end and were
recorded at or before the log position it was generated at (`through`), minus those an approved
statement before it covered. Approved statements form a chain whose ends and positions only
grow, so what the chain covers is exactly the rectangle of its head: effective before the head's
end and recorded by the head's position. A statement's opening is therefore its predecessor's
closing, and its closing is opening + its lines, to the fen (checked when generated).

A movement recorded after its cycle's statement was approved (a late item) is not on it: it
lands on a supplementary statement of that cycle if finance generates one, otherwise on the next
cycle's statement, marked late (decision 0027). An approved statement never changes: approving
needs the statement's predecessor to still be the chain's head, so a statement generated
against an older head is stale and must be generated again.
"""

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import Audit, aggregate_id, derived_id
from domain.errors import InvalidInput, InvalidState
from domain.movements import BUCKETS, StatementLine, check_adds_up, closing_of

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$", re.ASCII)
_WEEK = re.compile(r"^(\d{4})-W(0[1-9]|[1-4]\d|5[0-3])$", re.ASCII)
_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$", re.ASCII)
CYCLE_KINDS = ("monthly", "weekly", "daily")


class StatementStatus(StrEnum):
    DRAFT = "DRAFT"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    VOIDED = "VOIDED"


@dataclass(frozen=True)
class Cycle:
    """A statement cycle in the business time zone: '2026-11' (month), '2026-W47' (ISO week)
    or '2026-11-30' (day); [starts_at, ends_at)."""

    code: str
    starts_at: datetime
    ends_at: datetime

    @classmethod
    def parse(cls, code: str, tz: tzinfo) -> "Cycle":
        first, last = _days(code)
        start = datetime.combine(first, time(), tz)
        end = datetime.combine(last, time(), tz)
        return cls(code, start, end)

    @classmethod
    def containing(cls, moment: datetime, kind: str, tz: tzinfo) -> "Cycle":
        day = moment.astimezone(tz).date()
        if kind == "monthly":
            code = f"{day.year:04d}-{day.month:02d}"
        elif kind == "weekly":
            year, week, _ = day.isocalendar()
            code = f"{year:04d}-W{week:02d}"
        elif kind == "daily":
            code = day.isoformat()
        else:
            raise InvalidInput("cycle", f"statement cycles are {', '.join(CYCLE_KINDS)}")
        return cls.parse(code, tz)

    @classmethod
    def last_ended(cls, now: datetime, kind: str, tz: tzinfo) -> "Cycle":
        """The latest cycle that has ended by `now` (what the statement job generates)."""
        current = cls.containing(now, kind, tz)
        return cls.containing(current.starts_at - timedelta(seconds=1), kind, tz)


def _days(code: str) -> tuple[date, date]:
    """The first day of the cycle and the first day after it."""
    try:
        if m := _MONTH.match(code):
            year, month = int(m.group(1)), int(m.group(2))
            after = date(year + month // 12, month % 12 + 1, 1)
            return date(year, month, 1), after
        if m := _WEEK.match(code):
            first = date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
            return first, first + timedelta(days=7)
        if m := _DAY.match(code):
            first = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            return first, first + timedelta(days=1)
    except ValueError:
        pass
    raise InvalidInput("cycle", f"a cycle looks like 2026-11, 2026-W47 or 2026-11-30, not {code!r}")


class StatementBook(Aggregate):
    """One agent's statements: drafts, the approved chain and its head."""

    class Opened(Aggregate.Created):
        agent_code: str

    class StatementEvent(Aggregate.Event):
        statement_id: str
        actor: str
        effective_at: datetime
        reason: str

    class Generated(StatementEvent):
        agent_code: str
        cycle: str
        sequence: int  # 1 for a cycle's first statement; more: supplementary or regenerated
        supplementary: bool
        starts_at: datetime
        ends_at: datetime
        through: int  # the log position it was generated at
        previous_id: str | None  # the approved statement it follows (None: the first)
        opening: dict[str, int]
        closing: dict[str, int]
        lines: list[dict[str, Any]]

        def apply(self, book: Any) -> None:
            book.statements[self.statement_id] = {
                "cycle": self.cycle,
                "status": StatementStatus.DRAFT.value,
                "ends_at": self.ends_at,
                "through": self.through,
                "previous_id": self.previous_id,
                "closing": dict(self.closing),
                "lines": self.lines,
            }
            book.sequences[self.cycle] = self.sequence

    class Approved(StatementEvent):
        def apply(self, book: Any) -> None:
            book.statements[self.statement_id]["status"] = StatementStatus.APPROVED.value
            book.head = self.statement_id

    class Rejected(StatementEvent):
        def apply(self, book: Any) -> None:
            book.statements[self.statement_id]["status"] = StatementStatus.REJECTED.value

    class Voided(StatementEvent):
        def apply(self, book: Any) -> None:
            book.statements[self.statement_id]["status"] = StatementStatus.VOIDED.value

    @staticmethod
    def create_id(agent_code: str, **_: Any) -> UUID:
        return aggregate_id("statements", agent_code)

    @classmethod
    def open(cls, agent_code: str) -> "StatementBook":
        return cls._create(cls.Opened, agent_code=agent_code)

    @event(Opened)
    def __init__(self, agent_code: str) -> None:
        self.agent_code = agent_code
        self.statements: dict[str, dict[str, Any]] = {}
        self.sequences: dict[str, int] = {}  # cycle -> statements generated for it so far
        self.head: str | None = None  # the latest approved statement

    def _apply(
        self, event_class: type[Any], statement_id: str, audit: Audit, **fields: Any
    ) -> None:
        event_ = self.trigger_event(
            event_class, statement_id=statement_id, **audit.fields(), **fields
        )
        del event_

    # -- what it knows ----------------------------------------------------------------------------
    def covered(self) -> tuple[datetime, int] | None:
        """What the approved chain covers: effective before this end, recorded by this position."""
        if self.head is None:
            return None
        head = self.statements[self.head]
        return head["ends_at"], head["through"]

    def opening(self) -> dict[str, int]:
        if self.head is None:
            return dict.fromkeys(BUCKETS, 0)
        return dict(self.statements[self.head]["closing"])

    def draft_of(self, cycle: str) -> str | None:
        for statement_id, s in self.statements.items():
            if s["cycle"] == cycle and s["status"] == StatementStatus.DRAFT.value:
                return statement_id
        return None

    def _statement(self, statement_id: str) -> dict[str, Any]:
        try:
            return self.statements[statement_id]
        except KeyError:
            raise InvalidState(
                "id", f"statement {statement_id} is not {self.agent_code}'s"
            ) from None

    # -- decisions --------------------------------------------------------------------------------
    def generate(
        self, cycle: Cycle, through: int, lines: list[StatementLine], audit: Audit
    ) -> str | None:
        """A draft for the cycle from the movements the chain does not cover yet. None when
        nothing is due: a later cycle is approved already, a closed cycle has no late items,
        nothing ever moved, or the cycle's draft already says the same."""
        covered = self.covered()
        if covered is not None:
            ends_at, head_through = covered
            if ends_at > cycle.ends_at:
                return None
            if through < head_through:
                raise InvalidState(
                    "cycle", f"read at position {through}, before the approved {head_through}"
                )
        opening = self.opening()
        supplementary = covered is not None and covered[0] == cycle.ends_at
        if not lines and (supplementary or not any(opening.values())):
            return None
        records = [line.as_record() for line in lines]
        draft = self.draft_of(cycle.code)
        if draft is not None:
            old = self.statements[draft]
            if old["previous_id"] == self.head and old["lines"] == records:
                return None
            self._apply(self.Voided, draft, _superseded(audit))
        closing = closing_of(opening, lines)
        check_adds_up(opening, lines, closing)
        sequence = self.sequences.get(cycle.code, 0) + 1
        statement_id = derived_id("statement", self.agent_code, cycle.code, sequence)
        self._apply(
            self.Generated,
            statement_id,
            audit,
            agent_code=self.agent_code,
            cycle=cycle.code,
            sequence=sequence,
            supplementary=supplementary,
            starts_at=cycle.starts_at,
            ends_at=cycle.ends_at,
            through=through,
            previous_id=self.head,
            opening=opening,
            closing=closing,
            lines=records,
        )
        return statement_id

    def approve(self, statement_id: str, audit: Audit) -> None:
        statement = self._draft(statement_id, "approved")
        if statement["previous_id"] != self.head:
            raise InvalidState(
                "id",
                f"statement {statement_id} follows {statement['previous_id']}, but "
                f"{self.head} was approved since: generate the cycle again",
            )
        self._apply(self.Approved, statement_id, audit)

    def reject(self, statement_id: str, audit: Audit) -> None:
        if not audit.reason:
            raise InvalidInput("reason", "a rejection needs a reason")
        self._draft(statement_id, "rejected")
        self._apply(self.Rejected, statement_id, audit)

    def void(self, statement_id: str, audit: Audit) -> None:
        if not audit.reason:
            raise InvalidInput("reason", "voiding needs a reason")
        self._draft(statement_id, "voided")
        self._apply(self.Voided, statement_id, audit)

    def _draft(self, statement_id: str, done: str) -> dict[str, Any]:
        statement = self._statement(statement_id)
        if statement["status"] != StatementStatus.DRAFT.value:
            never = (
                " (an approved statement never changes)"
                if statement["status"] == "APPROVED"
                else ""
            )
            raise InvalidState(
                "id",
                f"statement {statement_id} is {statement['status']}: only drafts are {done}{never}",
            )
        return statement


def _superseded(audit: Audit) -> Audit:
    return Audit(audit.actor, audit.effective_at, "superseded by a new draft", audit.time_given,
                 audit.agent_code)  # fmt: skip
