"""Reconciliation runs (decision 0032): `reconciliations(kind, first, after)` and
`reconciliation(id) { items }` read the runs from the log as of asOf; `runReconciliation` runs
one (a dry run answers without recording); finance resolves items or writes them off (two
people)."""

import hashlib
from enum import Enum
from typing import Any

import strawberry
from starlette.concurrency import run_in_threadpool

from api.graphql.mutations.base import Outcome as Done
from api.graphql.mutations.base import audit_of, fen, mutate, user_error
from api.graphql.reports import AsOf
from api.graphql.scalars import DateTime, Money
from api.graphql.types import UserError
from application.reconciliation import Reconciler, RecordedRun, RunReport, find_run, recorded_runs
from application.results import ReconciliationItemDecided
from application.use_cases.reconciliation import DecideReconciliationItem
from domain.errors import InvalidInput, LedgerError
from domain.reconciliation import Item as DomainItem
from domain.reconciliation import ItemStatus
from projections.reconciliation_reads import VIEWS, ReconciliationReads

MAX_INLINE_FILE = 5 * 2**20
MAX_PAGE = 100


@strawberry.enum
class ReconciliationKind(Enum):
    THREE_WAY = "THREE_WAY"
    CHANNEL_STATEMENT = "CHANNEL_STATEMENT"
    CARRIER_RECEIPT = "CARRIER_RECEIPT"


def _money(fen_: int | None) -> Money | None:
    return None if fen_ is None else fen_


@strawberry.type(description="A difference between the two sides, with both sides' values.")
class ReconciliationItem:
    id: str
    rule: str = strawberry.field(description="Which comparison (e.g. channel, paid, approved).")
    key: str = strawberry.field(description="What it is (out-request id, agent, period).")
    difference: str = strawberry.field(
        description="MISSING_THEIRS, MISSING_OURS, AMOUNT_DIFFERS or STATUS_DIFFERS."
    )
    ours: Money | None
    theirs: Money | None
    our_status: str | None
    their_status: str | None
    our_sources: list[str]
    their_sources: list[str]
    status: str = strawberry.field(
        description="OPEN, RESOLVED, WRITE_OFF_PROPOSED or WRITTEN_OFF (as of the read)."
    )

    @classmethod
    def of(cls, item: DomainItem, status: str) -> "ReconciliationItem":
        return cls(id=item.id, rule=item.rule, key=item.key, difference=item.difference.value,
                   ours=_money(item.ours_fen), theirs=_money(item.theirs_fen),
                   our_status=item.ours_status, their_status=item.theirs_status,
                   our_sources=list(item.ours_refs), their_sources=list(item.theirs_refs),
                   status=status)  # fmt: skip


@strawberry.type(description="A decision on an item: resolved, write-off proposed or approved.")
class ReconciliationDecision:
    item_id: str
    status: str
    actor: str
    reason: str
    amount: Money
    effective_at: DateTime
    position: str


@strawberry.type(description="One reconciliation run and its differences.")
class Reconciliation:
    id: str
    kind: str
    subject: str = strawberry.field(description="The cycle, the period or the file compared.")
    sources: list[str]
    through_position: str = strawberry.field(description="The log position it compared at.")
    recorded_position: str | None = strawberry.field(description="None for a dry run.")
    recorded_by: str | None
    effective_at: DateTime | None
    dry_run: bool
    matched: int
    ours_total: Money
    theirs_total: Money
    missing_theirs: int
    missing_ours: int
    differing: int
    all_items: strawberry.Private[list[ReconciliationItem]]
    decisions: list[ReconciliationDecision]

    @strawberry.field(
        description="The differences in the run's order, a page at a time (a run keeps up to"
        " 5,000): `first` (1-100) after the item id `after`."
    )
    def items(self, first: int = 20, after: str | None = None) -> list[ReconciliationItem]:
        if not 1 <= first <= MAX_PAGE:
            raise ValueError(f"first must be between 1 and {MAX_PAGE}")
        start = 0
        if after is not None:
            ids = [i.id for i in self.all_items]
            start = ids.index(after) + 1 if after in ids else len(ids)
        return self.all_items[start : start + first]

    @classmethod
    def build(cls, run: dict[str, Any], items: list[DomainItem], statuses: dict[str, str],
              **more: Any) -> "Reconciliation":  # fmt: skip
        count = lambda *d: sum(1 for i in items if i.difference.value in d)  # noqa: E731
        return cls(
            id=run["run_id"], kind=run["kind"], subject=run["subject"],
            sources=list(run["sources"]), through_position=str(run["through"]),
            matched=run["matched"], ours_total=run["ours_fen"],
            theirs_total=run["theirs_fen"],
            missing_theirs=count("MISSING_THEIRS"), missing_ours=count("MISSING_OURS"),
            differing=count("AMOUNT_DIFFERS", "STATUS_DIFFERS"),
            all_items=[ReconciliationItem.of(i, statuses.get(i.id, ItemStatus.OPEN.value))
                       for i in items],
            **more,
        )  # fmt: skip

    @classmethod
    def of_recorded(cls, r: RecordedRun) -> "Reconciliation":
        items = [DomainItem.of(i) for i in r.run["items"]]
        decisions = [
            ReconciliationDecision(item_id=d["item_id"], status=d["status"], actor=d["actor"],
                                   reason=d["reason"], amount=d["amount_fen"],
                                   effective_at=d["effective_at"], position=str(d["position"]))
            for d in r.decisions
        ]  # fmt: skip
        return cls.build(r.run, items, r.statuses, recorded_position=str(r.position),
                         recorded_by=r.run["actor"], effective_at=r.run["effective_at"],
                         dry_run=False, decisions=decisions)  # fmt: skip

    @classmethod
    def of_report(cls, r: RunReport) -> "Reconciliation":
        o = r.outcome
        run = {"run_id": r.run_id, "kind": r.kind, "subject": r.subject, "sources": r.sources,
               "through": r.through, "matched": o.matched, "ours_fen": o.ours_fen,
               "theirs_fen": o.theirs_fen}  # fmt: skip
        position = None if r.recorded_position is None else str(r.recorded_position)
        return cls.build(run, list(o.items), {}, recorded_position=position, recorded_by=None,
                         effective_at=None, dry_run=r.dry_run, decisions=[])  # fmt: skip


