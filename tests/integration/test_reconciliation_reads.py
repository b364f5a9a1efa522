"""Reading recorded reconciliation runs (decision 0032): one run by its id decodes that run's
events only, and a page of runs decodes the runs on the page only (a run keeps up to 5,000
items, so reading every run for every request does not scale)."""

from datetime import UTC, datetime
from typing import Any

import pytest

from application.reconciliation import find_run, recorded_runs
from application.use_cases.reconciliation import RecordReconciliation
from domain.common import Audit
from domain.reconciliation import Reconciliation

AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def record(fenrun: Any, run_id: str, kind: str, items: int) -> None:
    found = tuple(
        ("channel", f"PO-{run_id}-{n}", "MISSING_THEIRS", 100, None, "PAID", None, "payouts", "")
        for n in range(items)
    )
    fenrun.ledger.commit(
        RecordReconciliation(
            run_id, kind, "2026-01", ("payouts",), 1, 0, 100 * items, 0, found,
            Audit("finance-1", AT),
        )
    )  # fmt: skip


@pytest.fixture(name="decoded")
def decoded_fixture(fenrun: Any, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The aggregate ids of every event the ledger's mapper decodes from now on."""
    seen: list[Any] = []
    mapper = fenrun.ledger.mapper
    decode_all = mapper.decode_all

    def counting(stored: Any) -> list[Any]:
        events = decode_all(stored)
        seen.extend(e.originator_id for e in events)
        return events

    monkeypatch.setattr(mapper, "decode_all", counting)
    return seen


def test_a_run_is_read_by_its_id_and_a_page_reads_only_its_runs(
    fenrun: Any, decoded: list[Any]
) -> None:
    record(fenrun, "R-1", "CHANNEL_STATEMENT", 300)
    record(fenrun, "R-2", "THREE_WAY", 2)
    record(fenrun, "R-3", "CHANNEL_STATEMENT", 1)
    head = fenrun.read.log_head()
    decoded.clear()

    run = find_run(fenrun.ledger, "R-2", head)
    assert run is not None
    assert (run.run["run_id"], len(run.run["items"])) == ("R-2", 2)
    assert set(decoded) == {Reconciliation.create_id("R-2")}  # never R-1's 300 items
    assert find_run(fenrun.ledger, "R-none", head) is None

    decoded.clear()
    [newest] = recorded_runs(fenrun.ledger, head, first=1)
    assert newest.run["run_id"] == "R-3"
    assert Reconciliation.create_id("R-1") not in decoded
    page = recorded_runs(fenrun.ledger, head, first=1, before=newest.position)
    assert [r.run["run_id"] for r in page] == ["R-2"]
    channel = recorded_runs(fenrun.ledger, head, "CHANNEL_STATEMENT")
    assert [r.run["run_id"] for r in channel] == ["R-3", "R-1"]
    assert [r.run["run_id"] for r in recorded_runs(fenrun.ledger, head)] == ["R-3", "R-2", "R-1"]
    # As of a position before R-3 was recorded, R-3 is not there.
    assert [r.run["run_id"] for r in recorded_runs(fenrun.ledger, page[0].position)] == [
        "R-2",
        "R-1",
    ]
