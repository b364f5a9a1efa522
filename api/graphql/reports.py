"""Report types and queries: period P (a business month) as known at time K (asOf/position)."""

import re
from datetime import date
from typing import Annotated

import strawberry
from starlette.concurrency import run_in_threadpool

from api.graphql.scalars import DateTime, Money
from projections.reports import Reports

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
AsOf = Annotated[DateTime | None, strawberry.argument(description="Known at this recorded time.")]
Pos = Annotated[str | None, strawberry.argument(description="Known at this log position.")]


def parse_month(text: str) -> date:
    match = _MONTH.match(text)
    if match is None:
        raise ValueError(f"month must look like 2026-01, got '{text}'")
    return date(int(match.group(1)), int(match.group(2)), 1)


def month_text(month: date) -> str:
    return f"{month.year:04d}-{month.month:02d}"


@strawberry.type(description="This month's performance minus last month's.")
class PerformanceIncrement:
    personal_amount: Money
    team_amount: Money
    personal_orders: int
    team_orders: int


@strawberry.type
class Performance:
    agent_code: str
    month: str
    personal_amount: Money = strawberry.field(description="The agent's own sales (net of refunds).")
    personal_orders: int
    team_amount: Money = strawberry.field(
        description="Sales of the whole downline, as the tree was at each sale."
    )
    team_orders: int
    activations: int = strawberry.field(description="Cards of the agent activated in the month.")
    card_income: Money = strawberry.field(
        description="What carriers paid for the agent's own number cards (settlement totals)."
    )
    team_card_income: Money = strawberry.field(
        description="What carriers paid for the downline's number cards."
    )
    increment: PerformanceIncrement


@strawberry.type
class MonthlyCount:
    month: str
    count: int = strawberry.field(description="As reported: fixed once the month has ended.")
    counted_earlier_too: int = strawberry.field(
        description="Of these, activations that took effect in an earlier month (late data); "
        "they count here because they arrived after that month was reported."
    )


@strawberry.type
class PlatformMonth:
    month: str
    income: Money = strawberry.field(
        description="Paid for orders completed and by carriers for number cards in the month."
    )
    refunded: Money
    price_differences: Money
    frozen: Money
    unfreezing: Money
    approved: Money
    voided: Money
    clawed_back: Money
    agent_credits: Money
    net: Money


@strawberry.type
class RankedAgent:
    rank: int
    agent_code: str
    team_amount: Money
    personal_amount: Money
    team_orders: int
    card_income: Money
    team_card_income: Money


def _reports(info: strawberry.Info, at: int) -> Reports:
    return Reports(info.context.read(at))


def _performance(reports: Reports, agent_code: str, month: date, at: int) -> Performance:
    now = reports.performance(agent_code, month, at)
    change = reports.performance_increment(agent_code, month, at)
    return Performance(
        agent_code=agent_code,
        month=month_text(month),
        personal_amount=now["personal_fen"],
        personal_orders=now["personal_orders"],
        team_amount=now["team_fen"],
        team_orders=now["team_orders"],
        activations=now["activations"],
        card_income=now["card_income_fen"],
        team_card_income=now["team_card_income_fen"],
        increment=PerformanceIncrement(
            personal_amount=change["personal_fen"],
            team_amount=change["team_fen"],
            personal_orders=change["personal_orders"],
            team_orders=change["team_orders"],
        ),
    )


@strawberry.type
class ReportQueries:
    @strawberry.field(description="Personal and team performance of a month, as known at asOf.")
    async def team_performance(
        self,
        info: strawberry.Info,
        agent_code: str,
        month: str,
        as_of: AsOf = None,
        position: Pos = None,
    ) -> Performance | None:
        wanted = parse_month(month)
        pinned = await info.context.pin(as_of, position, info)
        if (
            await run_in_threadpool(
                info.context.read(pinned.position).agent, agent_code, pinned.position
            )
            is None
        ):
            return None
        return await run_in_threadpool(
            _performance, _reports(info, pinned.position), agent_code, wanted, pinned.position
        )

    @strawberry.field(description="Activations per month of a year, each month as reported.")
    async def activation_report(
        self,
        info: strawberry.Info,
        agent_code: str,
        year: int,
        as_of: AsOf = None,
        position: Pos = None,
    ) -> list[MonthlyCount]:
        if not 2000 <= year <= 2200:
            raise ValueError("year must be between 2000 and 2200")
        pinned = await info.context.pin(as_of, position, info)
        rows = await run_in_threadpool(
            _reports(info, pinned.position).activation_report, agent_code, year, pinned.position
        )
        return [
            MonthlyCount(
                month=month_text(r["month"]), count=r["count"], counted_earlier_too=r["late"]
            )
            for r in rows
        ]

    @strawberry.field(description="The platform's figures for facts effective in a month.")
    async def platform_month(
        self, info: strawberry.Info, month: str, as_of: AsOf = None, position: Pos = None
    ) -> PlatformMonth:
        wanted = parse_month(month)
        pinned = await info.context.pin(as_of, position, info)
        t = await run_in_threadpool(
            _reports(info, pinned.position).platform_month, wanted, pinned.position
        )
        return PlatformMonth(
            month=month_text(wanted),
            income=t["income_fen"],
            refunded=t["refunded_fen"],
            price_differences=t["price_difference_fen"],
            frozen=t["frozen_fen"],
            unfreezing=t["unfreezing_fen"],
            approved=t["approved_fen"],
            voided=t["voided_fen"],
            clawed_back=t["clawed_back_fen"],
            agent_credits=t["agent_credits_fen"],
            net=t["net_fen"],
        )

    @strawberry.field(
        description="Top agents by team performance in a month: sales and number-card income."
    )
    async def ranking(
        self,
        info: strawberry.Info,
        month: str,
        first: int = 10,
        as_of: AsOf = None,
        position: Pos = None,
    ) -> list[RankedAgent]:
        wanted = parse_month(month)
        if not 1 <= first <= 100:
            raise ValueError("first must be between 1 and 100")
        pinned = await info.context.pin(as_of, position, info)
        rows = await run_in_threadpool(
            _reports(info, pinned.position).ranking, wanted, pinned.position, first
        )
        return [
            RankedAgent(
                rank=i + 1,
                agent_code=r["agent_code"],
                team_amount=r["team_fen"],
                personal_amount=r["personal_fen"],
                team_orders=r["team_orders"],
                card_income=r["card_income_fen"],
                team_card_income=r["team_card_income_fen"],
            )
            for i, r in enumerate(rows)
        ]