@strawberry.type
class ReconciliationConnection:
    nodes: list[Reconciliation]
    end_cursor: str | None
    has_next_page: bool


@strawberry.type
class ReconciliationQueries:
    @strawberry.field(description="Reconciliation runs, newest first, as of asOf.")
    async def reconciliations(
        self, info: strawberry.Info, kind: ReconciliationKind | None = None, first: int = 10,
        after: str | None = None, as_of: AsOf = None,
    ) -> ReconciliationConnection:  # fmt: skip
        if not 1 <= first <= 100:
            raise ValueError(f"first must be between 1 and {MAX_PAGE}")
        pinned = await info.context.pin(as_of, None, info)
        before = int(after) if after is not None else None
        runs = await run_in_threadpool(
            recorded_runs, info.context.app.ledger, pinned.position, kind and kind.value,
            first + 1, before,
        )  # fmt: skip
        page = runs[:first]
        return ReconciliationConnection(
            nodes=[Reconciliation.of_recorded(r) for r in page],
            end_cursor=str(page[-1].position) if page else None,
            has_next_page=len(runs) > first,
        )

    @strawberry.field(description="One run with its items, as of asOf.")
    async def reconciliation(
        self, info: strawberry.Info, id: str, as_of: AsOf = None
    ) -> Reconciliation | None:
        pinned = await info.context.pin(as_of, None, info)
        found = await run_in_threadpool(find_run, info.context.app.ledger, id, pinned.position)
        return None if found is None else Reconciliation.of_recorded(found)


@strawberry.input
class RunReconciliationInput:
    kind: ReconciliationKind
    cycle: str | None = strawberry.field(
        default=None, description="THREE_WAY (required) or CHANNEL_STATEMENT (optional)."
    )
    period: str | None = strawberry.field(default=None, description="CARRIER_RECEIPT: 2026-11.")
    amount: Money | None = strawberry.field(
        default=None, description="CARRIER_RECEIPT: what the carrier's bank receipt says."
    )
    file_name: str | None = strawberry.field(
        default=None, description="CHANNEL_STATEMENT: the file's name (.csv, .xlsx)."
    )
    file_base64: str | None = strawberry.field(
        default=None,
        description="CHANNEL_STATEMENT: the file (up to 5 MB; larger: POST /v1/reconciliations).",
    )
    tolerance: Money | None = strawberry.field(
        default=None,
        description="Outside files: amounts this close still match (the three-way: to the fen).",
    )
    dry_run: bool = False
    idempotency_key: str | None = None


@strawberry.type
class RunReconciliationPayload:
    reconciliation: Reconciliation | None
    user_errors: list[UserError]


def run_id_of(key: str | None) -> str | None:
    """A client's idempotency key names its run, so a retry records nothing new."""
    return None if key is None else "R-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def run_reconciliation(
    app: Any, reconciler: Reconciler, kind: str, at: int, *, cycle: str | None,
    period: str | None, amount_fen: int | None, file: tuple[bytes, str] | None, dry_run: bool,
    run_id: str | None,
) -> RunReport:  # fmt: skip
    """One run by kind (shared by GraphQL, REST and the CLI)."""
    if kind == "THREE_WAY":
        if not cycle:
            raise InvalidInput("cycle", "a three-way reconciliation is of a cycle (2026-11)")
        return reconciler.three_way(cycle, at, dry_run, run_id)
    if kind == "CHANNEL_STATEMENT":
        if file is None:
            raise InvalidInput("file", "a channel statement reconciliation needs the file")
        return reconciler.channel(file[0], file[1], at, dry_run, cycle, run_id)
    if not period or amount_fen is None:
        raise InvalidInput("period", "a carrier receipt is of a period, with an amount")
    return reconciler.carrier_receipt(period, amount_fen, at, dry_run, run_id)


