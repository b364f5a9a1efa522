"""Number-card settlements: a carrier's settlement file, one row at a time or many rows at once
(a file's import, decision 0028), each row deciding the same way."""

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from eventsourcing.utils import get_topic

from application.commands import Command, Decision
from application.results import (
    SettlementImportRecorded,
    SettlementRecorded,
    SettlementRowsRecorded,
)
from application.use_cases.limits import require_room_for_facts
from domain.card import Card
from domain.common import Audit
from domain.errors import AlreadyExists, CardNotFound
from domain.idempotency import IdempotencyKey
from domain.performance import MonthlyVolume
from domain.processed import ProcessedFact
from domain.rules import (
    MAX_LEVELS,
    CardFacts,
    PlanVersion,
    active_metrics,
    lines_for_settlement,
)
from domain.settlement import CarrierSettlement
from domain.settlement_import import MAX_PROBLEMS_KEPT, SettlementImport
from domain.values import Code, Fen, Key, Name, Periods, Reason, Whole
from domain.wallet import Wallet

if TYPE_CHECKING:
    from application.ledger import Ledger

# A carrier row as a file import carries it: row id, ICCID, period, total (fen), network status,
# no arrears, no suspension, no complaint, periods used.
SettlementRow = tuple[Code, Code, Code, Fen, Code, bool, bool, bool, Periods | None]
Count = Annotated[int, Whole(0, 100_000_000)]
RowNumber = Annotated[int, Whole(1, 100_000_000)]
ImportProblem = tuple[RowNumber, Name | None, Code, Reason]


@dataclass(frozen=True)
class CheckedRow:
    """A row as the import's check decided it: the card as the ledger knew it, the card agent's
    uplines, what the plans pay agents from it (decision 0034)."""

    card: CardFacts
    uplines: tuple[str, ...]
    agents_fen: int


@dataclass
class CheckPoint:
    """The log position up to which nothing the check's decisions read was recorded: where the
    check began, moved on by each chunk's save that looked past it (so each save reads only the
    events after the last one's look, not the whole import again)."""

    position: int


@dataclass(frozen=True)
class CheckedRows:
    """A chunk's rows as the check decided them."""

    since: CheckPoint
    rows: tuple[CheckedRow, ...]


# What a settlement row's decision never reads: the rows themselves (their ids are unique by
# aggregate id), imports, idempotency keys, the policy's wallets and processed facts. Anything
# else recorded after a check (a card, an agent, a plan, a month's volume) has it decided again.
NOT_READ_BY_ROWS = tuple(
    get_topic(cls) + "."
    for cls in (CarrierSettlement, SettlementImport, IdempotencyKey, Wallet, ProcessedFact)
)


def row_fields(
    row: SettlementRow, card: CardFacts, uplines: tuple[str, ...], audit: Audit
) -> dict[str, Any]:
    """The row's event fields, every input checked (CarrierSettlement.checked_fields)."""
    row_id, iccid, period, total, status, no_arrears, no_suspension, no_complaint, used = row
    return CarrierSettlement.checked_fields(
        row_id, iccid, period, total, status, (no_arrears, no_suspension, no_complaint), used,
        card, audit, uplines=uplines,
    )  # fmt: skip


def record_row(
    row: SettlementRow, card: CardFacts, uplines: tuple[str, ...], audit: Audit
) -> CarrierSettlement:
    return CarrierSettlement.from_fields(row_fields(row, card, uplines, audit))


