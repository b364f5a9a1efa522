"""Settlement statements (generated from the movement ledger, reviewed by finance) and manual
commission adjustments (maker-checker). Decision 0027."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar, Protocol

from application.commands import Command, Decision
from application.results import AdjustmentRecorded, StatementDecided, StatementsGenerated
from domain.common import Audit
from domain.errors import InvalidInput, InvalidState
from domain.movements import StatementLine
from domain.statement import Cycle, StatementBook
from domain.values import Code, Fen, Key

if TYPE_CHECKING:
    from application.ledger import Ledger


class StatementSource(Protocol):
    """What generating statements asks of the read side (projections/statement_queries.py)."""

    def movements_through(self, ends_at: datetime) -> tuple[int, list[str]]: ...

    def statement_lines(
        self,
        through: int,
        starts_at: datetime,
        ends_at: datetime,
        covered: Mapping[str, tuple[datetime, int]],
        agents: list[str],
    ) -> dict[str, list[StatementLine]]: ...

    def statement(self, statement_id: str, at: int) -> dict[str, object] | None: ...


def _source(ledger: "Ledger") -> StatementSource:
    if ledger.statement_source is None:
        raise RuntimeError("the ledger needs the movement ledger to generate statements")
    return ledger.statement_source


@dataclass(frozen=True)
class GenerateStatements(Command[StatementsGenerated]):
    """A draft statement per agent for an ended cycle, from the movements not yet stated."""

    cycle: Code
    audit: Audit
    key: Key | None = None

    def decide(self, ledger: "Ledger") -> Decision[StatementsGenerated]:
        cycle = Cycle.parse(self.cycle, ledger.business_tz)
        if cycle.ends_at > self.audit.effective_at:
            raise InvalidInput("cycle", f"cycle {cycle.code} has not ended yet")
        source = _source(ledger)
        through, agents = source.movements_through(cycle.ends_at)
        books = ledger.statement_books(agents)
        covered = {a: c for a, b in books.items() if (c := b.covered()) is not None}
        lines = source.statement_lines(through, cycle.starts_at, cycle.ends_at, covered, agents)
        changed, generated = [], 0
        for agent in agents:
            book = books[agent]
            if book.generate(cycle, through, lines.get(agent, []), self.audit) is not None:
                generated += 1
            # A book opened only to find nothing due is not saved.
            if any(isinstance(e, StatementBook.StatementEvent) for e in book.pending_events):
                changed.append(book)
        result = StatementsGenerated(cycle.code, through, generated, len(agents) - generated)
        return changed, result  # type: ignore[return-value]


def _book_of(ledger: "Ledger", statement_id: str) -> StatementBook:
    found = _source(ledger).statement(statement_id, 2**62)
    if found is None:
        raise InvalidState("id", f"no statement {statement_id}")
    return ledger.statement_books([str(found["agent_code"])])[str(found["agent_code"])]


@dataclass(frozen=True)
class DecideStatement(Command[StatementDecided]):
    """Finance's review of a draft: APPROVE (it never changes again), REJECT or VOID."""

    statement_id: Code
    decision: Code
    audit: Audit
    key: Key | None = None

    input_names: ClassVar[dict[str, str]] = {"statement_id": "id"}

    def decide(self, ledger: "Ledger") -> Decision[StatementDecided]:
        book = _book_of(ledger, self.statement_id)
        if self.decision == "APPROVE":
            book.approve(self.statement_id, self.audit)
        elif self.decision == "REJECT":
            book.reject(self.statement_id, self.audit)
        elif self.decision == "VOID":
            book.void(self.statement_id, self.audit)
        else:
            raise InvalidInput("decision", "a decision is APPROVE, REJECT or VOID")
        status = book.statements[self.statement_id]["status"]
        return [book], StatementDecided(self.statement_id, book.agent_code, status)


@dataclass(frozen=True)
class ProposeAdjustment(Command[AdjustmentRecorded]):
    """A manual commission adjustment (佣金调整) with a reason, waiting for another's approval."""

    agent_code: Code
    adjustment_id: Code
    amount_fen: Fen
    increase: bool
    audit: Audit
    key: Key | None = None

    def decide(self, ledger: "Ledger") -> Decision[AdjustmentRecorded]:
        wallet = ledger.wallet(self.agent_code)
        wallet.propose_adjustment(self.adjustment_id, self.amount_fen, self.increase, self.audit)
        return [wallet], AdjustmentRecorded(self.agent_code, self.adjustment_id, "PROPOSED")


@dataclass(frozen=True)
class DecideAdjustment(Command[AdjustmentRecorded]):
    """Approves (maker-checker: never the proposer) or rejects (with a reason) an adjustment."""

    agent_code: Code
    adjustment_id: Code
    approve: bool
    audit: Audit
    key: Key | None = None

    def decide(self, ledger: "Ledger") -> Decision[AdjustmentRecorded]:
        wallet = ledger.wallet(self.agent_code)
        if not self.approve:
            wallet.reject_adjustment(self.adjustment_id, self.audit)
            status = "REJECTED"
        elif wallet.approve_adjustment(self.adjustment_id, self.audit, ledger.approvals):
            status = "APPROVED"
        else:
            status = "AWAITING_SECOND_APPROVAL"
        return [wallet], AdjustmentRecorded(self.agent_code, self.adjustment_id, status)
