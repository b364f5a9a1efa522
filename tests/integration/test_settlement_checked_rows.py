"""A settlement file's rows are decided once (decision 0034): the import's check hands its
decisions to the save, which uses them only if nothing they read was recorded since."""

from dataclasses import replace
from datetime import UTC, datetime

import psycopg

from application.policy import CommissionPolicy
from application.use_cases.settlements import (
    CheckedRows,
    CheckPoint,
    RecordSettlementRows,
    RowDecider,
)
from domain.common import Audit

JAN = datetime(2026, 1, 1, tzinfo=UTC)
ROW = ("r-1", "89860001", "2026-03", 3000, "NORMAL", True, True, True, 3)


def history(fenrun) -> None:
    ledger, a = fenrun.ledger, Audit("admin", JAN)
    ledger.define_package("NC", "Number", "NUMBER", 0, 1, a)
    ledger.register_agent("A", "A", None, True, a)
    ledger.register_agent("B", "B", None, True, a)
    ledger.assign_card("89860001", "A", "NC", a)
    ledger.activate_card("89860001", a)
    rules = [{"code": "lt40", "kind": "LONG_TERM", "rate": "40%"}]
    ledger.define_commission_plan("lt", JAN, rules, a)


def checked(fenrun, audit: Audit) -> tuple[int, object]:
    ledger = fenrun.ledger
    position = ledger.recorder.max_notification_id()
    return position, RowDecider(ledger, audit).check(ROW)


def test_the_checks_decision_is_saved_when_nothing_changed(fenrun) -> None:
    history(fenrun)
    audit = Audit("finance", datetime(2026, 4, 1, tzinfo=UTC))
    position, row = checked(fenrun, audit)
    assert (row.card.agent_code, row.agents_fen) == ("A", 1200)
    # A decision the save could not have made itself shows that it was reused, not remade.
    marked = replace(row, agents_fen=1111)
    command = RecordSettlementRows.checked(
        "f", (ROW,), audit, CheckedRows(CheckPoint(position), (marked,))
    )
    done = fenrun.ledger.commit(command)
    assert (done.result.rows, done.result.agent_share_fen) == (1, 1111)
    assert fenrun.ledger.exists("carrier-settlement", "r-1")


def test_a_change_after_the_check_has_the_rows_decided_again(fenrun) -> None:
    history(fenrun)
    audit = Audit("finance", datetime(2026, 4, 1, tzinfo=UTC))
    position, row = checked(fenrun, audit)
    # A plan version recorded after the check: what the check decided may be stale.
    rules = [{"code": "lt50", "kind": "LONG_TERM", "rate": "50%"}]
    fenrun.ledger.define_commission_plan(
        "lt", datetime(2026, 2, 1, tzinfo=UTC), rules, Audit("admin", JAN)
    )
    marked = replace(row, agents_fen=1111)
    command = RecordSettlementRows.checked(
        "f", (ROW,), audit, CheckedRows(CheckPoint(position), (marked,))
    )
    done = fenrun.ledger.commit(command)
    assert (done.result.rows, done.result.agent_share_fen) == (1, 1500)
    assert fenrun.ledger.exists("carrier-settlement", "r-1")


def test_a_redelivered_settlement_row_pays_nothing_twice(fenrun) -> None:
    """A settlement row records no ProcessedFact (decision 0034): a policy that reads it again
    (its tracking rewound, nothing in memory) finds its lines already in the wallet."""
    history(fenrun)
    before = fenrun.ledger.recorder.max_notification_id()
    audit = Audit("finance", datetime(2026, 4, 1, tzinfo=UTC))
    fenrun.ledger.commit(RecordSettlementRows("f", (ROW,), audit))
    fenrun.catch_up()
    paid = fenrun.ledger.wallet("A").balances
    head = fenrun.ledger.recorder.max_notification_id()
    with psycopg.connect(fenrun.dsn, autocommit=True) as conn:
        conn.execute(
            "UPDATE ledger_tracking SET notification_id = %s"
            " WHERE application_name = 'commission-policy'",
            (before,),
        )
    fenrun.policy = CommissionPolicy(fenrun.ledger, business_tz=fenrun.settings.zone)
    assert fenrun.catch_up() > 0  # the row read again
    assert fenrun.ledger.wallet("A").balances == paid
    assert sum(paid.values()) == 1200  # 40% of 30.00, once
    assert fenrun.ledger.recorder.max_notification_id() == head  # nothing recorded again
