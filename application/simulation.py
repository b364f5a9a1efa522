"""Plan simulation and correction: the recorded facts replayed through a candidate plan.

Two shadow runs of the commission rules fold the log up to a position, without writing anything:
the baseline (the plans as they were recorded, corrections included) and the candidate (the
same, with the candidate version in force over its period). Both keep only what each commission
line amounts to after refunds, so their difference is exactly what the candidate changes, never
what finance decided (approvals, rejections) or paid out. A simulation reports the differences;
the commission policy applies them as adjustments when it meets a recorded correction.
"""

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

from application.collector import collector_paused
from application.facts import RELEVANT, FactProcessor
from application.ledger import Ledger
from application.log import LedgerLog
from domain.book import BookKeeper, CommissionBook, CommissionStatus, LineEffect, hold_until
from domain.common import Audit, derived_id
from domain.order import Order
from domain.performance import month_of
from domain.plan import CommissionPlan
from domain.rules import CommissionLine, Metric, PlanVersion

_BATCH = 2_000


@dataclass(slots=True)
class ShadowLine:
    line: CommissionLine
    effective_at: datetime
    amount_fen: int  # what is left of it after refunds


class ShadowWallet(BookKeeper):
    """A wallet that keeps amounts only: the same book as a Wallet's, moved by the same
    decisions, without events, balances, or the statuses finance's decisions set."""

    def __init__(self, agent_code: str) -> None:
        self.agent_code = agent_code
        self.book = CommissionBook()
        self.lines: dict[str, ShadowLine] = {}  # every line ever accrued

    def accrue(self, commission_id: str, line: CommissionLine, audit: Audit) -> bool:
        if not self.book.accepts(commission_id):
            return False
        amount = line.amount_fen
        frozen = CommissionStatus.FROZEN  # LineEffect.whole's fields, without its keywords
        releasable_at = hold_until(audit.effective_at, line.hold_days)
        accrued = LineEffect(commission_id, amount, None, frozen, frozen, amount, releasable_at)
        self.book.open(
            accrued,
            line.order_id,
            line.hold_days,
            line.facts.get("corrects"),
            iccid=line.iccid,
            rule=(line.plan_code, line.plan_version, line.rule_code),
        )
        self.lines[commission_id] = ShadowLine(line, audit.effective_at, amount)
        return True

    def request_unfreeze(self, commission_id: str, audit: Audit) -> str:
        return commission_id  # statuses are not simulated

    def reduce(self, commission_id: str, amount_fen: int, audit: Audit) -> None:
        effect = self.book.reduction(commission_id, amount_fen)
        if effect is not None:
            self.book.apply(effect)
            self.lines[commission_id].amount_fen = effect.remaining_fen


class ShadowVolume:
    """The counts of a MonthlyVolume without its events: the same numbers for the same facts,
    at a fraction of the cost (a replay counts every sale twice)."""

    def __init__(self, agent_code: str, month: str) -> None:
        self.agent_code, self.month = agent_code, month
        self.sales_fen = 0
        self.net_by_order: dict[str, int] = {}
        self.counts: dict[str, int] = {Metric.PICKUP_COUNT: 0, Metric.ACTIVATION_COUNT: 0}
        self.version = 1  # as the aggregate's: one more per fact counted

    def count_sale(self, order_id: str, amount_fen: int, effective_at: datetime) -> None:
        self.count_refund(order_id, -amount_fen, effective_at)

    def count_refund(self, order_id: str, amount_fen: int, effective_at: datetime) -> None:
        self.sales_fen -= amount_fen
        self.net_by_order[order_id] = self.net_by_order.get(order_id, 0) - amount_fen
        self.version += 1

    def count_card(self, metric: Metric, iccid: str, effective_at: datetime) -> int:
        self.counts[metric] = self.counts.get(metric, 0) + 1
        self.version += 1
        return self.counts[metric]


@dataclass
class ShadowBatch:
    """Shadow wallets and monthly volumes that live for the whole replay and are never saved."""

    wallets: dict[str, ShadowWallet] = field(default_factory=dict)
    volumes: dict[tuple[str, str], ShadowVolume] = field(default_factory=dict)

    def wallet(self, agent_code: str) -> ShadowWallet:
        wallet = self.wallets.get(agent_code)
        if wallet is None:
            wallet = self.wallets[agent_code] = ShadowWallet(agent_code)
        return wallet

    def existing_wallet(self, agent_code: str) -> ShadowWallet | None:
        return self.wallets.get(agent_code)

    def volume(self, agent_code: str, month: str) -> ShadowVolume:
        volume = self.volumes.get((agent_code, month))
        if volume is None:
            volume = self.volumes[agent_code, month] = ShadowVolume(agent_code, month)
        return volume


