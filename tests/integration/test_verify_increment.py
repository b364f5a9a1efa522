"""`fenrun verify` covers the monthly increment the API shows (decision 0015): computed in
projections/, so the auditor's replay can check it."""

from datetime import date

import pytest

from application.log import LedgerLog
from projections.figures import PERFORMANCE
from projections.reports import Reports
from projections.verify import verify
from tests.integration.test_verify import populate

APRIL, MAY, JUNE = date(2026, 4, 1), date(2026, 5, 1), date(2026, 6, 1)


def test_verify_reports_a_wrong_increment(fenrun, monkeypatch: pytest.MonkeyPatch) -> None:
    populate(fenrun)  # sales in April and May 2026

    def forgets_last_month(self: Reports, agent_code: str, month: date, at: int) -> dict:
        now = self.performance(agent_code, month, at)
        return {k: now[k] for k in PERFORMANCE}

    monkeypatch.setattr(Reports, "performance_increment", forgets_last_month)
    found = verify(fenrun.read, LedgerLog(fenrun.ledger), fenrun.settings.zone, samples=3, seed=4)
    assert found
    assert all(" increment " in line for line in found)
    assert any(" 2026-05:" in line for line in found)


def test_the_increment_is_this_month_minus_the_month_before(fenrun) -> None:
    populate(fenrun)
    reports, at = Reports(fenrun.read), fenrun.read.caught_up()
    sold = 0
    for agent in ("A", "B", "C", "D"):
        april = reports.performance(agent, APRIL, at)
        may = reports.performance(agent, MAY, at)
        assert reports.performance_increment(agent, MAY, at) == {
            k: may[k] - april[k] for k in PERFORMANCE
        }
        # Nothing sold in June: its increment is minus May's.
        assert reports.performance_increment(agent, JUNE, at) == {k: -may[k] for k in PERFORMANCE}
        sold += may["personal_fen"] + april["personal_fen"]
    assert sold > 0
