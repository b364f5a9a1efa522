"""Bitemporal views (issue 4): team performance, activations as reported, platform months.

"Period P as known at K": rows are keyed by the business month of the fact's effective time and
by the log position they became known at, so any (month, position) is an index lookup.
"""

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from psycopg import Cursor

from domain.agent import Agent
from domain.book import CommissionStatus, LineEffect
from domain.card import Card
from domain.order import Order
from domain.settlement import CarrierSettlement
from domain.wallet import Wallet
from projections.rows import Cumulative, Facts, Memory, copy_rows, insert_new
from projections.views import Names, Position, View


def month_of(moment: datetime, tz: ZoneInfo) -> date:
    local = moment.astimezone(tz)
    return date(local.year, local.month, 1)


_ANCESTRY = (
    ("agent_code", "text"),
    ("ancestor_code", "text"),
    ("depth", "integer"),
    ("position", "bigint"),
    ("effective_from", "timestamptz"),
)


class TeamPerformance(View):
    """Personal and team (whole downline, as the tree was at the sale) performance per month.

    Number cards have no sale: what the carrier pays for an agent's card (a settlement row's
    total) counts as the agent's card income and its uplines' team card income, in the month
    the row took effect, beside sales (which stay sales)."""

    name = "team_performance"
    tables = ("agent_ancestry", "performance_history", "performance_orders", "performance_cards")
    event_types = (
        Agent.Registered,
        Agent.UplineBound,
        Order.Completed,
        Order.Refunded,
        Card.Assigned,
        Card.Activated,
        CarrierSettlement.Recorded,
    )

    def __init__(self, names: Names, tz: ZoneInfo) -> None:
        super().__init__(names)
        self.tz = tz
        self.history = Cumulative(
            "performance_history",
            ("agent_code", "month"),
            (
                "personal_fen",
                "personal_orders",
                "team_fen",
                "team_orders",
                "activations",
                "card_income_fen",
                "team_card_income_fen",
            ),
        )
        self.orders = Facts(
            "performance_orders",
            "order_id",
            ("agent_code", "paid_fen", "completed_month", "completed_at", "completed_position"),
        )
        self.cards = Facts("performance_cards", "iccid", ("agent_code",))
        # agent -> (ancestor, depth, known-from position, effective-from), by depth
        self.ancestry = Memory()
        self.below = Memory()  # agent -> (descendant, depth): used only when complete
        self.links: list[tuple[Any, ...]] = []  # agent_ancestry rows not written yet

    def forget(self, empty: bool) -> None:
        for memory in (self.history, self.orders, self.cards):
            memory.forget(empty)
        self.ancestry.reset(empty)
        self.below.reset(empty)

    def begin(self, cur: Cursor[Any]) -> None:
        self.cur = cur
        self.history.begin(cur)
        self.orders.begin(cur)
        self.cards.begin(cur)
        self.ancestry.trim()
        self.below.trim()
        if not self.ancestry.complete:  # below is kept from ancestry's changes when complete
            self.below.reset(False)
        self.links = []

    def _write_links(self) -> None:
        """The tree's new rows, before anything reads agent_ancestry and at the batch's end."""
        insert_new(self.cur, "agent_ancestry", _ANCESTRY, self.links)
        self.links = []

    # -- the tree ---------------------------------------------------------------------------------
    def ancestors(self, agent_code: str) -> list[tuple[str, int, int, datetime]]:
        """(ancestor, depth, known-from position, effective-from) for every ancestor."""
        if agent_code not in self.ancestry:
            if self.ancestry.complete:
                return []  # nobody above it (yet)
            self._write_links()
            self.cur.execute(
                "SELECT ancestor_code, depth, position, effective_from FROM agent_ancestry"
                " WHERE agent_code = %s ORDER BY depth",
                (agent_code,),
            )
            self.ancestry[agent_code] = list(self.cur.fetchall())
        return self.ancestry[agent_code]

    def _link(self, child: str, parent: str, at: Position, effective: datetime) -> None:
        """child (and its whole subtree) gains parent and parent's ancestors."""
        if self.below.complete:
            subtree = [(child, 0), *self.below.get(child, [])]
        else:
            self._write_links()
            self.cur.execute(
                "SELECT agent_code, depth FROM agent_ancestry WHERE ancestor_code = %s",
                (child,),
            )
            subtree = [(child, 0), *self.cur.fetchall()]
        above = [(parent, 1), *((a, d + 1) for a, d, _, _ in self.ancestors(parent))]
        # Written with ON CONFLICT DO NOTHING: a pair already linked keeps its row.
        self.links += [
            (d, a, dd + da, at.position, effective) for d, dd in subtree for a, da in above
        ]
        # Only the subtree's ancestors changed: the rows it gained, unless it had them already.
        # Forgotten instead if not remembered (read again on demand).
        for d, dd in subtree:
            if d not in self.ancestry and not self.ancestry.complete:
                continue
            known = self.ancestors(d)
            had = {a for a, _, _, _ in known}
            gained = [(a, dd + da, at.position, effective) for a, da in above if a not in had]
            self.ancestry[d] = sorted([*known, *gained], key=lambda row: row[1])
            if self.below.complete:
                for a, depth, _, _ in gained:
                    self.below.setdefault(a, []).append((d, depth))

    def _team_at(self, agent_code: str, position: int, effective: datetime) -> list[str]:
        return [
            a
            for a, _, known, since in self.ancestors(agent_code)
            if known <= position and since <= effective
        ]

    # -- events -----------------------------------------------------------------------------------
    def apply(self, event: Any, at: Position) -> None:
        if isinstance(event, Agent.Registered):
            if event.parent_code is not None:
                self._link(event.code, event.parent_code, at, event.effective_at)
        elif isinstance(event, Agent.UplineBound):
            self._link(
                self.names.code(event.originator_id), event.parent_code, at, event.effective_at
            )
        elif isinstance(event, Order.Completed):
            self._completed(event, at)
        elif isinstance(event, Order.Refunded):
            self._refunded(event, at)
        elif isinstance(event, Card.Assigned):
            self.cards.put(event.iccid, new=True, agent_code=event.agent_code)
        elif isinstance(event, Card.Activated):
            agent = self.cards.get(self.names.code(event.originator_id))["agent_code"]
            self.history.add(
                (agent, month_of(event.effective_at, self.tz)), at.position, activations=1
            )
        elif isinstance(event, CarrierSettlement.Recorded):
            self._card_income(event, at)

    def _card_income(self, row: CarrierSettlement.Recorded, at: Position) -> None:
        month, agent = month_of(row.effective_at, self.tz), row.agent_code
        self.history.add((agent, month), at.position, card_income_fen=row.total_fen)
        for upline in self._team_at(agent, at.position, row.effective_at):
            self.history.add((upline, month), at.position, team_card_income_fen=row.total_fen)

    def _completed(self, sale: Order.Completed, at: Position) -> None:
        """The sale counts for the seller and for the team the seller had then. The position
        of the completion is remembered: a refund takes back from that same team."""
        month = month_of(sale.effective_at, self.tz)
        seller, paid = sale.agent_code, sale.paid_fen
        self.orders.put(
            sale.order_id,
            new=True,
            agent_code=seller,
            paid_fen=paid,
            completed_month=month,
            completed_at=sale.effective_at,
            completed_position=at.position,
        )
        self.history.add((seller, month), at.position, personal_fen=paid, personal_orders=1)
        for upline in self._team_at(seller, at.position, sale.effective_at):
            self.history.add((upline, month), at.position, team_fen=paid, team_orders=1)

    def _refunded(self, event: Order.Refunded, at: Position) -> None:
        """A refund takes back from the sale's month, for the same team that was credited."""
        completed_position = self.orders.get(event.order_id)["completed_position"]
        fully = -1 if event.refunded_total_fen == event.paid_fen else 0
        month, seller = month_of(event.completed_at, self.tz), event.agent_code
        self.history.add(
            (seller, month), at.position, personal_fen=-event.amount_fen, personal_orders=fully
        )
        for upline in self._team_at(seller, completed_position, event.completed_at):
            self.history.add(
                (upline, month), at.position, team_fen=-event.amount_fen, team_orders=fully
            )

    def flush(self, cur: Cursor[Any]) -> None:
        self._write_links()
        self.orders.flush(cur)
        self.cards.flush(cur)
        self.history.flush(cur)


