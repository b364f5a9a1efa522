"""Reads of the bitemporal views: a business month's figures as known at a log position."""

from datetime import date
from typing import TYPE_CHECKING, Any

from projections.figures import (
    CARD_INCOME,
    PERFORMANCE,
    increment,
    month_credits,
    platform_net,
    previous_month,
)

if TYPE_CHECKING:
    from projections.queries import ReadModel


class Reports:
    """Reads of the bitemporal views: period (business month) as known at a log position."""

    def __init__(self, read: "ReadModel") -> None:
        self.read = read

    def performance(self, agent_code: str, month: date, at: int) -> dict[str, int]:
        row = self.read._one(
            "SELECT personal_fen, personal_orders, team_fen, team_orders, activations,"
            " card_income_fen, team_card_income_fen"
            " FROM performance_history WHERE agent_code = %s AND month = %s AND position <= %s"
            " ORDER BY position DESC LIMIT 1",
            (agent_code, month, at),
        )
        return row or dict.fromkeys((*PERFORMANCE, *CARD_INCOME, "activations"), 0)

    def performance_increment(self, agent_code: str, month: date, at: int) -> dict[str, int]:
        """The month's performance minus the month before's, both as known at `at`."""
        before = self.performance(agent_code, previous_month(month), at)
        return increment(self.performance(agent_code, month, at), before)

    def activation_report(self, agent_code: str, year: int, at: int) -> list[dict[str, Any]]:
        """Each month's count as reported, and how many of those took effect in an earlier one."""
        rows = self.read._all(
            "SELECT reporting_month AS month, count(*) AS count,"
            " count(*) FILTER (WHERE effective_month < reporting_month) AS late"
            " FROM activations WHERE agent_code = %s AND position <= %s"
            " AND reporting_month >= %s AND reporting_month < %s GROUP BY reporting_month",
            (agent_code, at, date(year, 1, 1), date(year + 1, 1, 1)),
        )
        found = {r["month"]: r for r in rows}
        return [
            {
                "month": date(year, m, 1),
                "count": found.get(date(year, m, 1), {}).get("count", 0),
                "late": found.get(date(year, m, 1), {}).get("late", 0),
            }
            for m in range(1, 13)
        ]

    def platform_month(self, month: date, at: int) -> dict[str, int]:
        """A business month's figures, with agent credits and what the platform keeps."""
        columns = (
            "income_fen",
            "refunded_fen",
            "price_difference_fen",
            "frozen_fen",
            "unfreezing_fen",
            "approved_fen",
            "voided_fen",
            "clawed_back_fen",
        )
        row = self.read._one(
            f"SELECT {', '.join(columns)} FROM platform_month_history WHERE month = %s"
            " AND position <= %s ORDER BY position DESC LIMIT 1",
            (month, at),
        )
        t = row or dict.fromkeys(columns, 0)
        credits = month_credits(t["frozen_fen"], t["unfreezing_fen"], t["approved_fen"])
        net = platform_net(t["income_fen"], t["refunded_fen"], credits)
        return {**t, "agent_credits_fen": credits, "net_fen": net}

    def ranking(self, month: date, at: int, first: int) -> list[dict[str, Any]]:
        """Agents by what their team brought in (sales and number-card income), then by their
        own."""
        return self.read._all(
            "SELECT agent_code, team_fen, personal_fen, team_orders, card_income_fen,"
            " team_card_income_fen FROM ("
            " SELECT DISTINCT ON (agent_code) agent_code, team_fen, personal_fen, team_orders,"
            " card_income_fen, team_card_income_fen"
            " FROM performance_history WHERE month = %s AND position <= %s"
            " ORDER BY agent_code, position DESC) latest"
            " WHERE team_fen + team_card_income_fen > 0 OR personal_fen + card_income_fen > 0"
            " ORDER BY team_fen + team_card_income_fen DESC, personal_fen + card_income_fen DESC,"
            " agent_code LIMIT %s",
            (month, at, first),
        )
