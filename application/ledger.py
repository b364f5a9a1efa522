"""The Ledger: one eventsourcing Application that executes commands (load, decide, save).

Every command is a frozen dataclass (application/use_cases/) carrying an Audit (actor, effective
time, reason) and an optional idempotency key. `execute` is the one path they all take.
Refusals are LedgerError subclasses raised before anything is saved, so a refused command
changes nothing.
"""

import copy
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any, Generic, Protocol, TypeVar
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, Mapper, Tracking, Transcoder

from application import use_cases as uc
from application.clock import Clock, SystemClock
from application.commands import Command, use_case
from application.kept_changes import KeptChanges
from application.kept_reads import KeptReads
from application.legacy_digests import legacy_digest
from application.log import LedgerMapper, SnapshotRecorder
from application.outbox import PendingCommand
from application.repository_reads import RepositoryReads
from application.results import Result, from_record, to_record
from application.transcoder import OrjsonTranscoder
from application.use_cases import identity, statements
from application.use_cases.carrier_answers import RecordCarrierAnswer
from application.use_cases.limits import LifetimeReading
from application.use_cases.statements import StatementSource
from domain.agent import Agent, lineage
from domain.approvals import ApprovalPolicy
from domain.card import Card
from domain.common import aggregate_id, require_code
from domain.errors import (
    AgentNotFound,
    CardNotFound,
    ConflictRetriesExhausted,
    InvalidInput,
    LedgerError,
    OrderNotFound,
    PackageNotFound,
    PlanNotFound,
)
from domain.idempotency import CURRENT_SCHEME, IdempotencyKey
from domain.identity import ApiKey, User
from domain.levels import LADDER_CODE, LevelLadder
from domain.order import Order
from domain.outbox import command_id
from domain.package import Package
from domain.performance import MonthlyVolume
from domain.plan import CommissionPlan, PlanCatalog, refuse_overlap
from domain.pricing import PriceChain, PriceLimit
from domain.rules import PlanVersion
from domain.wallet import Wallet

T = TypeVar("T", bound=Aggregate)
R = TypeVar("R", bound=Result)
CONFLICT_ATTEMPTS = 6  # decisions of one command on fresh state before CONFLICT_RETRY
# Keys the server generates for commands that came without one: recognisable in the audit trail,
# and a namespace clients may not use.
RESERVED_KEY_PREFIX = "fenrun:"
GENERATED_KEY_PREFIX = "fenrun:generated:"
BUSINESS_TZ = ZoneInfo("Asia/Shanghai")  # the default business calendar (settings override it)
CLOCK_TOLERANCE = timedelta(minutes=5)  # how far past the clock an effective time may be
SNAPSHOT_ITEMS_PER_EVENT = 2  # the most a snapshot's state items cost each event (_stretched)


@dataclass(frozen=True)
class Committed(Generic[R]):
    """A command's result and the log position of its write. `replayed`: answered from the
    record of an earlier write under the same key (the position is that write's)."""

    result: R
    position: int
    key: str
    replayed: bool = False


def _back_off(attempt: int) -> None:
    """A short random pause before deciding again, so that writers contending for one aggregate
    spread out instead of colliding again at once."""
    time.sleep(random.uniform(0, 0.002 * 2**attempt))


class Directory(Protocol):
    """What the ledger asks of the read side to find work (implemented by projections)."""

    def agents_with_due_commissions(self, now: datetime) -> list[str]: ...

    def agent_of_unfreeze_request(self, request_id: str) -> str | None: ...

    def lifetime_totals(self) -> tuple[int, int]:
        """The platform's lifetime income and commissions credited, as the views have them."""
        ...


class UsageReader(Protocol):
    """Card usage by month, as the usage store aggregates it (application/usage.py)."""

    def card_month_bytes(self, iccid: str, month: date) -> int: ...

    def cards_month_bytes(self, iccids: Sequence[str], month: date) -> dict[str, int]: ...

    def month_of(self, moment: datetime) -> date: ...


