"""Issue 9 (decision 0018) against PostgreSQL: what the value types admit is exactly what the
storage holds, refused inputs leave no trace, and time comes from the server's clock."""

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.types.json import Jsonb

from domain.common import Audit
from domain.errors import (
    BalanceLimitExceeded,
    BeforeSubjectExisted,
    FutureTime,
    InvalidText,
    LedgerError,
)
from domain.money import MAX_TOTAL_FEN
from domain.values import ACTOR, CODE, DOCUMENT_TEXT, KEY, NAME, REASON

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
KINDS = {"code": CODE, "name": NAME, "reason": REASON, "actor": ACTOR, "key": KEY}


def at(days: float = 0, reason: str = "", actor: str = "admin") -> Audit:
    return Audit(actor, T0 + timedelta(days=days), reason)


@pytest.fixture(scope="module")
def scratch(server_url: str, template_db: str) -> Any:
    """One connection to a throwaway database, for the storage property."""
    from tests.conftest import create_database, drop_database

    name = f"fenrun_values_{template_db}"
    with psycopg.connect(create_database(server_url, name), autocommit=True) as conn:
        conn.execute("CREATE TEMP TABLE kept (t text, j jsonb)")
        yield conn
    drop_database(server_url, name)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(sorted(KINDS)), text=st.text(max_size=40))
def test_every_text_a_value_type_admits_postgresql_stores(scratch: Any, kind: str, text: str):
    """Accepted texts go through psycopg into `text` and `jsonb` and come back equal; the
    refused ones are refused for a reason the storage has (or for their length or shape)."""
    try:
        KINDS[kind].check(text, "f")
    except LedgerError:
        return
    row = scratch.execute(
        "INSERT INTO kept VALUES (%s, %s) RETURNING t, j", (text, Jsonb({text: [text]}))
    ).fetchone()
    assert row == (text, {text: [text]})


@pytest.mark.parametrize("bad", ["a\x00b", "\ud800", "a\udfffb"])
def test_what_the_value_types_refuse_postgresql_cannot_store(scratch: Any, bad: str) -> None:
    for kind in (*KINDS.values(), DOCUMENT_TEXT):
        with pytest.raises(InvalidText):
            kind.check(bad, "f")
    with pytest.raises((psycopg.DataError, UnicodeEncodeError, ValueError)):
        scratch.execute("SELECT %s::text", (bad,))


def _seller(fenrun: Any) -> None:
    ledger = fenrun.ledger
    ledger.define_package("P", "Traffic 50", "TRAFFIC", 5000, 1, at())
    ledger.register_agent("A", "Agent A", None, True, at())
    ledger.set_cost_price("A", "P", 6000, at())
    ledger.set_retail_price("A", "P", 9000, at())
    ledger.define_commission_plan(
        "fixed", T0 - timedelta(days=1), [{"code": "f", "kind": "FIXED", "amount": "5"}], at()
    )


def test_a_nul_in_a_name_is_refused_and_nothing_is_saved(fenrun: Any) -> None:
    """Issue 9, finding 1: the NUL name was saved and every view then failed on it."""
    head = fenrun.read.log_head()
    with pytest.raises(InvalidText) as info:
        fenrun.ledger.register_agent("P", "a\x00b", None, False, at())
    assert info.value.field == "name"
    assert fenrun.read.log_head() == head
    fenrun.ledger.register_agent("P", "a b", None, False, at())
    fenrun.catch_up()
    assert fenrun.read.agent("P", fenrun.read.caught_up())["name"] == "a b"


def test_a_release_uses_the_servers_clock(fenrun: Any, clock: Any) -> None:
    """Issue 9, finding 5: an explicit `now` is never later than the clock; without one, the
    clock decides what is due."""
    clock.set(T0)
    _seller(fenrun)
    fenrun.ledger.place_order("O1", "P", "A", None, "c", "CUSTOMER_PAYS", at())
    fenrun.ledger.complete_order("O1", at())
    fenrun.catch_up()
    head = fenrun.read.log_head()
    with pytest.raises(FutureTime):
        fenrun.ledger.release_due_commissions(Audit("job", datetime(2099, 1, 1, tzinfo=UTC)))
    with pytest.raises(FutureTime):
        fenrun.ledger.release_due_commissions(at(8))  # the hold ends on day 7: not yet come
    assert fenrun.read.log_head() == head
    clock.set(T0 + timedelta(days=8))
    released = fenrun.ledger.release_due_commissions(Audit("job", clock.now(), "", False))
    assert len(released.request_ids) == 2  # the 30.00 price difference and the 5.00 fixed