def reconciler_of(app: Any, audit: Any, tolerance_fen: int = 0) -> Reconciler:
    reads = ReconciliationReads(app.read, app.ledger.business_tz)
    return Reconciler(app.ledger, reads, audit, tolerance_fen)


def _file(input: RunReconciliationInput) -> tuple[bytes, str] | None:
    if input.file_base64 is None:
        return None
    import base64
    import binascii

    if len(input.file_base64) > MAX_INLINE_FILE * 4 // 3 + 4:
        raise InvalidInput("fileBase64", "a file above 5 MB goes through POST /v1/reconciliations")
    try:
        content = base64.b64decode(input.file_base64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput("fileBase64", "the file is not base64") from exc
    return content, input.file_name or "statement.csv"


def _decide(decision: str, input_type: type) -> Any:
    async def resolve(info: strawberry.Info, input: DecideItemInput) -> DecideItemPayload:
        return await mutate(
            info,
            lambda: DecideReconciliationItem(
                run_id=input.id,
                item_id=input.item_id,
                decision=decision,
                audit=audit_of(info, None, input.reason),
                key=input.idempotency_key,
            ),
            DecideItemPayload.of,
        )

    resolve.__annotations__["input"] = input_type  # each mutation its own input type
    return resolve


@strawberry.input
class DecideItemInput:
    id: str = strawberry.field(description="The run's id.")
    item_id: str
    reason: str
    idempotency_key: str | None = None


@strawberry.input
class ResolveReconciliationItemInput(DecideItemInput):
    pass


@strawberry.input
class ProposeReconciliationWriteOffInput(DecideItemInput):
    pass


@strawberry.input
class ApproveReconciliationWriteOffInput(DecideItemInput):
    pass


@strawberry.type
class DecideItemPayload:
    item_id: str | None
    status: str | None
    amount: Money | None
    user_errors: list[UserError]

    @classmethod
    def of(cls, done: Done[ReconciliationItemDecided]) -> "DecideItemPayload":
        r = done.result
        if r is None:
            return cls(item_id=None, status=None, amount=None, user_errors=done.errors)
        return cls(item_id=r.item_id, status=r.status, amount=_money(r.amount_fen),
                   user_errors=[])  # fmt: skip


@strawberry.type
class ReconciliationMutations:
    @strawberry.mutation(description="Runs a reconciliation; a dry run records nothing.")
    async def run_reconciliation(
        self, info: strawberry.Info, input: RunReconciliationInput
    ) -> RunReconciliationPayload:
        pinned = await info.context.pin(None, None, info)
        app = info.context.app

        def work() -> RunReconciliationPayload:
            run_id = run_id_of(input.idempotency_key)
            if run_id is not None and not input.dry_run:  # a retry: the run as recorded
                found = find_run(app.ledger, run_id, app.read.log_head())
                if found is not None:
                    return RunReconciliationPayload(
                        reconciliation=Reconciliation.of_recorded(found), user_errors=[]
                    )
            try:
                amount = None if input.amount is None else fen(input.amount, "amount")
                tolerance = 0 if input.tolerance is None else fen(input.tolerance, "tolerance")
                reason = f"reconciliation {input.kind.value}"
                report = run_reconciliation(
                    app, reconciler_of(app, audit_of(info, None, reason), tolerance),
                    input.kind.value,
                    pinned.position, cycle=input.cycle, period=input.period, amount_fen=amount,
                    file=_file(input), dry_run=input.dry_run,
                    run_id=run_id,
                )  # fmt: skip
            except LedgerError as exc:
                return RunReconciliationPayload(reconciliation=None, user_errors=[user_error(exc)])
            return RunReconciliationPayload(
                reconciliation=Reconciliation.of_report(report), user_errors=[]
            )

        return await run_in_threadpool(work)

    resolve_reconciliation_item: DecideItemPayload = strawberry.mutation(
        resolver=_decide("RESOLVE", ResolveReconciliationItemInput),
        description="Resolves a difference with a reason.",
    )
    propose_reconciliation_write_off: DecideItemPayload = strawberry.mutation(
        resolver=_decide("PROPOSE_WRITE_OFF", ProposeReconciliationWriteOffInput),
        description="Proposes writing a difference off; someone else approves it.",
    )
    approve_reconciliation_write_off: DecideItemPayload = strawberry.mutation(
        resolver=_decide("APPROVE_WRITE_OFF", ApproveReconciliationWriteOffInput),
        description="Approves a write-off: never by whoever proposed it.",
    )


__all__ = ["VIEWS", "ReconciliationMutations", "ReconciliationQueries"]
