"""Reconciliation (对账, issue 13, decision 0032): our figures against another source's, item by
item, and the record of each run with how finance settled its differences.

`match` is the one matching rule, pure: both sides are entries keyed by what identifies them
(an out-request id, an agent, a settlement period); entries with the same key on one side are
one group, summed (1:N: one carrier receipt covers several imported files, one statement's paid
withdrawals cover several payouts). A key on both sides with equal amounts (within the
tolerance) and compatible statuses is matched; otherwise it is an item: missing on their side,
missing on ours, amount differs, or status differs, with both sides' values.

A run is a `Reconciliation` aggregate: recorded once with its items; then each item may be
resolved with a reason, or written off, which needs two people (proposer, then someone else
approves: the maker-checker rule of domain/approvals.py).
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.approvals import Approval, ApprovalPolicy
from domain.common import Audit, aggregate_id
from domain.errors import InvalidInput, InvalidState, NotFound

MAX_ITEMS_KEPT = 5000


class Kind(StrEnum):
    THREE_WAY = "THREE_WAY"
    CHANNEL_STATEMENT = "CHANNEL_STATEMENT"
    CARRIER_RECEIPT = "CARRIER_RECEIPT"


class Difference(StrEnum):
    MISSING_THEIRS = "MISSING_THEIRS"  # on our side only
    MISSING_OURS = "MISSING_OURS"  # on their side only
    AMOUNT_DIFFERS = "AMOUNT_DIFFERS"
    STATUS_DIFFERS = "STATUS_DIFFERS"


class ItemStatus(StrEnum):
    OPEN = "OPEN"
    RESOLVED = "RESOLVED"
    WRITE_OFF_PROPOSED = "WRITE_OFF_PROPOSED"
    WRITTEN_OFF = "WRITTEN_OFF"


@dataclass(frozen=True)
class Entry:
    """One figure of one side: what it is (key), how much, its status where the side says one,
    and where it comes from (a file, a payout, a statement) for the report."""

    key: str
    amount_fen: int
    status: str | None = None
    ref: str | None = None


@dataclass(frozen=True)
class Item:
    """A difference, with both sides' values (None: the side has nothing under the key)."""

    rule: str
    key: str
    difference: Difference
    ours_fen: int | None
    theirs_fen: int | None
    ours_status: str | None = None
    theirs_status: str | None = None
    ours_refs: tuple[str, ...] = ()
    theirs_refs: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return f"{self.rule}:{self.key}"

    @property
    def gap_fen(self) -> int:
        """How much the sides differ by (theirs - ours, a missing side counting 0)."""
        return (self.theirs_fen or 0) - (self.ours_fen or 0)

    def as_record(self) -> list[Any]:
        return [
            self.rule, self.key, self.difference.value, self.ours_fen, self.theirs_fen,
            self.ours_status, self.theirs_status, list(self.ours_refs), list(self.theirs_refs),
        ]  # fmt: skip

    @classmethod
    def of(cls, record: Sequence[Any]) -> "Item":
        rule, key, diff, ours, theirs, o_status, t_status, o_refs, t_refs = record
        return cls(rule, key, Difference(diff), ours, theirs, o_status, t_status,
                   tuple(o_refs), tuple(t_refs))  # fmt: skip


@dataclass(frozen=True)
class Outcome:
    matched: int = 0
    items: tuple[Item, ...] = ()
    ours_fen: int = 0
    theirs_fen: int = 0

    def __add__(self, other: "Outcome") -> "Outcome":
        return Outcome(
            self.matched + other.matched,
            self.items + other.items,
            self.ours_fen + other.ours_fen,
            self.theirs_fen + other.theirs_fen,
        )


@dataclass
class _Group:
    amount_fen: int = 0
    statuses: set[str] = field(default_factory=set)
    refs: list[str] = field(default_factory=list)

    def add(self, entry: Entry) -> None:
        self.amount_fen += entry.amount_fen
        if entry.status is not None:
            self.statuses.add(entry.status)
        if entry.ref is not None:
            self.refs.append(entry.ref)

    @property
    def status(self) -> str | None:
        return "/".join(sorted(self.statuses)) or None


def _groups(entries: Iterable[Entry]) -> dict[str, _Group]:
    groups: dict[str, _Group] = {}
    for entry in entries:
        groups.setdefault(entry.key, _Group()).add(entry)
    return groups


def match(
    rule: str,
    ours: Iterable[Entry],
    theirs: Iterable[Entry],
    *,
    tolerance_fen: int = 0,
    statuses: Mapping[str, str] | None = None,
) -> Outcome:
    """Matches two sides by key (entries with one key summed: 1:N and N:M by key).

    statuses: their status words in ours (e.g. SUCCESS -> PAID); a status not in it is
    compared as it is. Statuses are compared only where both sides have one."""
    if tolerance_fen < 0:
        raise InvalidInput("tolerance", "a tolerance is not negative")
    mine, other = _groups(ours), _groups(theirs)
    words = statuses or {}
    matched, items = 0, []
    for key in sorted(mine.keys() | other.keys()):
        a, b = mine.get(key), other.get(key)
        if (a is None or b is None) and (a or b).amount_fen == 0:  # type: ignore[union-attr]
            matched += 1  # nothing against nothing (a zero fee, no tax)
            continue
        if b is None:
            assert a is not None
            items.append(Item(rule, key, Difference.MISSING_THEIRS, a.amount_fen, None,
                              a.status, None, tuple(a.refs)))  # fmt: skip
            continue
        theirs_status = (
            "/".join(sorted({words.get(s.upper(), s.upper()) for s in b.statuses})) or None
        )
        if a is None:
            items.append(Item(rule, key, Difference.MISSING_OURS, None, b.amount_fen,
                              None, theirs_status, (), tuple(b.refs)))  # fmt: skip
            continue
        if abs(a.amount_fen - b.amount_fen) > tolerance_fen:
            difference: Difference | None = Difference.AMOUNT_DIFFERS
        elif a.status and theirs_status and a.status != theirs_status:
            difference = Difference.STATUS_DIFFERS
        else:
            difference = None
        if difference is None:
            matched += 1
            continue
        items.append(Item(rule, key, difference, a.amount_fen, b.amount_fen, a.status,
                          theirs_status, tuple(a.refs), tuple(b.refs)))  # fmt: skip
    return Outcome(
        matched,
        tuple(items),
        sum(g.amount_fen for g in mine.values()),
        sum(g.amount_fen for g in other.values()),
    )