def test_facts_ahead_of_the_clock_or_before_their_subject_are_refused(
    fenrun: Any, clock: Any
) -> None:
    clock.set(T0)
    ledger = fenrun.ledger
    _seller(fenrun)
    with pytest.raises(BeforeSubjectExisted):  # a sale before its seller was registered
        ledger.place_order("O0", "P", "A", None, "c", "CUSTOMER_PAYS", at(-1))
    ledger.place_order("O1", "P", "A", None, "c", "CUSTOMER_PAYS", at())
    with pytest.raises(FutureTime):  # completed 45 days ahead: it used to accrue
        ledger.complete_order("O1", at(45))
    ledger.assign_card("ICC1", "A", "P", at())
    with pytest.raises(BeforeSubjectExisted):
        ledger.activate_card("ICC1", at(-1))
    with pytest.raises(BeforeSubjectExisted):
        ledger.assign_card("ICC2", "A", "P", at(-1))  # before the agent was registered


def test_a_sale_is_not_dated_before_its_chain_was_bound(fenrun: Any, clock: Any) -> None:
    """The chain a sale pays is the tree as it stands: a sale dated before B was bound under A
    would pay A for a sale made when A was nobody's upline."""
    clock.set(T0 + timedelta(days=10))
    ledger = fenrun.ledger
    _seller(fenrun)
    ledger.register_agent("B", "Agent B", None, True, at())
    ledger.bind_upline("B", "A", at(5))
    ledger.set_cost_price("B", "P", 7000, at(5))
    ledger.set_retail_price("B", "P", 9000, at(5))
    with pytest.raises(BeforeSubjectExisted) as info:
        ledger.place_order("O1", "P", "B", None, "c", "CUSTOMER_PAYS", at(4))
    assert "agent B" in info.value.message
    ledger.place_order("O1", "P", "B", None, "c", "CUSTOMER_PAYS", at(5))


def test_no_fact_counts_once_the_platform_totals_reach_their_limit(fenrun: Any) -> None:
    """Every total the views sum is below the platform's lifetime income and commissions:
    once those reach MAX_TOTAL_FEN, a sale's completion is refused before any event."""
    _seller(fenrun)
    fenrun.ledger.place_order("O1", "P", "A", None, "c", "CUSTOMER_PAYS", at())
    fenrun.catch_up()
    with fenrun.pool.connection() as conn:  # as a very long history would have left the view
        conn.execute(
            "INSERT INTO platform_totals_history VALUES (%s, now(), %s, 0, 0, 0)",
            (fenrun.read.log_head(), MAX_TOTAL_FEN),
        )
    head = fenrun.read.log_head()
    with pytest.raises(BalanceLimitExceeded):
        fenrun.ledger.complete_order("O1", at())
    assert fenrun.read.log_head() == head


def test_as_of_a_time_to_come_reads_the_head_and_says_when(fenrun: Any) -> None:
    """Issue 9, finding 5: `asOf: 2999-…` answered today's state and echoed 2999 back."""
    _seller(fenrun)
    fenrun.catch_up()
    before = datetime.now(UTC)
    pinned = fenrun.read.pin(datetime(2999, 1, 1, tzinfo=UTC))
    assert pinned.position == fenrun.read.log_head()
    assert pinned.as_of is not None
    assert before - timedelta(seconds=5) <= pinned.as_of <= datetime.now(UTC) + timedelta(seconds=5)
    past = datetime(2020, 1, 1, tzinfo=UTC)
    assert fenrun.read.pin(past).as_of == past  # a past time is read at, as asked
