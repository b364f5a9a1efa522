"""Events stored in an earlier shape still load, and everything built from them is the same.

`tests/fixtures/stored_v1.json` holds a history recorded by the code of commit 9fedb3e (before
completions, refunds and wallet events carried their sale and their agent), row by row as the
event store held it, with what the read models answered then (see tests/fixtures/
stored_events.py). Loaded into a fresh database, the events decode whole, the aggregates come
back with the same balances, every view rebuilt from them answers exactly as before, the
auditor finds nothing, and the history goes on under the current code.
"""

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
import psycopg
import pytest
from eventsourcing.persistence import StoredEvent

from api.bootstrap import eventsourcing_env
from application.ledger import Ledger
from application.log import LedgerLog
from domain.common import Audit
from domain.order import SALE, Order
from domain.wallet import Wallet
from projections.reports import Reports
from projections.verify import verify
from tests.fixtures.stored_events import answers

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "stored_v1.json"


@pytest.fixture(scope="module")
def stored() -> dict[str, Any]:
    return orjson.loads(FIXTURE.read_bytes())


def load(dsn: str, stored: dict[str, Any]) -> None:
    """The rows as the old code wrote them, and the policies' positions as it left them."""
    with psycopg.connect(dsn) as conn:
        with conn.cursor().copy(
            "COPY ledger_events (notification_id, originator_id, originator_version, topic,"
            " state, recorded_at) FROM STDIN"
        ) as copy:
            for e in stored["events"]:
                copy.write_row(
                    (
                        e["notification_id"],
                        e["originator_id"],
                        e["originator_version"],
                        e["topic"],
                        e["state"].encode(),
                        e["recorded_at"],
                    )
                )
        conn.execute(
            "SELECT setval(pg_get_serial_sequence('ledger_events', 'notification_id'),"
            " (SELECT max(notification_id) FROM ledger_events))"
        )
        conn.cursor().executemany(
            "INSERT INTO ledger_tracking (application_name, notification_id) VALUES (%s, %s)",
            list(stored["tracking"].items()),
        )


def test_the_fixture_is_in_the_old_shape(stored) -> None:
    """Guards the fixture itself: none of its events carries what version 2 added."""
    by_topic = {e["topic"].rsplit(".", 1)[-1]: orjson.loads(e["state"]) for e in stored["events"]}
    assert "class_version" not in by_topic["Completed"]
    assert "order_id" not in by_topic["Completed"]
    assert "completed_at" not in by_topic["Refunded"]
    assert "agent_code" not in by_topic["CommissionAccrued"]


def test_old_events_decode_whole(fenrun, dsn, stored) -> None:
    load(dsn, stored)
    rows = [
        StoredEvent(UUID(e["originator_id"]), e["originator_version"], e["topic"], e["state"])
        for e in stored["events"]
    ]
    by_page = LedgerLog(fenrun.ledger).decode(rows)
    fresh = Ledger(eventsourcing_env(dsn))  # nothing remembered: each event reads on its own
    one_by_one = [fresh.mapper.to_domain_event(row) for row in rows]
    fresh.close()
    assert [vars(e) for e in by_page] == [vars(e) for e in one_by_one]
    placed = {e.originator_id: e for e in one_by_one if isinstance(e, Order.Placed)}
    opened = {e.originator_id: e.agent_code for e in one_by_one if isinstance(e, Wallet.Opened)}
    completed_at = {}
    checked = {Order.Completed: 0, Order.Refunded: 0, Wallet.BalanceEvent: 0}
    for event in one_by_one:
        if isinstance(event, Order.Completed):
            order = placed[event.originator_id]
            assert {k: getattr(event, k) for k in SALE} == {k: getattr(order, k) for k in SALE}
            assert event.sale_facts() == fenrun.ledger.order(order.order_id).sale_facts()
            completed_at[event.originator_id] = event.effective_at
            checked[Order.Completed] += 1
        elif isinstance(event, Order.Refunded):
            order = placed[event.originator_id]
            assert (event.order_id, event.agent_code, event.chain, event.paid_fen) == (
                order.order_id,
                order.agent_code,
                order.chain,
                order.paid_fen,
            )
            assert event.completed_at == completed_at[event.originator_id]
            checked[Order.Refunded] += 1
        elif isinstance(event, Wallet.BalanceEvent):
            assert event.agent_code == opened[event.originator_id]
            checked[Wallet.BalanceEvent] += 1
    topics = [e["topic"].split(":")[1] for e in stored["events"]]
    assert checked == {
        Order.Completed: topics.count("Order.Completed"),
        Order.Refunded: topics.count("Order.Refunded"),
        Wallet.BalanceEvent: sum(t.startswith("Wallet.") and t != "Wallet.Opened" for t in topics),
    }


