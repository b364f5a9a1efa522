"""`fenrun verify`: every read model, as of sampled past positions, against a replay of the log.

The reference here folds the events itself, independently of the views' code, the way an auditor
would: walk the tree by parent links, sum sales by month, count activations by reporting month,
follow each commission line through its events with its own reading of their statuses (not the
line effects the events declare, which the views use). It reads the log through the ledger's
port (domain.log.EventLog), which the composition root hands it.
"""

import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from domain.agent import Agent
from domain.book import CommissionStatus
from domain.card import Card
from domain.log import EventLog
from domain.order import Order
from domain.settlement import CarrierSettlement
from domain.statement import StatementBook
from domain.wallet import BUCKETS, Wallet
from projections.cards import CardReads
from projections.chain import ChainBroken, ChainVerifier
from projections.figures import PERFORMANCE, next_month, previous_month
from projections.queries import ReadModel
from projections.reports import Reports
from projections.statement_queries import StatementReads
from projections.temporal import month_of


@dataclass
class _Order:
    seller: str
    paid: int
    month: date | None = None
    at: datetime | None = None
    position: int = 0


@dataclass
class Reference:
    tz: ZoneInfo
    wallet_owner: dict[Any, str] = field(default_factory=dict)
    agent_code: dict[Any, str] = field(default_factory=dict)
    card_code: dict[Any, str] = field(default_factory=dict)
    order_code: dict[Any, str] = field(default_factory=dict)
    agents: set[str] = field(default_factory=set)
    parent: dict[str, tuple[str, int, datetime]] = field(default_factory=dict)
    balances: dict[str, list[int]] = field(default_factory=dict)
    lines: dict[str, tuple[str, int]] = field(default_factory=dict)
    orders: dict[str, _Order] = field(default_factory=dict)
    card_agent: dict[str, str] = field(default_factory=dict)
    card_state: dict[str, str] = field(default_factory=dict)  # our lifecycle, as replayed
    perf: dict[tuple[str, date], list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0] * 7)
    )
    activations: dict[tuple[str, date], list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0])
    )
    movements: dict[str, int] = field(default_factory=dict)  # money movements per agent
    statements: dict[str, tuple[str, dict[str, int]]] = field(default_factory=dict)
    # (income, refunded) by the business month of the fact (platformMonth)
    months: dict[date, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    # (agent, withdrawal id) -> [status, amount, fee, tax, net]
    withdrawals: dict[tuple[str, str], list[Any]] = field(default_factory=dict)
    income: int = 0
    refunded: int = 0
    credits: int = 0
    paid_out: int = 0

    def uplines(self, agent: str, position: int, effective: datetime) -> list[str]:
        found, current = [], agent
        while current in self.parent:
            parent, known, since = self.parent[current]
            if known > position or since > effective:
                break
            found.append(parent)
            current = parent
        return found

    def apply(self, event: Any, position: int, recorded_at: datetime) -> None:
        if isinstance(event, Agent.Registered):
            self.agent_code[event.originator_id] = event.code
            self.agents.add(event.code)
            if event.parent_code:
                self.parent[event.code] = (event.parent_code, position, event.effective_at)
        elif isinstance(event, Agent.UplineBound):
            code = self.agent_code[event.originator_id]
            self.parent[code] = (event.parent_code, position, event.effective_at)
        elif isinstance(event, Wallet.Opened):
            self.wallet_owner[event.originator_id] = event.agent_code
            self.balances[event.agent_code] = [0] * len(BUCKETS)
        elif isinstance(event, Wallet.BalanceEvent):
            self._wallet(event)
        elif isinstance(event, StatementBook.Generated):
            self.statements[event.statement_id] = ("DRAFT", dict(event.closing))
        elif isinstance(event, StatementBook.StatementEvent):
            status = {"Approved": "APPROVED", "Rejected": "REJECTED", "Voided": "VOIDED"}
            closing = self.statements[event.statement_id][1]
            self.statements[event.statement_id] = (status[type(event).__name__], closing)
        elif isinstance(event, Order.Placed):
            self.order_code[event.originator_id] = event.order_id
            self.orders[event.order_id] = _Order(event.agent_code, event.paid_fen)
        elif isinstance(event, Order.Completed):
            order = self.orders[self.order_code[event.originator_id]]
            order.month, order.at, order.position = (
                month_of(event.effective_at, self.tz),
                event.effective_at,
                position,
            )
            self.income += order.paid
            self.months[order.month][0] += order.paid
            self._sale(order, order.paid, 1, position, event.effective_at)
        elif isinstance(event, Order.Refunded):
            order = self.orders[self.order_code[event.originator_id]]
            self.refunded += event.amount_fen
            assert order.month is not None
            self.months[order.month][1] += event.amount_fen
            fully = event.refunded_total_fen == order.paid
            assert order.at is not None
            self._sale(order, -event.amount_fen, -1 if fully else 0, order.position, order.at)
        elif isinstance(event, CarrierSettlement.Recorded):
            # The carrier's total is the platform's income; the card's agent's card income
            # and its uplines' (as the tree was then) team card income.
            self.income += event.total_fen
            month = month_of(event.effective_at, self.tz)
            self.months[month][0] += event.total_fen
            self.perf[(event.agent_code, month)][5] += event.total_fen
            for upline in self.uplines(event.agent_code, position, event.effective_at):
                self.perf[(upline, month)][6] += event.total_fen
        elif isinstance(event, Card.Assigned):
            self.card_code[event.originator_id] = event.iccid
            self.card_agent[event.iccid] = event.agent_code
            self.card_state[event.iccid] = "ASSIGNED"
        elif isinstance(event, Card.CarrierStateReported):
            if event.outcome == "APPLIED":  # the others never move our state (decision 0030)
                self.card_state[self.card_code[event.originator_id]] = event.state
        elif isinstance(event, Card.Activated):
            self.card_state[self.card_code[event.originator_id]] = "ACTIVATED"
            agent = self.card_agent[self.card_code[event.originator_id]]
            effective = month_of(event.effective_at, self.tz)
            self.perf[(agent, effective)][4] += 1
            reporting = max(effective, month_of(recorded_at, self.tz))
            counts = self.activations[(agent, reporting)]
            counts[0] += 1
            counts[1] += effective < reporting

    def _sale(
        self, order: _Order, amount: int, count: int, position: int, effective: datetime
    ) -> None:
        assert order.month is not None
        own = self.perf[(order.seller, order.month)]
        own[0] += amount
        own[1] += count
        for upline in self.uplines(order.seller, position, effective):
            team = self.perf[(upline, order.month)]
            team[2] += amount
            team[3] += count

    def _wallet(self, event: Any) -> None:
        owner = self.wallet_owner[event.originator_id]
        balances = self.balances[owner]
        if any(event.deltas().values()):
            self.movements[owner] = self.movements.get(owner, 0) + 1
        for bucket, delta in event.deltas().items():
            balances[BUCKETS.index(bucket)] += delta
        if isinstance(event, Wallet.CommissionAccrued):
            self.lines[event.commission_id] = (CommissionStatus.FROZEN, event.amount_fen)
            self.credits += event.amount_fen
        elif isinstance(event, Wallet.UnfreezeRequested):
            self.lines[event.commission_id] = (
                CommissionStatus.UNFREEZE_REQUESTED,
                event.amount_fen,
            )
        elif isinstance(event, Wallet.CommissionApproved):
            self.lines[event.commission_id] = (CommissionStatus.APPROVED, event.amount_fen)
        elif isinstance(event, Wallet.UnfreezeRejected):
            self.lines[event.commission_id] = (CommissionStatus.FROZEN, event.amount_fen)
        elif isinstance(event, Wallet.CommissionVoided):
            status = (
                CommissionStatus.VOIDED
                if event.remaining_fen == 0
                else CommissionStatus(event.from_status)
            )
            self.lines[event.commission_id] = (status, event.remaining_fen)
            self.credits -= event.amount_fen
        elif isinstance(event, Wallet.CommissionClawedBack):
            status = (
                CommissionStatus.CLAWED_BACK
                if event.remaining_fen == 0
                else CommissionStatus.APPROVED
            )
            self.lines[event.commission_id] = (status, event.remaining_fen)
            self.credits -= event.amount_fen
        elif isinstance(
            event,
            Wallet.WithdrawalPaid | Wallet.WithdrawalFeeCharged | Wallet.WithdrawalTaxWithheld,
        ):
            self.paid_out += event.amount_fen
        self._withdrawal(event)

    def _withdrawal(self, event: Any) -> None:
        """Each withdrawal's status, read from the events' names, and its figures."""
        if not hasattr(event, "withdrawal_id"):
            return
        key = (self.wallet_owner[event.originator_id], event.withdrawal_id)
        if isinstance(event, Wallet.WithdrawalRequested):
            self.withdrawals[key] = ["PENDING_REVIEW", event.amount_fen, None, None, None]
        elif isinstance(event, Wallet.WithdrawalApprovalRecorded):
            self.withdrawals[key][0] = "AWAITING_SECOND_APPROVAL"
        elif isinstance(event, Wallet.WithdrawalApproved):
            figures = [event.amount_fen, event.fee_fen, event.tax_fen, event.net_fen]
            self.withdrawals[key] = ["APPROVED", *figures]
        elif isinstance(event, Wallet.WithdrawalRejected):
            self.withdrawals[key][0] = "REJECTED"
        elif isinstance(event, Wallet.WithdrawalPaid):
            self.withdrawals[key][0] = "PAID"
        elif isinstance(event, Wallet.WithdrawalFailed):
            self.withdrawals[key][0] = "FAILED"


def differences(ref: Reference, read: ReadModel, at: int) -> list[str]:
    """What the read models answer at `at` that the reference does not."""
    found: list[str] = []
    reports = Reports(read)

    def check(what: str, expected: object, actual: object) -> None:
        if expected != actual:
            found.append(f"@{at} {what}: replay {expected} != read model {actual}")

    for agent in sorted(ref.agents):
        wallet = read.wallet(agent, at)
        check(
            f"wallet {agent}",
            dict(zip(BUCKETS, ref.balances.get(agent, [0] * 6), strict=True)),
            wallet,
        )
    statements = StatementReads(read)
    for agent in sorted(ref.agents):
        count, last = statements.movement_summary(agent, at)
        check(
            f"movement ledger {agent}",
            (ref.movements.get(agent, 0), ref.balances.get(agent, [0] * 6)),
            (count, last),
        )
    for statement_id, (status, closing) in sorted(ref.statements.items()):
        row = statements.statement(statement_id, at)
        check(
            f"statement {statement_id}",
            (status, closing),
            (row["status"], row["closing"]) if row else None,
        )
    totals = read.platform_totals(at)
    check(
        "platform totals",
        (ref.income, ref.refunded, ref.credits, ref.paid_out),
        (
            totals["income_fen"],
            totals["refunded_fen"],
            totals["credits_fen"],
            totals["paid_out_fen"],
        ),
    )
    for month, (income, refunded) in sorted(ref.months.items()):
        figures = reports.platform_month(month, at)
        check(
            f"platform month {month:%Y-%m}",
            (income, refunded),
            (figures["income_fen"], figures["refunded_fen"]),
        )
    for (agent, month), values in sorted(ref.perf.items()):
        p = reports.performance(agent, month, at)
        check(
            f"performance {agent} {month:%Y-%m}",
            values,
            [
                p["personal_fen"],
                p["personal_orders"],
                p["team_fen"],
                p["team_orders"],
                p["activations"],
                p["card_income_fen"],
                p["team_card_income_fen"],
            ],
        )
    found += increment_differences(ref, reports, at)
    years = {(agent, month.year) for agent, month in ref.activations}
    for agent, year in sorted(years):
        report = {
            r["month"]: [r["count"], r["late"]] for r in reports.activation_report(agent, year, at)
        }
        for month, counts in report.items():
            check(
                f"activations {agent} {month:%Y-%m}",
                ref.activations.get((agent, month), [0, 0]),
                counts,
            )
    cards = CardReads(read)
    for iccid, state in sorted(ref.card_state.items()):
        card = cards.card(iccid, at)
        check(
            f"card {iccid}",
            (ref.card_agent[iccid], state),
            (card["agent_code"], card["state"]) if card else None,
        )
    if ref.withdrawals:
        page = read.withdrawals(at, None, None, len(ref.withdrawals) + 1, None)
        figures = ("status", "amount_fen", "fee_fen", "tax_fen", "net_fen")
        projected = {
            (r["agent_code"], r["withdrawal_id"]): [r[f] for f in figures] for r in page.rows
        }
        check("withdrawals", ref.withdrawals, projected)
    for commission_id, (status, amount) in sorted(ref.lines.items()):
        row = read.commission(commission_id, at)
        check(
            f"commission {commission_id}",
            (str(status), amount),
            (row["status"], row["amount_fen"]) if row else None,
        )
    return found


def increment_differences(ref: Reference, reports: Reports, at: int) -> list[str]:
    """The monthly increment the API shows (this month's performance minus last month's),
    against the same subtraction over the replay; for every month with sales and the month
    after it, whose increment is minus that month's."""
    found: list[str] = []
    months = {(agent, m) for agent, month in ref.perf for m in (month, next_month(month))}
    for agent, month in sorted(months):
        now = ref.perf.get((agent, month), [0] * 7)
        before = ref.perf.get((agent, previous_month(month)), [0] * 7)
        expected = [n - b for n, b in zip(now[:4], before[:4], strict=True)]
        change = reports.performance_increment(agent, month, at)
        actual = [change[name] for name in PERFORMANCE]
        if expected != actual:
            found.append(
                f"@{at} increment {agent} {month:%Y-%m}: replay {expected} != read model {actual}"
            )
    return found


def verify(
    read: ReadModel,
    log: EventLog,
    tz: ZoneInfo,
    samples: int,
    seed: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[str]:
    """Compares the read models at `samples` random positions (and the latest) with replay.

    First the log against its hash chain: replaying edited history would prove nothing.
    """
    chain = ChainVerifier(read.pool).verify()
    if chain.first_break is not None:
        return [f"event log: {ChainBroken(chain.first_break)}"]
    head = read.caught_up()
    if head == 0:
        return []
    rng = random.Random(seed)
    positions = sorted({*rng.sample(range(1, head + 1), min(samples, head)), head})
    ref = Reference(tz)
    found: list[str] = []
    events = log.logged(head)
    pending = next(events, None)
    for done, position in enumerate(positions, 1):
        while pending is not None and pending.position <= position:
            ref.apply(pending.event, pending.position, pending.recorded_at)
            pending = next(events, None)
        found += differences(ref, read, position)
        if progress:
            progress(done, len(positions))
    return found
