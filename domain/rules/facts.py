"""The facts rules react to: a completed sale, a card's activation and recharges, a card counted
towards a monthly volume, a carrier settlement row.

Each fact also says how a line paid on it names its source (`line_source`), who must never be
paid on it (`buyer_code`) and what it adds to the line's facts (`line_facts`): the line builder
(domain/rules/line.py) asks it.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from domain.money import format_money


class Base(StrEnum):
    COST_PRICE = "COST_PRICE"
    PAID_AMOUNT = "PAID_AMOUNT"


class Metric(StrEnum):
    SALES_AMOUNT = "SALES_AMOUNT"  # the agent's own completed sales in the month, net of refunds
    PICKUP_COUNT = "PICKUP_COUNT"  # cards distributed to the agent in the month (提货量)
    ACTIVATION_COUNT = "ACTIVATION_COUNT"  # cards activated (real-name, with a package) (激活量)


@dataclass(frozen=True)
class SaleFacts:
    """What a completed order tells the rules. chain: (agent_code, cost_fen) from the platform down.

    grades: agent code -> level code as known when the sale was processed;
    month_sales_before_fen: the seller's sales in the sale's month before this sale (tiers)."""

    order_id: str
    package_code: str
    seller_code: str
    buyer_code: str | None
    flow: str
    chain: tuple[tuple[str, int], ...]
    retail_fen: int | None
    paid_fen: int
    effective_at: datetime
    grades: Mapping[str, str] = field(default_factory=dict)
    month_sales_before_fen: int = 0

    @property
    def uplines(self) -> list[str]:
        """Level 1 (direct upline) first, as recorded on the order when it was placed."""
        return [code for code, _ in reversed(self.chain[:-1])]

    def base(self, base: Base) -> int:
        return self.chain[-1][1] if base == Base.COST_PRICE else self.paid_fen

    def line_source(self) -> dict[str, str]:
        return {"source": self.order_id, "order_id": self.order_id}

    def line_facts(self, facts: dict[str, Any]) -> dict[str, Any]:
        return {**facts, "paid": format_money(self.paid_fen)}


class _OnACard:
    """A fact about one card: its lines name the card; nobody buys anything, so nobody is
    excluded as the buyer."""

    buyer_code = None
    iccid: str

    def line_source(self) -> dict[str, str]:
        return {"source": self.iccid, "iccid": self.iccid}

    def line_facts(self, facts: dict[str, Any]) -> dict[str, Any]:
        return facts


@dataclass(frozen=True)
class CardFacts(_OnACard):
    iccid: str
    package_code: str | None
    package_kind: str | None
    agent_code: str
    activated: bool
    first_recharge_fen: int | None
    total_recharge_fen: int
    effective_at: datetime
    grades: Mapping[str, str] = field(default_factory=dict)
    # The carrier's latest conditions of the card that fail (stopped, arrears, ...).
    conditions_failed: tuple[str, ...] = ()
    # The agent's counts in the fact's month, by metric key (value tiers read theirs).
    month_counts: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class CardVolumeFacts(_OnACard):
    """A card counted towards its agent's monthly pickup or activation volume."""

    iccid: str
    package_code: str | None
    agent_code: str
    metric: Metric
    count_after: int  # the agent's count in the month, this card included
    effective_at: datetime
    grades: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SettlementFacts(_OnACard):
    """One row of a carrier's settlement: the carrier's total commission for a card and period,
    with the carrier-reported network status and 三无 flags, and the card as the ledger knows it."""

    row_id: str
    iccid: str
    period: str
    total_fen: int
    agent_code: str
    package_code: str | None
    activated: bool
    first_recharge_fen: int | None
    total_recharge_fen: int
    network_status: str
    no_arrears: bool
    no_suspension: bool
    no_complaint: bool
    periods_used: int | None
    effective_at: datetime
    grades: Mapping[str, str] = field(default_factory=dict)
    # The card agent's uplines when the row was recorded, level 1 (direct upline) first.
    uplines: tuple[str, ...] = ()
    # The agent's counts in the settled period's month, by metric key (value tiers).
    month_counts: Mapping[str, int] = field(default_factory=dict)

    def carrier_conditions_failed(self) -> list[str]:
        """The carrier's own conditions the row fails: the card activated (real-name), network
        status NORMAL, 三无 (no arrears, no suspension, no complaint). Empty: the row pays."""
        failed = []
        if not self.activated:
            failed.append("card not activated (real-name)")
        if self.network_status != "NORMAL":
            failed.append(f"network status {self.network_status}, not NORMAL")
        if not (self.no_arrears and self.no_suspension and self.no_complaint):
            failed.append("not 三无 (arrears, suspension or complaint reported)")
        return failed
