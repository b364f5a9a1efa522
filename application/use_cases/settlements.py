"""Number-card settlements: a carrier's settlement file, one row at a time."""

from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from application.commands import Command, Decision
from application.results import SettlementRecorded
from application.use_cases.limits import require_room_for_facts
from domain.common import Audit
from domain.errors import AlreadyExists
from domain.performance import MonthlyVolume
from domain.rules import MAX_LEVELS, PlanVersion, active_metrics, lines_for_settlement
from domain.settlement import CarrierSettlement
from domain.values import Code, Fen, Key, Periods

if TYPE_CHECKING:
    from application.ledger import Ledger


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
        card = ledger.card(self.iccid)
        card.require_existed_at(self.audit.effective_at)
        require_room_for_facts(ledger)
        # The card agent's uplines now, recorded with the row: its MULTI_LEVEL shares are paid
        # to them whatever the tree becomes later (as an order's chain is).
        chain = ledger.ancestry(ledger.agent(card.agent_code))[: MAX_LEVELS + 1]
        row = CarrierSettlement.record(
            self.row_id,
            self.iccid,
            self.period,
            self.total_fen,
            self.network_status,
            self.three_no,
            self.periods_used,
            card.facts(),
            self.audit,
            uplines=tuple(agent.code for agent in chain[1:]),
        )
        grades = {agent.code: agent.level_code for agent in chain if agent.level_code}
        plans = ledger.plan_versions()
        facts = replace(
            row.facts(grades),
            month_counts=month_counts(ledger, row.agent_code, row.period, plans, row.effective_at),
        )
        lines = lines_for_settlement(facts, plans, cap=False)
        agents = sum(line.amount_fen for line in lines)
        return [row], SettlementRecorded(self.row_id, agents, self.total_fen - agents)


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
