"""Output types. Each object carries the log position it was read at (Private), so nested fields
read at the same position as their parent."""

from datetime import datetime
from enum import Enum
from typing import Any, Generic, TypeVar

import strawberry
from starlette.concurrency import run_in_threadpool
from strawberry.dataloader import DataLoader
from strawberry.scalars import JSON

from api.graphql.scalars import DateTime, Money
from domain.explain import explain
from projections.positions import Page, encode_cursor

T = TypeVar("T")


@strawberry.enum
class CommissionStatus(Enum):
    FROZEN = "FROZEN"
    UNFREEZE_REQUESTED = "UNFREEZE_REQUESTED"
    APPROVED = "APPROVED"
    VOIDED = "VOIDED"
    CLAWED_BACK = "CLAWED_BACK"


@strawberry.enum
class UnfreezeRequestStatus(Enum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    VOIDED = "VOIDED"


@strawberry.enum
class PackageKind(Enum):
    TRAFFIC = "TRAFFIC"
    NUMBER = "NUMBER"


@strawberry.enum
class OrderFlow(Enum):
    CUSTOMER_PAYS = "CUSTOMER_PAYS"
    AGENT_PREPAID = "AGENT_PREPAID"


@strawberry.enum
class AggregateKind(Enum):
    AGENT = "agent"
    CARD = "card"
    ORDER = "order"
    WALLET = "wallet"
    PACKAGE = "package"
    PLAN = "plan"


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo


def connection(page: Page, build: Any, cursor_of: Any, after: str | None) -> Any:
    edges = [Edge(cursor=cursor_of(row), node=build(row)) for row in page.rows]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_next,
            has_previous_page=after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )


@strawberry.type(description="An error in the input: nothing was changed.")
class UserError:
    code: str
    field: list[str] | None
    message: str


@strawberry.type
class Wallet:
    agent_code: str
    frozen: Money
    unfreezing: Money
    available: Money
    withdrawing: Money
    debt: Money
    deposit: Money

    @classmethod
    def of(cls, agent_code: str, b: dict[str, int]) -> "Wallet":
        return cls(
            agent_code=agent_code,
            frozen=b["frozen"],
            unfreezing=b["unfreezing"],
            available=b["available"],
            withdrawing=b["withdrawing"],
            debt=b["debt"],
            deposit=b["deposit"],
        )


@strawberry.type
class StatusChange:
    status: CommissionStatus
    amount: Money
    event: str
    at: DateTime
    effective_at: DateTime
    actor: str
    reason: str


@strawberry.type
class Commission:
    id: str
    agent_code: str
    kind: str
    status: CommissionStatus
    amount: Money = strawberry.field(description="What the line is worth now (after voids).")
    original_amount: Money
    base: Money
    rate: str | None
    order_id: str | None
    iccid: str | None
    rule_code: str
    plan_code: str
    rule_version: int = strawberry.field(description="The version of the plan that made it.")
    hold_days: int
    releasable_at: DateTime
    facts: JSON
    effective_at: DateTime
    recorded_at: DateTime
    at: strawberry.Private[int]
    row: strawberry.Private[dict[str, Any]]

    @strawberry.field(
        description="The calculation in words and numbers: base, rate or amount, rule, plan "
        "version, the facts it used, the hold and the status as of the read position."
    )
    def explanation(self) -> str:
        # Worked out only when asked for: a page of lines without it skips the words.
        return explain(self.row)

    @strawberry.field
    async def history(self, info: strawberry.Info) -> list[StatusChange]:
        rows = await histories(info).load((self.id, self.at))
        return [
            StatusChange(
                status=CommissionStatus(r["status"]),
                amount=r["amount_fen"],
                event=r["event"],
                at=r["recorded_at"],
                effective_at=r["effective_at"],
                actor=r["actor"],
                reason=r["reason"],
            )
            for r in rows
        ]

    @classmethod
    def of(cls, row: dict[str, Any], at: int) -> "Commission":
        return cls(
            id=row["id"],
            agent_code=row["agent_code"],
            kind=row["kind"],
            status=CommissionStatus(row["status"]),
            amount=row["amount_fen"],
            original_amount=row["original_fen"],
            base=row["base_fen"],
            rate=row["rate"],
            order_id=row["order_id"],
            iccid=row["iccid"],
            rule_code=row["rule_code"],
            plan_code=row["plan_code"],
            rule_version=row["plan_version"],
            hold_days=row["hold_days"],
            releasable_at=row["releasable_at"],
            facts=row["facts"],
            effective_at=row["effective_at"],
            recorded_at=row["recorded_at"],
            at=at,
            row=row,
        )


def histories(info: strawberry.Info) -> DataLoader[tuple[str, int], list[dict[str, Any]]]:
    """The request's loader of status histories: a page of commissions asks for all of theirs
    in one query, not one query (and one thread) per line."""
    loaders = info.context.loaders
    if "histories" not in loaders:
        context = info.context

        async def load(keys: list[tuple[str, int]]) -> list[list[dict[str, Any]]]:
            found: dict[tuple[str, int], list[dict[str, Any]]] = {}
            for at in {at for _, at in keys}:
                ids = [id for id, key_at in keys if key_at == at]
                # The server this request's pin at `at` chose (replica or primary).
                read = context.read(at)
                rows = await run_in_threadpool(read.commission_histories, ids, at)
                found.update({(id, at): rows[id] for id in ids})
            return [found[key] for key in keys]

        loaders["histories"] = DataLoader(load_fn=load)
    return loaders["histories"]