class ActivationReport(View):
    """Activations by the month they are reported in (fixed once that month has ended)."""

    name = "activations"
    tables = ("activations", "activation_cards")
    event_types = (Card.Assigned, Card.Activated)

    def __init__(self, names: Names, tz: ZoneInfo) -> None:
        super().__init__(names)
        self.tz = tz
        self.cards = Facts("activation_cards", "iccid", ("agent_code",))

    def forget(self, empty: bool) -> None:
        self.cards.forget(empty)

    def begin(self, cur: Cursor[Any]) -> None:
        self.cards.begin(cur)
        self.rows: list[tuple[Any, ...]] = []

    def apply(self, event: Any, at: Position) -> None:
        if isinstance(event, Card.Assigned):
            self.cards.put(event.iccid, new=True, agent_code=event.agent_code)
            return
        iccid = self.names.code(event.originator_id)
        effective = month_of(event.effective_at, self.tz)
        recorded = month_of(at.recorded_at, self.tz)
        reporting = max(effective, recorded)  # late data counts in the month it arrived
        self.rows.append(
            (
                iccid,
                self.cards.get(iccid)["agent_code"],
                effective,
                reporting,
                at.position,
                at.recorded_at,
            )
        )

    def flush(self, cur: Cursor[Any]) -> None:
        self.cards.flush(cur)
        copy_rows(
            cur,
            "activations",
            (
                "iccid",
                "agent_code",
                "effective_month",
                "reporting_month",
                "position",
                "recorded_at",
            ),
            self.rows,
        )