class Reconciliation(Aggregate):
    """One run: what was compared (kind, subject, sources, as of which log position), what
    matched and the differences; then each difference's settlement."""

    class Recorded(Aggregate.Created):
        run_id: str
        kind: str
        subject: str
        sources: list[str]
        through: int
        matched: int
        ours_fen: int
        theirs_fen: int
        items: list[list[Any]]
        actor: str
        effective_at: datetime
        reason: str

    class ItemEvent(Aggregate.Event):
        item_id: str
        actor: str
        effective_at: datetime
        reason: str

    class ItemResolved(ItemEvent):
        def apply(self, run: Any) -> None:
            run.item_status[self.item_id] = ItemStatus.RESOLVED.value

    class WriteOffProposed(ItemEvent):
        amount_fen: int

        def apply(self, run: Any) -> None:
            run.item_status[self.item_id] = ItemStatus.WRITE_OFF_PROPOSED.value
            run.write_offs[self.item_id] = [self.actor]

    class WrittenOff(ItemEvent):
        amount_fen: int

        def apply(self, run: Any) -> None:
            run.item_status[self.item_id] = ItemStatus.WRITTEN_OFF.value
            run.write_offs[self.item_id].append(self.actor)

    @staticmethod
    def create_id(run_id: str, **_: Any) -> UUID:
        return aggregate_id("reconciliation", run_id)

    @classmethod
    def record(
        cls, run_id: str, kind: str, subject: str, sources: Sequence[str], through: int,
        outcome: Outcome, audit: Audit,
    ) -> "Reconciliation":  # fmt: skip
        if kind not in Kind.__members__:
            raise InvalidInput("kind", f"a reconciliation is one of {', '.join(Kind)}")
        if len(outcome.items) > MAX_ITEMS_KEPT:
            raise InvalidInput("items", f"a run keeps at most {MAX_ITEMS_KEPT} differences")
        return cls._create(
            cls.Recorded,
            run_id=run_id,
            kind=kind,
            subject=subject,
            sources=list(sources),
            through=through,
            matched=outcome.matched,
            ours_fen=outcome.ours_fen,
            theirs_fen=outcome.theirs_fen,
            items=[i.as_record() for i in outcome.items],
            **audit.fields(),
        )

    @event(Recorded)
    def __init__(
        self, run_id: str, kind: str, subject: str, sources: list[str], through: int,
        matched: int, ours_fen: int, theirs_fen: int, items: list[list[Any]], actor: str,
        effective_at: datetime, reason: str,
    ) -> None:  # fmt: skip
        self.run_id, self.kind, self.subject, self.sources = run_id, kind, subject, sources
        self.through, self.matched = through, matched
        self.ours_fen, self.theirs_fen = ours_fen, theirs_fen
        self.items = items
        self.actor, self.effective_at = actor, effective_at
        self.item_status: dict[str, str] = {}
        self.write_offs: dict[str, list[str]] = {}

    def item(self, item_id: str) -> Item:
        for record in self.items:
            found = Item.of(record)
            if found.id == item_id:
                return found
        raise NotFound("itemId", f"run {self.run_id} has no difference {item_id!r}")

    def status_of(self, item_id: str) -> str:
        return self.item_status.get(item_id, ItemStatus.OPEN.value)

    def _open(self, item_id: str, action: str) -> Item:
        item = self.item(item_id)
        if self.status_of(item_id) != ItemStatus.OPEN.value:
            raise InvalidState(
                "itemId", f"{item_id} is {self.status_of(item_id)}: it cannot be {action}"
            )
        return item

    def resolve(self, item_id: str, audit: Audit) -> None:
        self._open(item_id, "resolved")
        if not audit.reason.strip():
            raise InvalidInput("reason", "a difference is resolved with a reason")
        self.trigger_event(self.ItemResolved, item_id=item_id, **audit.fields())

    def propose_write_off(self, item_id: str, audit: Audit) -> int:
        item = self._open(item_id, "written off")
        if not audit.reason.strip():
            raise InvalidInput("reason", "a write-off is proposed with a reason")
        amount = abs(item.gap_fen)
        self.trigger_event(
            self.WriteOffProposed, item_id=item_id, amount_fen=amount, **audit.fields()
        )
        return amount

    def approve_write_off(self, item_id: str, audit: Audit) -> int:
        item = self.item(item_id)
        if self.status_of(item_id) != ItemStatus.WRITE_OFF_PROPOSED.value:
            raise InvalidState("itemId", f"{item_id} has no write-off proposed")
        approval = Approval(
            f"the write-off of {item_id} in run {self.run_id}",
            "",  # the platform's money: no agent benefits
            abs(item.gap_fen),
            tuple(self.write_offs[item_id]),
        )
        approval.approved_by(audit, ApprovalPolicy())  # refuses the proposer
        self.trigger_event(
            self.WrittenOff, item_id=item_id, amount_fen=abs(item.gap_fen), **audit.fields()
        )
        return abs(item.gap_fen)