def test_views_rebuilt_from_old_events_answer_as_before(fenrun, dsn, stored) -> None:
    load(dsn, stored)
    assert fenrun.catch_up() == len(stored["events"])  # the views only: policies are done
    for position, expected in stored["answers"].items():
        assert answers(fenrun, int(position)) == orjson.loads(orjson.dumps(expected)), position
    found = verify(fenrun.read, LedgerLog(fenrun.ledger), fenrun.settings.zone, samples=1000)
    assert found == []


def test_old_aggregates_load_and_the_history_goes_on(fenrun, dsn, stored) -> None:
    load(dsn, stored)
    ledger = fenrun.ledger
    for code, balances in stored["balances"].items():
        assert ledger.wallet(code).balances == balances
    # The policies replay nothing they already did, from the start of the log.
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("UPDATE ledger_tracking SET notification_id = 0")
    fenrun.catch_up()
    for code, balances in stored["balances"].items():
        assert ledger.wallet(code).balances == balances
    # An old sale refunded now: its old lines give back their share, whatever shape they were
    # stored in; finance releases and approves what is due.
    t0 = datetime(2026, 4, 1, 9, tzinfo=UTC)
    a_before = ledger.wallet("A").balances
    ledger.refund_order("o3", 5500, Audit("ops", t0 + timedelta(days=60), "half back"))
    fenrun.catch_up()
    assert ledger.wallet("D").balances["available"] < stored["balances"]["D"]["available"]
    assert ledger.wallet("A").balances == a_before  # o3 was D's sale, outside A's tree then
    ledger.release_due_commissions(Audit("job", t0 + timedelta(days=90)))
    fenrun.catch_up()
    pending = fenrun.read.unfreeze_requests(fenrun.read.caught_up(), "PENDING", None, 50, None)
    ids = [r["id"] for r in pending.rows]
    assert ids
    ledger.approve_unfreeze_requests(ids, Audit("fin", t0 + timedelta(days=91)))
    fenrun.catch_up()
    assert verify(fenrun.read, LedgerLog(fenrun.ledger), fenrun.settings.zone, 1000) == []
    # The new refund counts in the month of the old sale.
    april = Reports(fenrun.read).platform_month(date(2026, 4, 1), fenrun.read.caught_up())
    before = stored["answers"][max(stored["answers"], key=int)]["platform_months"]["2026-04-01"]
    assert april["refunded_fen"] == before["refunded_fen"] + 5500


def test_migration_0008_acts_wherever_the_views_live(dsn) -> None:
    """The platform views' order tables go and team performance forgets orders not completed
    yet, in public and in a schema a rebuild moved a view to; wallet snapshots go."""
    [migration] = (Path(__file__).resolve().parents[2] / "migrations").glob("0008_*.sql")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA proj_team_performance_v2")
        for schema in ("public", "proj_team_performance_v2"):
            conn.execute(f"CREATE TABLE {schema}.platform_totals_orders (order_id text)")
            if schema != "public":
                conn.execute(
                    f"CREATE TABLE {schema}.performance_orders"
                    " (LIKE public.performance_orders INCLUDING ALL)"
                )
            conn.execute(
                f"INSERT INTO {schema}.performance_orders (order_id, agent_code, paid_fen,"
                " completed_position) VALUES ('placed', 'A', 1, NULL), ('done', 'A', 1, 7)"
            )
        conn.execute("CREATE TABLE public.platform_month_orders (order_id text)")
        conn.execute(
            "INSERT INTO ledger_snapshots (originator_id, originator_version, topic, state)"
            " VALUES (gen_random_uuid(), 1, 'eventsourcing.domain:Snapshot', '\\x7b7d')"
        )
        conn.execute(migration.read_text())
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables"
            " WHERE table_name IN ('platform_totals_orders', 'platform_month_orders')"
        ).fetchone()
        assert tables == (0,)
        for schema in ("public", "proj_team_performance_v2"):
            rows = conn.execute(f"SELECT order_id FROM {schema}.performance_orders").fetchall()
            assert rows == [("done",)]
        assert conn.execute("SELECT count(*) FROM ledger_snapshots").fetchone() == (0,)
