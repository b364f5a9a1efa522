"""The matching rule of reconciliation (domain/reconciliation.py, decision 0032) and a run's
item lifecycle: resolved with a reason, written off by two different people."""

from datetime import UTC, datetime

import pytest

from domain.common import Audit
from domain.errors import InvalidInput, InvalidState, NotFound, SameApprover
from domain.reconciliation import Difference, Entry, Outcome, Reconciliation, match

T = datetime(2026, 12, 1, tzinfo=UTC)


def test_one_missing_one_extra_one_differing_and_the_rest_matched() -> None:
    ours = [Entry("PO-1", 100, "PAID"), Entry("PO-2", 200, "PAID"), Entry("PO-3", 300, "PAID")]
    theirs = [Entry("PO-1", 100, "SUCCESS"), Entry("PO-2", 250, "SUCCESS"), Entry("X", 9)]
    out = match("channel", ours, theirs, statuses={"SUCCESS": "PAID"})
    assert out.matched == 1
    found = {(i.key, i.difference, i.ours_fen, i.theirs_fen) for i in out.items}
    assert found == {
        ("PO-2", Difference.AMOUNT_DIFFERS, 200, 250),
        ("PO-3", Difference.MISSING_THEIRS, 300, None),
        ("X", Difference.MISSING_OURS, None, 9),
    }
    assert (out.ours_fen, out.theirs_fen) == (600, 359)


def test_statuses_are_compared_in_the_ledgers_words() -> None:
    out = match("channel", [Entry("PO-1", 100, "PAID")], [Entry("PO-1", 100, "fail")],
                statuses={"FAIL": "FAILED"})  # fmt: skip
    [item] = out.items
    assert (item.difference, item.ours_status, item.theirs_status) == (
        Difference.STATUS_DIFFERS, "PAID", "FAILED",
    )  # fmt: skip
    assert match("c", [Entry("PO-1", 100, "PAID")], [Entry("PO-1", 100, "PAID")]).matched == 1


def test_one_receipt_covers_several_files() -> None:
    files = [Entry("2026-11", 3000, None, "file a.xlsx"), Entry("2026-11", 2000, None, "b.csv")]
    assert match("carrier", files, [Entry("2026-11", 5000, None, "receipt")]).items == ()
    short = match("carrier", files, [Entry("2026-11", 4500, None, "receipt")])
    [item] = short.items
    assert (item.difference, item.ours_fen, item.theirs_fen, item.gap_fen) == (
        Difference.AMOUNT_DIFFERS, 5000, 4500, -500,
    )  # fmt: skip
    assert item.ours_refs == ("file a.xlsx", "b.csv")


def test_tolerance_and_nothing_against_nothing() -> None:
    assert match("x", [Entry("a", 100)], [Entry("a", 101)], tolerance_fen=1).matched == 1
    assert match("x", [Entry("a", 100)], [Entry("a", 102)], tolerance_fen=1).items
    assert match("fees", [Entry("A", 0)], []).matched == 1  # a zero fee with no line
    with pytest.raises(InvalidInput):
        match("x", [], [], tolerance_fen=-1)


def _run() -> Reconciliation:
    out = match("carrier", [Entry("2026-11", 5000)], [Entry("2026-11", 4500)])
    return Reconciliation.record("R-1", "CARRIER_RECEIPT", "2026-11", ["a", "b"], 7, out,
                                 Audit("finance-1", T, "run"))  # fmt: skip


def test_a_write_off_needs_someone_other_than_its_proposer() -> None:
    run = _run()
    item = "carrier:2026-11"
    assert run.propose_write_off(item, Audit("finance-1", T, "bank charges")) == 500
    with pytest.raises(SameApprover):
        run.approve_write_off(item, Audit("finance-1", T, "ok"))
    assert run.approve_write_off(item, Audit("finance-2", T, "ok")) == 500
    assert run.status_of(item) == "WRITTEN_OFF"
    with pytest.raises(InvalidState):
        run.resolve(item, Audit("finance-2", T, "again"))


def test_resolving_needs_a_reason_and_a_known_item() -> None:
    run = _run()
    with pytest.raises(InvalidInput):
        run.resolve("carrier:2026-11", Audit("finance-1", T, " "))
    with pytest.raises(NotFound):
        run.resolve("carrier:2026-12", Audit("finance-1", T, "why"))
    with pytest.raises(InvalidState):
        run.approve_write_off("carrier:2026-11", Audit("finance-2", T, "none proposed"))
    run.resolve("carrier:2026-11", Audit("finance-1", T, "the rest comes next month"))
    assert run.status_of("carrier:2026-11") == "RESOLVED"


def test_outcomes_add_up() -> None:
    a = match("a", [Entry("k", 1)], [Entry("k", 1)])
    b = match("b", [Entry("k", 1)], [])
    total = a + b
    assert isinstance(total, Outcome)
    assert (total.matched, len(total.items), total.ours_fen, total.theirs_fen) == (1, 1, 2, 1)