def commission_cursor(row: dict[str, Any]) -> str:
    return encode_cursor(row["position"], row["id"])


@strawberry.type(description="An approval recorded on a request that needs two approvers.")
class Approval:
    approver: str = strawberry.field(description="Who approved (the authenticated subject).")
    actor: str = strawberry.field(description="As the event records it (an agent's code too).")
    at: DateTime


@strawberry.type
class UnfreezeRequest:
    id: str
    agent_code: str
    status: UnfreezeRequestStatus
    requested_amount: Money
    requested_at: DateTime
    decided_at: DateTime | None
    decided_by: str | None
    reason: str | None
    approvals: list[Approval] = strawberry.field(
        description="Approvals recorded while it waits for a second, different approver "
        "(maker-checker: amounts at or above FENRUN_SECOND_APPROVER_FROM)."
    )
    commission_id: strawberry.Private[str]
    at: strawberry.Private[int]

    @strawberry.field(
        description="Pending, with its first approval recorded: a second, different finance "
        "approver completes it; a rejection by either ends it."
    )
    def awaiting_second_approval(self) -> bool:
        return self.status == UnfreezeRequestStatus.PENDING and bool(self.approvals)

    @strawberry.field
    async def commission(self, info: strawberry.Info) -> Commission | None:
        row = await run_in_threadpool(
            info.context.read(self.at).commission, self.commission_id, self.at
        )
        return Commission.of(row, self.at) if row else None

    @classmethod
    def of(cls, row: dict[str, Any], at: int) -> "UnfreezeRequest":
        return cls(
            id=row["id"],
            agent_code=row["agent_code"],
            status=UnfreezeRequestStatus(row["status"]),
            requested_amount=row["amount_fen"],
            requested_at=row["requested_at"],
            decided_at=row["decided_at"],
            decided_by=row["decided_by"],
            reason=row["reason"],
            approvals=[
                Approval(approver=a["approver"], actor=a["actor"], at=_time(a["approved_at"]))
                for a in row.get("approvals") or ()
            ],
            commission_id=row["commission_id"],
            at=at,
        )


def _time(value: Any) -> Any:
    """Times inside a jsonb column come back as ISO text."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def request_cursor(row: dict[str, Any]) -> str:
    return encode_cursor(row["requested_position"], row["id"])


@strawberry.type
class AgentRef:
    code: str


@strawberry.type
class Agent:
    code: str
    name: str
    real_name_verified: bool
    registered_at: DateTime
    level: str | None = strawberry.field(
        description="The agent's level (grade) code, as of the read position."
    )
    parent: AgentRef | None
    at: strawberry.Private[int]

    @classmethod
    def of(cls, row: dict[str, Any], at: int) -> "Agent":
        parent = AgentRef(code=row["parent_code"]) if row["parent_code"] else None
        return cls(
            code=row["code"],
            name=row["name"],
            real_name_verified=row["real_name_verified"],
            registered_at=row["registered_at"],
            level=row.get("level"),
            parent=parent,
            at=at,
        )

    @strawberry.field
    async def children(
        self, info: strawberry.Info, first: int = 20, after: str | None = None
    ) -> Connection[AgentRef]:
        page = await run_in_threadpool(
            info.context.read(self.at).children, self.code, self.at, page_size(info, first), after
        )
        return connection(
            page, lambda r: AgentRef(code=r["code"]), lambda r: encode_cursor(r["code"]), after
        )

    @strawberry.field
    async def wallet(self, info: strawberry.Info) -> Wallet | None:
        balances = await run_in_threadpool(info.context.read(self.at).wallet, self.code, self.at)
        return Wallet.of(self.code, balances) if balances is not None else None

    @strawberry.field
    async def commissions(
        self,
        info: strawberry.Info,
        status: CommissionStatus | None = None,
        first: int = 20,
        after: str | None = None,
    ) -> Connection[Commission]:
        page = await run_in_threadpool(
            info.context.read(self.at).commissions,
            self.at,
            self.code,
            status.value if status else None,
            None,
            page_size(info, first),
            after,
        )
        return connection(page, lambda r: Commission.of(r, self.at), commission_cursor, after)


@strawberry.type
class PlatformTotals:
    income: Money = strawberry.field(
        description="Received for completed orders, and from carriers for number cards."
    )
    refunded: Money
    agent_credits: Money = strawberry.field(
        description="Commissions and price differences accrued, less voids and clawbacks."
    )
    net: Money = strawberry.field(description="income - refunded - agentCredits")
    paid_out: Money = strawberry.field(description="Withdrawals paid out to agents.")


@strawberry.type
class ReplayedAggregate:
    kind: AggregateKind
    code: str
    version: int
    position: str
    state: JSON = strawberry.field(
        description="The aggregate's state in the API's vocabulary: camelCase names, amounts as"
        ' Money strings ("60.00"); codes and ids used as keys are kept as they are.'
    )


@strawberry.type
class CommissionPlanVersion:
    code: str
    version: int
    effective_from: DateTime
    effective_to: DateTime | None = strawberry.field(
        description="Set on corrections: the version is in force over [effectiveFrom, effectiveTo)."
    )
    correction_reason: str | None = strawberry.field(
        description="Set on corrections (applyPlanCorrection): why the period was corrected."
    )
    rules: JSON


def page_size(info: strawberry.Info, first: int) -> int:
    limit = info.context.app.settings.max_page_size
    if not 0 <= first <= limit:
        raise ValueError(f"first must be between 0 and {limit}")
    return first