class PlanShadow(FactProcessor):
    """The rules over the log with extra versions in force: corrections recorded up to the end
    of the replay apply to earlier facts too, as the policy applied them when it met them."""

    def __init__(
        self, ledger: Ledger, tz: tzinfo, retroactive: list[PlanVersion], period: PlanVersion
    ) -> None:
        super().__init__(ledger, tz)
        self.retroactive = retroactive
        self.batch = ShadowBatch()
        self.period = period  # the candidate's: only its facts are compared
        self.sales = 0  # completed orders effective in the period
        self._first_month = month_of(period.effective_from, tz)
        self._last_month = (
            month_of(period.effective_to - timedelta(microseconds=1), tz)
            if period.effective_to
            else None
        )
        self._orders: set[Any] = set()  # orders replayed, so their refunds are too

    def _handle(self, event: Any, batch: Any) -> None:
        """Orders of months the period does not touch change nothing it compares (their lines
        and the volumes of their months lie outside it): they are skipped, with their refunds."""
        if isinstance(event, Order.Completed):
            if not self._touches(event.effective_at):
                return
            self._orders.add(event.originator_id)
            self.sales += self.period.covers(event.effective_at)
        elif isinstance(event, Order.Refunded) and event.originator_id not in self._orders:
            return
        super()._handle(event, batch)

    def _touches(self, at: datetime) -> bool:
        month = month_of(at, self.tz)
        return self._first_month <= month and (
            self._last_month is None or month <= self._last_month
        )

    def _known_versions(self) -> list[PlanVersion]:
        known = super()._known_versions()
        seen = {(v.code, v.version) for v in known}
        return known + [v for v in self.retroactive if (v.code, v.version) not in seen]

    def amounts(self, start: datetime, end: datetime | None) -> dict[tuple[str, str], ShadowLine]:
        """(agent, line id) -> the line with its adjustments' amounts added, for the lines of
        facts effective in [start, end). A line never accrued may still have adjustments (a
        re-rated month lifting a sale out of a 0% tier)."""
        found: dict[tuple[str, str], ShadowLine] = {}
        for code, wallet in self.batch.wallets.items():
            for cid, line in wallet.lines.items():
                key = (code, line.line.facts.get("corrects", cid))
                # Lines come in the order they were accrued: the line, then its adjustments
                # (added to a copy: the wallet's lines are not changed).
                if (first := found.get(key)) is not None:
                    first.amount_fen += line.amount_fen
                else:
                    found[key] = ShadowLine(line.line, line.effective_at, line.amount_fen)
        return {
            key: line
            for key, line in found.items()
            if start <= line.effective_at and (end is None or line.effective_at < end)
        }


@dataclass(frozen=True)
class CommissionDifference:
    commission_id: str
    agent_code: str
    line: CommissionLine  # as simulated, or as recorded when the candidate pays nothing
    effective_at: datetime
    recorded_fen: int
    simulated_fen: int
    recorded_version: int | None
    simulated_version: int | None

    @property
    def difference_fen(self) -> int:
        return self.simulated_fen - self.recorded_fen


@dataclass(frozen=True)
class AgentDifference:
    agent_code: str
    recorded_fen: int
    simulated_fen: int

    @property
    def difference_fen(self) -> int:
        return self.simulated_fen - self.recorded_fen


@dataclass(frozen=True)
class Simulation:
    candidate: PlanVersion
    position: int
    sales: int  # completed orders effective in the period
    facts: int  # facts replayed (the whole log up to position)
    commissions: list[CommissionDifference]
    agents: list[AgentDifference]
    recorded_fen: int
    simulated_fen: int
    seconds: float


