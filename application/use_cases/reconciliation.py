"""Reconciliation runs and the settlement of their differences (decision 0032): a run is
recorded with its items; finance resolves an item with a reason, or proposes a write-off that
someone else approves (maker-checker)."""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, ClassVar

from application.commands import Command, Decision
from application.results import ReconciliationItemDecided, ReconciliationRecorded
from domain.common import Audit
from domain.errors import AlreadyExists, InvalidInput, NotFound
from domain.money import MAX_AMOUNT_FEN
from domain.reconciliation import MAX_ITEMS_KEPT, Difference, Item, Outcome, Reconciliation
from domain.values import Code, Key, Name, Reason, Whole

if TYPE_CHECKING:
    from application.ledger import Ledger

SignedFen = Annotated[int, Whole(-MAX_AMOUNT_FEN * 1000, MAX_AMOUNT_FEN * 1000)]
Total = Annotated[int, Whole(-(2**62), 2**62)]
Count = Annotated[int, Whole(0, 100_000_000)]
Position = Annotated[int, Whole(0, 2**62)]
# rule, key, difference, ours, theirs, our status, their status, our refs, their refs (one a
# line: a group's sources, 1:N)
ItemRecord = tuple[
    Code, Name, Code, SignedFen | None, SignedFen | None, Code | None, Code | None, Reason, Reason
]


def item_record(item: Item) -> ItemRecord:
    return (
        item.rule, item.key[:200], item.difference.value, item.ours_fen, item.theirs_fen,
        (item.ours_status or None) and item.ours_status[:64],
        (item.theirs_status or None) and item.theirs_status[:64],
        "\n".join(item.ours_refs)[:2000], "\n".join(item.theirs_refs)[:2000],
    )  # fmt: skip


def item_of(record: ItemRecord) -> Item:
    rule, key, diff, ours, theirs, o_status, t_status, o_refs, t_refs = record
    return Item(rule, key, Difference(diff), ours, theirs, o_status, t_status,
                tuple(filter(None, o_refs.split("\n"))),
                tuple(filter(None, t_refs.split("\n"))))  # fmt: skip


@dataclass(frozen=True)
class RecordReconciliation(Command[ReconciliationRecorded]):
    """A run's outcome, as computed at log position `through`: it is recorded once, by run id."""

    run_id: Code
    kind: Code
    subject: Name
    sources: tuple[Name, ...]
    through: Position
    matched: Count
    ours_fen: Total
    theirs_fen: Total
    items: tuple[ItemRecord, ...]
    audit: Audit
    key: Key | None = None

    @property
    def idempotency_key(self) -> str | None:
        return self.key or f"reconciliation:{self.run_id}"

    def decide(self, ledger: "Ledger") -> Decision[ReconciliationRecorded]:
        if ledger.exists("reconciliation", self.run_id):
            raise AlreadyExists("runId", f"reconciliation run {self.run_id} is already recorded")
        items = tuple(item_of(r) for r in self.items[:MAX_ITEMS_KEPT])
        outcome = Outcome(self.matched, items, self.ours_fen, self.theirs_fen)
        run = Reconciliation.record(
            self.run_id, self.kind, self.subject, self.sources, self.through, outcome, self.audit
        )
        return [run], ReconciliationRecorded(self.run_id, self.matched, len(items))


def _run(ledger: "Ledger", run_id: str) -> Reconciliation:
    run = ledger._find(Reconciliation, Reconciliation.create_id(run_id))
    if run is None:
        raise NotFound("runId", f"no reconciliation run {run_id}")
    return run


@dataclass(frozen=True)
class DecideReconciliationItem(Command[ReconciliationItemDecided]):
    """RESOLVE (with a reason), PROPOSE_WRITE_OFF (with a reason) or APPROVE_WRITE_OFF (someone
    other than the proposer)."""

    run_id: Code
    item_id: Name
    decision: Code
    audit: Audit
    key: Key | None = None

    input_names: ClassVar[dict[str, str]] = {"run_id": "id"}

    def decide(self, ledger: "Ledger") -> Decision[ReconciliationItemDecided]:
        run = _run(ledger, self.run_id)
        amount = 0
        if self.decision == "RESOLVE":
            run.resolve(self.item_id, self.audit)
        elif self.decision == "PROPOSE_WRITE_OFF":
            amount = run.propose_write_off(self.item_id, self.audit)
        elif self.decision == "APPROVE_WRITE_OFF":
            amount = run.approve_write_off(self.item_id, self.audit)
        else:
            raise InvalidInput("decision", "RESOLVE, PROPOSE_WRITE_OFF or APPROVE_WRITE_OFF")
        return [run], ReconciliationItemDecided(
            self.run_id, self.item_id, run.status_of(self.item_id), amount
        )
