"""Reads for the Excel exports (issue 13): whole tables as of a log position, in pages, so an
export of a million rows streams (the rows of each page go to the file before the next)."""

from collections.abc import Iterator
from datetime import date
from typing import Any

from projections.queries import ReadModel, Reports, encode_cursor

PAGE = 5000


def commission_ledger(read: ReadModel, at: int) -> Iterator[dict[str, Any]]:
    after = None
    while True:
        page = read.commissions(at, None, None, None, PAGE, after)
        yield from page.rows
        if not page.has_next or not page.rows:
            return
        last = page.rows[-1]
        after = encode_cursor(last["position"], last["id"])


def months_with_figures(read: ReadModel, at: int) -> list[date]:
    rows = read._all(
        "SELECT DISTINCT month FROM platform_month_history WHERE position <= %s ORDER BY month",
        (at,),
    )
    return [r["month"] for r in rows]


def platform_months(read: ReadModel, at: int) -> Iterator[dict[str, Any]]:
    reports = Reports(read)
    for month in months_with_figures(read, at):
        yield {"month": month, **reports.platform_month(month, at)}


def team_performance(read: ReadModel, at: int) -> Iterator[dict[str, Any]]:
    """Every agent's figures of every month, as known at the position."""
    yield from read._all(
        "SELECT DISTINCT ON (agent_code, month) agent_code, month, personal_fen,"
        " personal_orders, team_fen, team_orders, activations, card_income_fen,"
        " team_card_income_fen FROM performance_history WHERE position <= %s"
        " ORDER BY agent_code, month, position DESC",
        (at,),
    )


def activation_report(read: ReadModel, at: int) -> Iterator[dict[str, Any]]:
    """Activations per agent and reporting month, with those that took effect earlier."""
    yield from read._all(
        "SELECT agent_code, reporting_month AS month, count(*) AS count,"
        " count(*) FILTER (WHERE effective_month < reporting_month) AS late"
        " FROM activations WHERE position <= %s GROUP BY agent_code, reporting_month"
        " ORDER BY agent_code, reporting_month",
        (at,),
    )