_STATUS_COLUMN = {
    CommissionStatus.FROZEN: "frozen_fen",
    CommissionStatus.UNFREEZE_REQUESTED: "unfreezing_fen",
    CommissionStatus.APPROVED: "approved_fen",
    CommissionStatus.VOIDED: "voided_fen",
    CommissionStatus.CLAWED_BACK: "clawed_back_fen",
}
_ENDED = (CommissionStatus.VOIDED, CommissionStatus.CLAWED_BACK)


class PlatformMonths(View):
    """Income, refunds and commissions by status for each business month of the facts. Each
    commission moves between the status columns as its event's line effect declares."""

    name = "platform_months"
    tables = ("platform_month_history", "platform_month_lines")
    event_types = (Order.Completed, Order.Refunded, CarrierSettlement.Recorded, Wallet.LineEvent)

    def __init__(self, names: Names, tz: ZoneInfo) -> None:
        super().__init__(names)
        self.tz = tz
        self.history = Cumulative(
            "platform_month_history",
            ("month",),
            (
                "income_fen",
                "refunded_fen",
                "price_difference_fen",
                "frozen_fen",
                "unfreezing_fen",
                "approved_fen",
                "voided_fen",
                "clawed_back_fen",
            ),
        )
        self.lines = Facts("platform_month_lines", "commission_id", ("month", "kind"))

    def forget(self, empty: bool) -> None:
        self.history.forget(empty)
        self.lines.forget(empty)

    def begin(self, cur: Cursor[Any]) -> None:
        self.history.begin(cur)
        self.lines.begin(cur)

    def apply(self, event: Any, at: Position) -> None:
        p = at.position
        if isinstance(event, Order.Completed):
            month = month_of(event.effective_at, self.tz)
            self.history.add((month,), p, income_fen=event.paid_fen)
        elif isinstance(event, CarrierSettlement.Recorded):
            # The carrier's total is income of the month the row took effect, the month its
            # agents' shares accrue in.
            month = month_of(event.effective_at, self.tz)
            self.history.add((month,), p, income_fen=event.total_fen)
        elif isinstance(event, Order.Refunded):
            month = month_of(event.completed_at, self.tz)
            self.history.add((month,), p, refunded_fen=event.amount_fen)
        else:
            self._line_moved(event, event.line_effect(), p)

    def _line_moved(self, event: Any, effect: LineEffect, p: int) -> None:
        """The moved amount leaves its status's column for the next one's. Price differences
        count while they are live: from their accrual until they end (voided, clawed back)."""
        if effect.from_status is None:
            month = month_of(event.effective_at, self.tz)
            self.lines.put(event.commission_id, new=True, month=month, kind=event.kind)
            line = {"month": month, "kind": event.kind}
        else:
            line = self.lines.get(event.commission_id)
        moved = effect.moved_fen
        moves = {_STATUS_COLUMN[effect.to_status]: moved}
        if effect.from_status is not None:
            moves[_STATUS_COLUMN[effect.from_status]] = -moved
        if line["kind"] == "PRICE_DIFFERENCE":
            if effect.from_status is None:
                moves["price_difference_fen"] = moved
            elif effect.to_status in _ENDED:
                moves["price_difference_fen"] = -moved
        self.history.add((line["month"],), p, **moves)

    def flush(self, cur: Cursor[Any]) -> None:
        self.lines.flush(cur)
        self.history.flush(cur)