@dataclass
class RowDecider:
    """Decides settlement rows against one ledger state: cards read in bulk, agents' grades and
    the plans read once, so many rows cost a few queries, not a few per row."""

    ledger: "Ledger"
    audit: Audit
    cards: dict[str, Card | None] = field(default_factory=dict)
    chains: dict[str, tuple[str, ...]] = field(default_factory=dict)  # agent -> its uplines
    grades: dict[str, dict[str, str]] = field(default_factory=dict)
    plans: list | None = None  # type: ignore[type-arg]
    room_checked: bool = False
    card_facts: dict[str, CardFacts] = field(default_factory=dict)  # one per card, not per row
    # The carrier whose key sent the rows: a row on a card another carrier reports on is
    # refused (None: an operator or a key issued before settlement keys spoke for a carrier).
    carrier: str | None = None

    def load(self, iccids: list[str]) -> None:
        wanted = [i for i in dict.fromkeys(iccids) if i not in self.cards]
        self.cards.update(self.ledger.cards(wanted))

    def decide(self, row: SettlementRow) -> tuple[CarrierSettlement, int]:
        """The row's aggregate and what the plans pay agents from it; refusals raise."""
        fields, paid = self._decide(row)
        return CarrierSettlement.from_fields(fields), paid

    def check(self, row: SettlementRow) -> "CheckedRow":
        """The row decided, kept small: what its record needs and what it pays agents (no
        aggregate: the save builds it, once)."""
        fields, paid = self._decide(row)
        return CheckedRow(self.card_facts[row[1]], tuple(fields["uplines"]), paid)

    def _decide(self, row: SettlementRow) -> tuple[dict[str, Any], int]:
        """The row's checked fields and what the plans pay agents from it; refusals raise."""
        iccid = row[1]
        if iccid not in self.cards:
            self.load([iccid])
        card = self.cards[iccid]
        if card is None:
            raise CardNotFound(iccid)
        card.require_existed_at(self.audit.effective_at)
        if self.carrier is not None:
            card.require_carrier(self.carrier)
        if not self.room_checked:
            require_room_for_facts(self.ledger)
            self.room_checked = True
        self._read_chain(card.agent_code)
        if iccid not in self.card_facts:
            self.card_facts[iccid] = card.facts()
        # The card agent's uplines now, recorded with the row: its MULTI_LEVEL shares are
        # paid to them whatever the tree becomes later (as an order's chain is).
        fields = row_fields(row, self.card_facts[iccid], self.chains[card.agent_code], self.audit)
        if self.plans is None:
            self.plans = self.ledger.plan_versions()
        agent = fields["agent_code"]
        facts = replace(
            CarrierSettlement.facts_of(fields, self.grades[agent]),
            month_counts=month_counts(
                self.ledger, agent, fields["period"], self.plans, fields["effective_at"]
            ),
        )
        lines = lines_for_settlement(facts, self.plans, cap=False)
        return fields, sum(line.amount_fen for line in lines)

    def _read_chain(self, agent_code: str) -> None:
        if agent_code not in self.chains:
            chain = self.ledger.ancestry(self.ledger.agent(agent_code))[: MAX_LEVELS + 1]
            self.chains[agent_code] = tuple(agent.code for agent in chain[1:])
            self.grades[agent_code] = {a.code: a.level_code for a in chain if a.level_code}


@dataclass(frozen=True)
class RecordCarrierSettlement(Command[SettlementRecorded]):
    """One row of a carrier's settlement file: the carrier's total commission for a card and
    period. Idempotent per row id: the same row again returns the first result; the same row
    id with other data is refused. A split that would pay agents more than the carrier paid
    is refused here when the plan says so (`overflow: REFUSE`)."""

    row_id: Code
    iccid: Code
    period: Code
    total_fen: Fen
    network_status: Code
    three_no: tuple[bool, bool, bool]  # no arrears, no suspension, no complaint
    periods_used: Periods | None
    audit: Audit
    key: Key | None = None
    carrier: Code | None = field(default=None, kw_only=True)  # the sending key's carrier

    added_fields: ClassVar[frozenset[str]] = frozenset({"carrier"})
    input_names: ClassVar[dict[str, str]] = {
        "total_fen": "totalCommission",
        "three_no": "noArrears",
    }

    @property
    def idempotency_key(self) -> str | None:
        return self.key or f"carrier-settlement:{self.row_id}"

    def decide(self, ledger: "Ledger") -> Decision[SettlementRecorded]:
        if ledger.exists("carrier-settlement", self.row_id):
            raise AlreadyExists("rowId", f"settlement row '{self.row_id}' is already recorded")
        row = (
            self.row_id,
            self.iccid,
            self.period,
            self.total_fen,
            self.network_status,
            *self.three_no,
            self.periods_used,
        )
        decider = RowDecider(ledger, self.audit, carrier=self.carrier)
        recorded, agents = decider.decide(row)  # type: ignore[arg-type]
        return [recorded], SettlementRecorded(self.row_id, agents, self.total_fen - agents)


