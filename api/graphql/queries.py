"""Queries: every field that reads state takes asOf (a time) or position (a log position)."""

from functools import partial
from typing import Annotated, Any

import strawberry
from starlette.concurrency import run_in_threadpool

from api.graphql.scalars import DateTime
from api.graphql.types import (
    Agent,
    AggregateKind,
    Commission,
    CommissionPlanVersion,
    CommissionStatus,
    Connection,
    PlatformTotals,
    ReplayedAggregate,
    UnfreezeRequest,
    UnfreezeRequestStatus,
    Wallet,
    commission_cursor,
    connection,
    page_size,
    request_cursor,
)
from api.replayed import present

AS_OF = "What the ledger knew at this recorded time (default: now)."
POSITION = "A log position from a previous response's extensions, to repeat the same read."
REPLAY_AT = (
    "Recorded time: the aggregate as the ledger knew it then (default: now). Not a business"
    " date: a fact that occurred earlier but was recorded later is not in it."
)
AsOf = Annotated[DateTime | None, strawberry.argument(description=AS_OF)]
Pos = Annotated[str | None, strawberry.argument(description=POSITION)]


def _ctx(info: strawberry.Info) -> Any:
    return info.context


@strawberry.type
class Query:
    @strawberry.field
    async def agent(
        self,
        info: strawberry.Info,
        code: str,
        as_of: AsOf = None,
        position: Pos = None,
    ) -> Agent | None:
        pinned = await _ctx(info).pin(as_of, position, info)
        row = await run_in_threadpool(_ctx(info).read(pinned.position).agent, code, pinned.position)
        return Agent.of(row, pinned.position) if row else None

    @strawberry.field
    async def wallet(
        self,
        info: strawberry.Info,
        agent_code: str,
        as_of: AsOf = None,
        position: Pos = None,
    ) -> Wallet | None:
        _, balances = await _ctx(info).pinned_read(
            as_of, position, info, lambda views, at: views.wallet(agent_code, at)
        )
        return Wallet.of(agent_code, balances) if balances is not None else None

    @strawberry.field
    async def commissions(
        self,
        info: strawberry.Info,
        agent_code: str | None = None,
        status: CommissionStatus | None = None,
        order_id: str | None = None,
        as_of: AsOf = None,
        position: Pos = None,
        first: int = 20,
        after: str | None = None,
    ) -> Connection[Commission]:
        size = page_size(info, first)
        pinned, page = await _ctx(info).pinned_read(
            as_of,
            position,
            info,
            lambda views, at: views.commissions(
                at, agent_code, status.value if status else None, order_id, size, after
            ),
        )
        return connection(
            page, lambda r: Commission.of(r, pinned.position), commission_cursor, after
        )

    @strawberry.field
    async def commission(
        self,
        info: strawberry.Info,
        id: str,
        as_of: AsOf = None,
        position: Pos = None,
    ) -> Commission | None:
        pinned = await _ctx(info).pin(as_of, position, info)
        row = await run_in_threadpool(
            _ctx(info).read(pinned.position).commission, id, pinned.position
        )
        return Commission.of(row, pinned.position) if row else None

    @strawberry.field
    async def unfreeze_requests(
        self,
        info: strawberry.Info,
        status: UnfreezeRequestStatus | None = None,
        agent_code: str | None = None,
        as_of: AsOf = None,
        position: Pos = None,
        first: int = 20,
        after: str | None = None,
        awaiting_second_approval: Annotated[
            bool | None,
            strawberry.argument(description="Only those that wait for a second approver (or not)."),
        ] = None,
    ) -> Connection[UnfreezeRequest]:
        pinned = await _ctx(info).pin(as_of, position, info)
        page = await run_in_threadpool(
            partial(
                _ctx(info).read(pinned.position).unfreeze_requests,
                pinned.position,
                status.value if status else None,
                agent_code,
                page_size(info, first),
                after,
                awaiting=awaiting_second_approval,
            )
        )
        return connection(
            page, lambda r: UnfreezeRequest.of(r, pinned.position), request_cursor, after
        )

    @strawberry.field
    async def platform_totals(
        self,
        info: strawberry.Info,
        as_of: AsOf = None,
        position: Pos = None,
    ) -> PlatformTotals:
        pinned = await _ctx(info).pin(as_of, position, info)
        t = await run_in_threadpool(
            _ctx(info).read(pinned.position).platform_totals, pinned.position
        )
        return PlatformTotals(
            income=t["income_fen"],
            refunded=t["refunded_fen"],
            agent_credits=t["credits_fen"],
            net=t["net_fen"],
            paid_out=t["paid_out_fen"],
        )

    @strawberry.field
    async def commission_plans(
        self,
        info: strawberry.Info,
        as_of: AsOf = None,
        position: Pos = None,
    ) -> list[CommissionPlanVersion]:
        pinned = await _ctx(info).pin(as_of, position, info)
        rows = await run_in_threadpool(_ctx(info).read(pinned.position).plans, pinned.position)
        return [
            CommissionPlanVersion(
                code=r["code"],
                version=r["version"],
                effective_from=r["effective_from"],
                effective_to=r["effective_to"],
                correction_reason=r["correction_reason"],
                rules=r["rules"],
            )
            for r in rows
        ]

    @strawberry.field(description="An aggregate rebuilt from its events recorded up to `at`.")
    async def replay(
        self,
        info: strawberry.Info,
        aggregate: AggregateKind,
        code: str,
        at: Annotated[DateTime | None, strawberry.argument(description=REPLAY_AT)] = None,
    ) -> ReplayedAggregate | None:
        workflows = _ctx(info).app.workflows
        found = await run_in_threadpool(workflows.replay, aggregate.value, code, at)
        if found.state is None:
            return None
        return ReplayedAggregate(
            kind=aggregate,
            code=code,
            version=found.version,
            position=str(found.position),
            state=present(found.state),
        )