class Ledger(Application, RepositoryReads):
    name = "Ledger"
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "CREATE_TABLE": "n",
        "PROCESS_RECORDER_TOPIC": "application.log:LedgerRecorder",
    }
    # A wallet accumulates every commission transition of its agent: load it from a snapshot.
    snapshotting_intervals = {Wallet: 500, MonthlyVolume: 500}

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        price_factor: int = 2,
        directory: Directory | None = None,
        business_tz: tzinfo = BUSINESS_TZ,
        clock: Clock | None = None,
        clock_tolerance: timedelta = CLOCK_TOLERANCE,
        approvals: ApprovalPolicy | None = None,
        statement_source: "StatementSource | None" = None,
    ) -> None:
        super().__init__(env)
        self.price_factor = price_factor
        self.approvals = approvals or ApprovalPolicy()  # maker-checker (domain/approvals.py)
        self.directory = directory
        self.business_tz = business_tz  # months of RERATE_MONTH corrections
        self.clock = clock or SystemClock()  # effective times are checked against it
        self.clock_tolerance = clock_tolerance
        self.statement_source = statement_source  # the movement ledger statements come from
        self.usage: UsageReader | None = None  # card usage by month (set by the composition root)
        self.kept = KeptReads(self)  # agents and packages for reading, checked by version
        self.kept_changes = KeptChanges((Order,))  # for the next command changing them
        self.lifetime_reading = LifetimeReading()  # the platform's totals, read once a second
        self._group = threading.local()  # a group commit's changed aggregates, per thread

    # -- the use cases: ledger.place_order(...) builds the command and executes it ----------------
    register_agent = use_case(uc.RegisterAgent)
    bind_upline = use_case(uc.BindUpline)
    define_package = use_case(uc.DefinePackage)
    set_cost_price = use_case(uc.SetCostPrice)
    set_retail_price = use_case(uc.SetRetailPrice)
    define_commission_plan = use_case(uc.DefineCommissionPlan)
    correct_commission_plan = use_case(uc.CorrectCommissionPlan)
    place_order = use_case(uc.PlaceOrder)
    complete_order = use_case(uc.CompleteOrder)
    refund_order = use_case(uc.RefundOrder)
    top_up_deposit = use_case(uc.TopUpDeposit)
    request_withdrawal = use_case(uc.RequestWithdrawal)
    settle_withdrawal = use_case(uc.SettleWithdrawal)
    record_payout_submission = use_case(uc.RecordPayoutSubmission)
    record_payout_outcome = use_case(uc.RecordPayoutOutcome)
    resubmit_payout = use_case(uc.ResubmitPayout)
    cancel_payout = use_case(uc.CancelPayout)
    pay_approved_withdrawals = use_case(uc.PayApprovedWithdrawals)
    approve_withdrawals = use_case(uc.ApproveWithdrawals)
    reject_withdrawals = use_case(uc.RejectWithdrawals)
    set_withdrawal_limits = use_case(uc.SetWithdrawalLimits)
    move_commission_to_deposit = use_case(uc.MoveCommissionToDeposit)
    request_account_freeze = use_case(uc.RequestAccountFreeze)
    set_payee_entity_type = use_case(uc.SetPayeeEntityType)
    change_real_name_verification = use_case(uc.ChangeRealNameVerification)
    set_payee_personal_data = use_case(uc.SetPayeePersonalData)
    add_payout_account = use_case(uc.AddPayoutAccount)
    remove_payout_account = use_case(uc.RemovePayoutAccount)
    decide_account_freeze = use_case(uc.DecideAccountFreeze)
    assign_card = use_case(uc.AssignCard)
    activate_card = use_case(uc.ActivateCard)
    record_recharge = use_case(uc.RecordRecharge)
    report_card_conditions = use_case(uc.ReportCardConditions)
    release_due_commissions = use_case(uc.ReleaseDueCommissions)
    approve_unfreeze_requests = use_case(uc.ApproveUnfreezeRequests)
    reject_unfreeze_requests = use_case(uc.RejectUnfreezeRequests)
    define_agent_levels = use_case(uc.DefineAgentLevels)
    set_agent_level = use_case(uc.SetAgentLevel)
    record_carrier_settlement = use_case(uc.RecordCarrierSettlement)
    generate_statements = use_case(statements.GenerateStatements)
    decide_statement = use_case(statements.DecideStatement)
    propose_adjustment = use_case(statements.ProposeAdjustment)
    decide_adjustment = use_case(statements.DecideAdjustment)
    record_settlement_rows = use_case(uc.RecordSettlementRows)
    record_settlement_import = use_case(uc.RecordSettlementImport)
    record_carrier_answer = use_case(RecordCarrierAnswer)
    cancel_order = use_case(uc.CancelOrder)
    record_carrier_card_state = use_case(uc.RecordCarrierCardState)
    record_card_conditions = use_case(uc.RecordCardConditions)
    set_package_quota = use_case(uc.SetPackageQuota)
    create_enterprise = use_case(uc.CreateEnterprise)
    assign_enterprise_cards = use_case(uc.AssignEnterpriseCards)
    top_up_enterprise_pool = use_case(uc.TopUpEnterprisePool)
    decide_card_quota = use_case(uc.DecideCardQuota)
    decide_enterprise_quota = use_case(uc.DecideEnterpriseQuota)
    record_reconciliation = use_case(uc.RecordReconciliation)
    decide_reconciliation_item = use_case(uc.DecideReconciliationItem)
    add_user = use_case(identity.AddUser)
    set_user_roles = use_case(identity.SetUserRoles)
    disable_user = use_case(identity.DisableUser)
    enable_user = use_case(identity.EnableUser)
    issue_api_key = use_case(identity.IssueApiKey)
    revoke_api_key = use_case(identity.RevokeApiKey)

    # -- wiring ----------------------------------------------------------------------------------
    def construct_transcoder(self) -> Transcoder:
        return OrjsonTranscoder()

    def construct_mapper(self) -> Mapper:
        return LedgerMapper(self.construct_transcoder())

    def construct_snapshot_store(self) -> Any:
        recorder = SnapshotRecorder(
            self.factory.datastore,  # type: ignore[attr-defined]
            events_table_name=f"{self.name.lower()}_snapshots",
        )
        return self.factory.event_store(mapper=self.mapper, recorder=recorder)

    def construct_recorder(self) -> Any:
        # A process recorder, so the commission policy can save events and its tracking
        # position in one transaction (exactly-once); the mapper reads first events through it.
        recorder = self.factory.process_recorder()  # type: ignore[attr-defined]
        self.mapper.recorder = recorder  # type: ignore[attr-defined]
        return recorder

    def _take_snapshots(self, processing_event: ProcessingEvent) -> None:  # type: ignore[type-arg]
        """Snapshots from the aggregates in hand, when a save crosses an interval boundary.

        The library's version re-reads the aggregate from the store to snapshot it; ours already
        holds it in memory, so reloading a busy wallet inside the policy's loop is avoidable.
        The interval stretches with the state (_stretched), so snapshots cost each event the
        same however long the history.
        """
        if self.snapshots is None:
            return
        first: dict[Any, int] = {}
        for event in processing_event.events:
            first.setdefault(event.originator_id, event.originator_version)
        for originator_id, aggregate in processing_event.aggregates.items():
            interval = self.snapshotting_intervals.get(type(aggregate))
            if not interval or originator_id not in first:
                continue
            interval = _stretched(interval, aggregate)
            if (first[originator_id] - 1) // interval < aggregate.version // interval:
                self.snapshots.put([type(aggregate).Snapshot.take(aggregate)])

    def _record(self, processing_event: ProcessingEvent) -> Any:  # type: ignore[type-arg]
        """Every save, a request's or a policy's: the commands its events decided go to the
        outbox in the same transaction as the events (decision 0026)."""
        commands = [
            PendingCommand(i, command_id(c.kind, e.originator_id, e.originator_version), **vars(c))
            for i, e in enumerate(processing_event.events)
            if (enqueue := getattr(e, "outbox_command", None)) and (c := enqueue())
        ]
        if commands:
            processing_event.saved_kwargs["outbox"] = commands
        return super()._record(processing_event)

    def save_tracked(self, tracking: Tracking, *aggregates: Aggregate) -> None:
        processing = ProcessingEvent(tracking=tracking)
        processing.collect_events(*aggregates)
        self._record(processing)
        self._take_snapshots(processing)

    # -- idempotent execution ---------------------------------------------------------------------
    def execute(self, command: Command[R]) -> R:
        """Decides the command and saves what it changed with its idempotency key."""
        return self.commit(command).result

    def commit(self, command: Command[R]) -> Committed[R]:
        """Decides the command and saves what it changed, with its idempotency key: the client's,
        or one generated here, so that every write can be recognised (decision 0019).

        The same key with the same request returns the first result and position; with another
        request it is refused. When a save fails on a key, the key's record decides: ours (the
        library retried an insert whose commit had succeeded, or a concurrent duplicate won)
        answers from it; none means someone changed the aggregates since we loaded them, and
        the command is decided again on fresh state, checks included, a few times at most.
        """
        given = command.idempotency_key
        if given is not None and given.startswith(RESERVED_KEY_PREFIX):
            raise InvalidInput(
                "idempotencyKey", f"keys starting with '{RESERVED_KEY_PREFIX}' are the server's"
            )
        key = given or f"{GENERATED_KEY_PREFIX}{uuid4()}"
        return self.commit_under(key, command, look_up=given is not None)

    def commit_under(self, key: str, command: Command[R], *, look_up: bool = True) -> Committed[R]:
        """commit() under this key (checked already); look_up: answer from the key's record if
        there is one (a generated key cannot have one yet, unless a group's save that seemed
        to fail had committed: application/group_commit.py)."""
        first = look_up and command.look_up_key_first
        if first and (answered := self._answered(key, command)) is not None:
            return answered
        for attempt in range(CONFLICT_ATTEMPTS):
            # The first decision reads kept copies unchecked; the save checks their versions.
            with self.kept.unchecked(attempt == 0) as expected:
                try:
                    changed, result = self.decide(command)
                except LedgerError:
                    if expected:  # refused on kept copies: it stands if refused checked
                        continue
                    if look_up and not first and (answered := self._answered(key, command)):
                        return answered
                    raise
            used = IdempotencyKey.use(key, command.digest(), to_record(result))
            try:
                recordings = self.save(*changed, used, expected=expected)
            except IntegrityError:
                self.kept_changes.forget(a.id for a in changed)
                self.kept.forget(expected or ())
                if (answered := self._answered(key, command)) is not None:
                    return answered
                _back_off(attempt)
                continue
            self.kept_changes.keep(changed)
            return Committed(result, max(r.notification.id for r in recordings), key)
        raise ConflictRetriesExhausted(CONFLICT_ATTEMPTS)

    def decide(self, command: Command[R]) -> tuple[Sequence[Aggregate], R]:
        """The command decided on the current state, its time checked first."""
        command.check_time(self.clock.now(), self.clock_tolerance)
        return command.decide(self)

    def _answered(self, key: str, command: Command[R]) -> Committed[R] | None:
        """The recorded answer under this key, if a command was recorded under it."""
        previous = self._find(IdempotencyKey, aggregate_id("idempotency", key))
        if previous is None:
            return None
        result = self._first_result(previous, command)
        position = self.recorder.position_of(previous.id)  # type: ignore[attr-defined]
        return Committed(result, position, key, replayed=True)

    @staticmethod
    def _first_result(previous: IdempotencyKey, command: Command[R]) -> R:
        """The recorded result, if the retry is the same request by the key's digest scheme."""
        scheme = previous.scheme
        digest = command.digest() if scheme == CURRENT_SCHEME else legacy_digest(command)
        return from_record(previous.replay_result(digest))  # type: ignore[return-value]

    def key_used(self, key: str | None) -> bool:
        """Whether a command was already recorded under this idempotency key."""
        return key is not None and self.exists("idempotency", key)

    # -- loading ---------------------------------------------------------------------------------
    def _find(self, cls: type[T], aggregate: UUID, *, to_change: bool = False) -> T | None:
        # Deciding a group of commands (application/group_commit.py), this thread sees what the
        # group's earlier commands changed; a copy, so that a refused command leaves it as it was.
        group = getattr(self._group, "changed", None)
        if group is not None and aggregate in group:
            found = copy.deepcopy(group[aggregate])
            assert isinstance(found, cls)
            self._group.copies.add(id(found))
            return found
        if to_change and isinstance(kept := self.kept_changes.take(aggregate), cls):
            return kept  # its save checks it is still current (application/kept_changes.py)
        if cls not in self.snapshotting_intervals:
            found = self._from_events(aggregate)
            assert found is None or isinstance(found, cls)
            return found
        try:
            found = self.repository.get(aggregate)
        except AggregateNotFoundError:
            return None
        assert isinstance(found, cls)
        return found

    def _get(
        self,
        cls: type[T],
        kind: str,
        code: str,
        missing: Callable[[str], LedgerError],
        to_change: bool = False,
    ) -> T:
        found = self._find(cls, aggregate_id(kind, code), to_change=to_change)
        if found is None:
            raise missing(code)
        return found

    def _from_events(self, aggregate: UUID) -> Any | None:
        """An aggregate that is never snapshotted, from its events in one query (the
        repository would look for a snapshot first: a second round trip for nothing)."""
        found = None
        for event in self.events.get(aggregate):
            found = event.mutate(found)
        return found

    def agent(self, code: str, field: str = "agentCode") -> Agent:
        return self._get(Agent, "agent", code, lambda c: AgentNotFound(c, field))

    def package(self, code: str) -> Package:
        return self._get(Package, "package", code, PackageNotFound)

    def order(self, order_id: str, *, to_change: bool = False) -> Order:
        """The order; `to_change`: for a command that saves it whatever it decides, which may
        get the copy its last save kept (application/kept_changes.py)."""
        return self._get(Order, "order", order_id, OrderNotFound, to_change)

    def card(self, iccid: str) -> Card:
        return self._get(Card, "card", iccid, CardNotFound)

    def existing(self, originator_ids: Iterable[UUID]) -> set[UUID]:
        """Which of these aggregates exist (one query)."""
        return self.recorder.select_existing(originator_ids)  # type: ignore[attr-defined,no-any-return]

    def wallet(self, agent_code: str) -> Wallet:
        found = self._find(Wallet, aggregate_id("wallet", agent_code))
        if found is None:
            self.agent(agent_code)  # only agents have wallets
            return Wallet.open(agent_code)
        return found

    def user(self, code: str) -> User | None:
        return self._find(User, aggregate_id("user", code))

    def api_key(self, key_id: str) -> ApiKey | None:
        return self._find(ApiKey, aggregate_id("api-key", key_id))

    def plan(self, code: str) -> CommissionPlan | None:
        return self._find(CommissionPlan, aggregate_id("plan", code))

    def defined_plan(self, code: str) -> CommissionPlan:
        """A plan that has versions: what a correction or a simulation works on (a plan is
        started by defining it, never by correcting it)."""
        return self._get(CommissionPlan, "plan", code, PlanNotFound)

    def plan_catalog(self) -> PlanCatalog | None:
        return self._find(PlanCatalog, PlanCatalog.create_id())

    def plan_versions(self) -> list[Any]:
        """Every plan's versions, from the event store (never from read models, which may lag)."""
        catalog = self.plan_catalog()
        codes = catalog.codes if catalog else []
        return [v for code in codes if (p := self.plan(code)) for v in p.plan_versions()]

    def ladder(self) -> LevelLadder | None:
        return self._find(LevelLadder, LevelLadder.create_id(LADDER_CODE))

    def exists(self, kind: str, code: str) -> bool:
        return bool(self.recorder.select_events(aggregate_id(kind, code), limit=1))

    def version_of(self, kind: str, code: str) -> int | None:
        """The version of an aggregate's latest event (None: no such aggregate): one indexed
        read of the log, for callers that keep the aggregate and reload it only when it moved."""
        last = self.recorder.select_events(aggregate_id(kind, code), desc=True, limit=1)
        return last[0].originator_version if last else None

    def ancestry(self, agent: Agent) -> list[Agent]:
        """The agent and its uplines, from the agent up to the platform's direct agent."""
        return lineage(agent, lambda code: self.agent(code, "parentCode"))

    def price_chain(
        self, seller: Agent, package_code: str, ancestry: list[Agent] | None = None
    ) -> PriceChain:
        """The cost prices of the seller's lineage for a package, from the top down (the
        seller's ancestry, when the caller has read it already)."""
        top_down = reversed(ancestry or self.ancestry(seller))
        return PriceChain.of(
            ((a.code, a.cost_price(package_code)) for a in top_down), PriceLimit(self.price_factor)
        )

    def correction_candidate(
        self, code: str, rules: object, start: datetime, end: datetime | None
    ) -> PlanVersion:
        """The version a correction of plan `code` over [start, end) would define, checked as
        a correction would be (rules, period, no overlap with other plans)."""
        require_code(code, "code")
        candidate = self.defined_plan(code).correction_candidate(
            rules, start, end, self.business_tz
        )
        refuse_overlap(candidate, self.plan_versions())
        return candidate


def _stretched(interval: int, aggregate: Any) -> int:
    """The snapshot interval for an aggregate whose state holds `snapshot_weight()` items (a
    wallet's open lines): doubled until it is at least half of them. A snapshot then costs each
    event at most about two items whatever the history, and a load replays at most about half as
    many events as the snapshot holds items (decision 0037). Doubling keeps the
    boundaries of the smaller intervals, so every snapshot still falls on one of them."""
    weight = aggregate.snapshot_weight() if hasattr(aggregate, "snapshot_weight") else 0
    while interval * SNAPSHOT_ITEMS_PER_EVENT < weight:
        interval *= 2
    return interval