@dataclass(frozen=True)
class RecordSettlementRows(Command[SettlementRowsRecorded]):
    """Up to 500 rows of one carrier file in one write: every row is decided as
    recordCarrierSettlement decides it, and any refusal refuses them all (the import checked
    them first, so a refusal here means the ledger changed in between)."""

    file_hash: Code
    rows: tuple[SettlementRow, ...]
    audit: Audit
    key: Key | None = None
    carrier: Code | None = field(default=None, kw_only=True)  # the sending key's carrier

    added_fields: ClassVar[frozenset[str]] = frozenset({"carrier"})

    @classmethod
    def checked(
        cls,
        file_hash: str,
        rows: tuple[SettlementRow, ...],
        audit: Audit,
        checked: CheckedRows,
        carrier: str | None = None,
    ) -> "RecordSettlementRows":
        """The rows with the import's decisions, used (once) if nothing they read changed since
        the check: each row is then decided once, not twice (decision 0034). The check refused
        rows on another carrier's cards; a card report since makes the save decide again."""
        command = cls(file_hash, rows, audit, carrier=carrier)
        object.__setattr__(command, "_checked", [checked])  # not a field: not in the digest
        return command

    def decide(self, ledger: "Ledger") -> Decision[SettlementRowsRecorded]:
        ids = {CarrierSettlement.create_id(row[0]): row[0] for row in self.rows}
        if known := ledger.existing(ids):
            raise AlreadyExists("rowId", f"settlement row '{ids[min(known)]}' is already recorded")
        total = sum(row[3] for row in self.rows)
        if (checked := self._still_checked(ledger)) is not None:
            require_room_for_facts(ledger)
            recorded = [
                record_row(row, c.card, c.uplines, self.audit)
                for row, c in zip(self.rows, checked.rows, strict=True)
            ]
            agents = sum(c.agents_fen for c in checked.rows)
            return recorded, SettlementRowsRecorded(len(self.rows), agents, total - agents)  # type: ignore[return-value]
        decider = RowDecider(ledger, self.audit, carrier=self.carrier)
        decider.load([row[1] for row in self.rows])
        recorded, agents = [], 0
        for row in self.rows:
            aggregate, paid = decider.decide(row)
            recorded.append(aggregate)
            agents += paid
        return recorded, SettlementRowsRecorded(len(self.rows), agents, total - agents)  # type: ignore[return-value]

    def _still_checked(self, ledger: "Ledger") -> CheckedRows | None:
        """The check's decisions, if nothing they read was recorded since; used at most once
        (a retried save decides again, on fresh state)."""
        kept: list[CheckedRows] = getattr(self, "_checked", [])
        if not kept:
            return None
        checked = kept.pop()
        recorder = ledger.recorder
        looked = recorder.recorded_besides(checked.since.position, NOT_READ_BY_ROWS)  # type: ignore[attr-defined]
        if looked is None:
            return None
        checked.since.position = looked
        return checked


@dataclass(frozen=True)
class RecordSettlementImport(Command[SettlementImportRecorded]):
    """The record of a carrier file's import, written after its rows: by its content hash, so
    the same file again is recognised and changes nothing."""

    file_hash: Code
    file_name: Name
    profile: Code
    rows: Count
    applied: Count
    unchanged: Count
    refused: Count
    problems: tuple[ImportProblem, ...]
    audit: Audit
    key: Key | None = None

    @property
    def idempotency_key(self) -> str | None:
        return self.key or f"settlement-import:{self.file_hash}"

    def decide(self, ledger: "Ledger") -> Decision[SettlementImportRecorded]:
        if ledger.exists("settlement-import", self.file_hash):
            raise AlreadyExists("file", "this file (by its content) is already imported")
        recorded = SettlementImport.record(
            self.file_hash,
            self.file_name,
            self.profile,
            (self.rows, self.applied, self.unchanged, self.refused),
            [tuple(p) for p in self.problems[:MAX_PROBLEMS_KEPT]],  # type: ignore[misc]
            self.audit,
        )
        return [recorded], SettlementImportRecorded(self.file_hash, self.applied)


def month_counts(
    ledger: "Ledger", agent_code: str, month: str, plans: list[PlanVersion], at: datetime
) -> dict[str, int]:
    """The agent's counts of active cards in the month that the value tiers in force read, as
    the commission policy has counted them so far (what it will price the row with)."""
    metrics = active_metrics(plans, at)
    if not metrics or not ledger.exists("monthly-volume", f"{agent_code}|{month}"):
        return dict.fromkeys(metrics, 0)
    volume = ledger.repository.get(MonthlyVolume.create_id(agent_code, month))
    return {metric: volume.counts.get(metric, 0) for metric in metrics}