def simulate(
    ledger: Ledger,
    candidate: PlanVersion,
    position: int,
    tz: tzinfo,
    progress: Callable[[int], None] | None = None,
) -> Simulation:
    """The candidate's differences against what was recorded up to `position` (inclusive).

    progress: called after each batch with the log position replayed so far (a job reports it,
    and may stop the replay by raising)."""
    started = time.perf_counter()
    retro = corrections_known(ledger, position)
    baseline = PlanShadow(ledger, tz, retro, candidate)
    shadow = PlanShadow(ledger, tz, [*retro, candidate], candidate)
    with collector_paused():
        facts = _replay([baseline, shadow], ledger, position, progress)
        before = baseline.amounts(candidate.effective_from, candidate.effective_to)
        after = shadow.amounts(candidate.effective_from, candidate.effective_to)
        differences = _differences(before, after)
    return Simulation(
        candidate=candidate,
        position=position,
        sales=shadow.sales,
        facts=facts,
        commissions=differences,
        agents=_per_agent(before, after),
        recorded_fen=sum(line.amount_fen for line in before.values()),
        simulated_fen=sum(line.amount_fen for line in after.values()),
        seconds=time.perf_counter() - started,
    )


def correction_differences(
    ledger: Ledger, candidate: PlanVersion, position: int, tz: tzinfo
) -> list[CommissionDifference]:
    """What a correction recorded at `position` changes for the facts recorded before it."""
    return simulate(ledger, candidate, position - 1, tz).commissions


def apply_differences(
    batch: Any,
    differences: Iterable[CommissionDifference],
    correction: PlanVersion,
    actor: str,
    reason: str,
) -> int:
    """Delta adjustments: a line paid too much gives back the difference (void while
    unreleased, claw back once released); a line paid too little gets an adjustment line for the
    difference, which goes through hold, release and approval like any commission. Lines finance
    voided on rejection stay voided. Returns how many adjustments were recorded."""
    applied = 0
    for difference in differences:
        wallet = batch.wallet(difference.agent_code)
        audit = Audit.derived(
            actor,
            difference.effective_at,
            f"correction by plan {correction.code} version {correction.version}: {reason}",
        )
        line_id = difference.commission_id
        found = wallet.book.correction(line_id, difference.recorded_fen, difference.simulated_fen)
        adjustment_id = derived_id(
            "commission", "correction", line_id, correction.code, correction.version
        )
        applied += wallet.correct(found, difference.line, adjustment_id, audit)
    return applied


def corrections_known(ledger: Ledger, position: int) -> list[PlanVersion]:
    """Every correction recorded up to `position`, as the plan version it defined."""
    found = []
    for event in LedgerLog(ledger).events([CommissionPlan.CorrectionDefined], position):
        plan = ledger.repository.get(event.originator_id, version=event.originator_version)
        found += [v for v in plan.plan_versions() if v.version == event.version]
    return found


def _replay(
    shadows: list[PlanShadow],
    ledger: Ledger,
    position: int,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Folds the facts of the log up to `position` through every shadow, decoding each once."""
    replayed = 0
    lead = shadows[0]
    for notifications in lead.log.pages(RELEVANT, position, size=_BATCH):
        lead._prefetch(list(notifications), notifications[-1].id)
        for shadow in shadows[1:]:
            shadow._facts, shadow._built = lead._facts, lead._built
        for event in lead.log.decode(notifications):
            for shadow in shadows:
                shadow._handle(event, shadow.batch)
        replayed += len(notifications)
        if progress is not None:
            progress(notifications[-1].id)
    return replayed


def _differences(
    before: dict[tuple[str, str], ShadowLine], after: dict[tuple[str, str], ShadowLine]
) -> list[CommissionDifference]:
    found = []
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key), after.get(key)
        recorded = old.amount_fen if old else 0
        simulated = new.amount_fen if new else 0
        if recorded == simulated:
            continue
        shown = new or old
        assert shown is not None
        found.append(
            CommissionDifference(
                commission_id=key[1],
                agent_code=key[0],
                line=shown.line,
                effective_at=shown.effective_at,
                recorded_fen=recorded,
                simulated_fen=simulated,
                recorded_version=old.line.plan_version if old else None,
                simulated_version=new.line.plan_version if new else None,
            )
        )
    return found


def _per_agent(
    before: dict[tuple[str, str], ShadowLine], after: dict[tuple[str, str], ShadowLine]
) -> list[AgentDifference]:
    totals: dict[str, list[int]] = {}
    for index, lines in enumerate((before, after)):
        for (agent, _), line in lines.items():
            totals.setdefault(agent, [0, 0])[index] += line.amount_fen
    return [
        AgentDifference(agent, recorded, simulated)
        for agent, (recorded, simulated) in sorted(totals.items())
        if recorded != simulated
    ]
