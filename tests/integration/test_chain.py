"""The event log's hash chain (decision 0017): written on every save, recomputed independently,
and every edit made behind Fenrun's back (altered, deleted, inserted) found and named."""

import threading
import uuid
from datetime import UTC, datetime

import psycopg
import pytest

from api.bootstrap import build_views
from domain.common import Audit
from projections.chain import GENESIS, Break, ChainBroken, ChainVerifier, chain_head, link
from projections.rebuild import rebuild
from projections.verify import verify

T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)
COLUMNS = "notification_id, originator_id, originator_version, topic, state"


def history(fenrun, orders: int = 2) -> None:
    """A few one-event saves, then policy saves that write several events each."""
    ledger, a = fenrun.ledger, Audit("ops", T0)
    for code, parent in (("A", None), ("B", "A"), ("C", "B")):
        ledger.register_agent(code, code, parent, True, a)
    ledger.define_package("P", "P", "TRAFFIC", 5000, 1, a)
    for code, cost in (("A", 6000), ("B", 7000), ("C", 8000)):
        ledger.set_cost_price(code, "P", cost, a)
    ledger.set_retail_price("C", "P", 10000, a)
    ledger.define_commission_plan("p", T0, [{"code": "pct", "kind": "PERCENTAGE", "rate": "5%"}], a)
    for i in range(orders):
        ledger.place_order(f"o{i}", "P", "C", None, "cust", "CUSTOMER_PAYS", a)
        ledger.complete_order(f"o{i}", a)
    fenrun.catch_up()


def attacker(dsn: str) -> psycopg.Connection:
    """A superuser who switches triggers off for the session, as the issue's tamperer could."""
    conn = psycopg.connect(dsn, autocommit=True)
    conn.execute("SET session_replication_role = replica")
    return conn


def first_break(fenrun) -> Break | None:
    return ChainVerifier(fenrun.pool, batch_size=7).verify().first_break


def position_holding(dsn: str, needle: bytes) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT min(notification_id) FROM ledger_events WHERE position(%s IN state) > 0",
            (needle,),
        ).fetchone()
    assert row is not None
    assert row[0], needle
    return row[0]


def test_every_save_links_to_the_event_before_it(fenrun, dsn: str) -> None:
    history(fenrun)
    # Concurrent saves: the writers' table lock orders them, so the chain never forks.
    a = Audit("ops", T0)
    workers = [
        threading.Thread(
            target=lambda n=n: [
                fenrun.ledger.register_agent(f"T{n}-{i}", "t", "A", True, a) for i in range(5)
            ]
        )
        for n in range(4)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            f"SELECT {COLUMNS}, c.previous, c.hash FROM ledger_events e"
            " JOIN ledger_chain c ON c.position = e.notification_id ORDER BY notification_id"
        ).fetchall()
        links = conn.execute("SELECT count(*) FROM ledger_chain").fetchone()
        saves = conn.execute(
            "SELECT count(*) FROM (SELECT xmin FROM ledger_events GROUP BY xmin"
            " HAVING count(*) > 1) s"
        ).fetchone()
    assert saves is not None
    assert saves[0] >= 2  # several events per INSERT were chained too
    assert links == (len(rows),)
    expected, previous = GENESIS, 0
    for row in rows:
        expected = link(expected, *row[:5])
        assert (row[5], row[6]) == (previous, expected)  # SQL and Python agree
        previous = row[0]
    report = ChainVerifier(fenrun.pool, batch_size=7).verify()
    assert report.first_break is None
    assert report.checked == len(rows) >= 20 + 20
    assert report.head == chain_head(fenrun.pool)
    assert (report.head.position, report.head.hash) == (rows[-1][0], expected)


def edit_an_amount(conn: psycopg.Connection, dsn: str) -> int:
    """B's cost price 70.00 edited to 7,000.00 in the stored event, as in the issue: returns
    the event's position."""
    position = position_holding(dsn, b"7000")
    conn.execute(
        "UPDATE ledger_events SET state = convert_to("
        " replace(convert_from(state, 'UTF8'), '7000', '700000'), 'UTF8')"
        " WHERE notification_id = %s",
        (position,),
    )
    return position


def test_an_altered_state_is_named_and_refused_by_rebuild_and_verify(fenrun, dsn: str) -> None:
    history(fenrun)
    with attacker(dsn) as conn:
        altered = edit_an_amount(conn, dsn)
    assert first_break(fenrun) == Break(
        altered, "altered", "its content does not match its stored hash"
    )
    view = next(v for v in build_views(fenrun.settings.zone) if v.name == "directory")
    with pytest.raises(ChainBroken, match=f"position {altered} \\(altered\\)"):
        rebuild(fenrun.pool, fenrun.ledger.mapper.to_domain_event, view)
    with psycopg.connect(dsn) as conn:  # refused before it built anything
        built = conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'proj\\_%'")
        assert built.fetchone() == (0,)
    [line] = verify(fenrun.read, fenrun.ledger.mapper.to_domain_event, fenrun.settings.zone, 3)
    assert line == (
        f"event log: the event log does not match its hash chain at position {altered}"
        " (altered): its content does not match its stored hash"
    )


@pytest.mark.parametrize(
    ("which", "also_its_link"),
    # The last event deleted with its link leaves a consistent, shorter chain: only a notarized
    # head catches that (test_a_notarized_head_catches_a_rewritten_chain_and_a_cut_tail).
    [("middle", False), ("middle", True), ("first", False), ("first", True), ("last", False)],
)
def test_a_deleted_event_is_named(fenrun, dsn: str, which: str, also_its_link: bool) -> None:
    history(fenrun)
    head = fenrun.read.log_head()
    position = {"middle": head // 2, "first": 1, "last": head}[which]
    with attacker(dsn) as conn:
        conn.execute("DELETE FROM ledger_events WHERE notification_id = %s", (position,))
        if also_its_link:
            conn.execute("DELETE FROM ledger_chain WHERE position = %s", (position,))
    found = first_break(fenrun)
    assert found is not None
    assert (found.position, found.problem) == (position, "missing")


def _history_with_a_gap(fenrun, dsn: str) -> int:
    """A position left free by a rolled-back insert, as the sequence leaves them: returns it."""
    history(fenrun, orders=1)
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT nextval('ledger_events_notification_id_seq')").fetchone()
    assert row is not None
    fenrun.ledger.register_agent("Z", "Z", None, True, Audit("ops", T0))
    assert first_break(fenrun) is None  # a gap alone is not a break
    return row[0]


@pytest.mark.parametrize("link_forged", ["none", "valid", "garbage"])
def test_an_event_inserted_in_the_middle_is_named(fenrun, dsn: str, link_forged: str) -> None:
    gap = _history_with_a_gap(fenrun, dsn)
    with psycopg.connect(dsn) as conn:
        before = conn.execute("SELECT hash FROM ledger_chain WHERE position = %s", (gap - 1,))
        previous_hash = before.fetchone()[0]
        template = conn.execute(f"SELECT {COLUMNS} FROM ledger_events WHERE notification_id = 1")
        originator, topic = template.fetchone()[1::2][:2]
    state = b'{"forged":true}'
    with attacker(dsn) as conn:
        conn.execute(
            "INSERT INTO ledger_events (notification_id, originator_id, originator_version,"
            " topic, state) VALUES (%s, %s, 99, %s, %s)",
            (gap, originator, topic, state),
        )
        if link_forged != "none":
            digest = link(previous_hash, gap, originator, 99, topic, state)
            conn.execute(
                "INSERT INTO ledger_chain (position, previous, hash) VALUES (%s, %s, %s)",
                (gap, gap - 1, digest if link_forged == "valid" else bytes(32)),
            )
    found = first_break(fenrun)
    assert found is not None
    assert (found.position, found.problem) == (gap, "inserted")


def test_the_database_refuses_an_insert_in_the_middle(fenrun, dsn: str) -> None:
    gap = _history_with_a_gap(fenrun, dsn)
    with psycopg.connect(dsn) as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(
            "INSERT INTO ledger_events (notification_id, originator_id, originator_version,"
            " topic, state) VALUES (%s, gen_random_uuid(), 0, 't', '\\x')",
            (gap,),
        )


def test_a_notarized_head_catches_a_rewritten_chain_and_a_cut_tail(fenrun, dsn: str) -> None:
    history(fenrun)
    notarized = chain_head(fenrun.pool)
    anchor = (notarized.position, notarized.hash)
    assert ChainVerifier(fenrun.pool).verify(anchor=anchor).first_break is None
    with attacker(dsn) as conn:  # edit, then recompute every later link: a consistent chain
        altered = edit_an_amount(conn, dsn)
        row = conn.execute("SELECT hash FROM ledger_chain WHERE position = %s", (altered - 1,))
        digest = row.fetchone()[0]
        events = conn.execute(
            f"SELECT {COLUMNS} FROM ledger_events WHERE notification_id >= %s"
            " ORDER BY notification_id",
            (altered,),
        ).fetchall()
        for event in events:
            digest = link(digest, *event)
            conn.execute(
                "UPDATE ledger_chain SET hash = %s WHERE position = %s", (digest, event[0])
            )
    assert ChainVerifier(fenrun.pool).verify().first_break is None  # undetectable alone
    found = ChainVerifier(fenrun.pool).verify(anchor=anchor).first_break
    assert found is not None
    assert (found.position, found.problem) == (notarized.position, "altered")
    with attacker(dsn) as conn:  # the tail cut off, event and link
        conn.execute("DELETE FROM ledger_events WHERE notification_id = %s", (notarized.position,))
        conn.execute("DELETE FROM ledger_chain WHERE position = %s", (notarized.position,))
    assert ChainVerifier(fenrun.pool).verify().first_break is None  # undetectable alone
    found = ChainVerifier(fenrun.pool).verify(anchor=anchor).first_break
    assert found is not None
    assert (found.position, found.problem) == (notarized.position, "missing")


@pytest.mark.parametrize("table", ["ledger_events", "ledger_chain"])
def test_the_log_refuses_edits_outside_migrations(fenrun, dsn: str, table: str) -> None:
    history(fenrun, orders=0)
    with psycopg.connect(dsn, autocommit=True) as conn:  # even a superuser, by mistake
        for statement in (
            f"UPDATE {table} SET state = state"
            if table == "ledger_events"
            else f"UPDATE {table} SET hash = hash",
            f"DELETE FROM {table}",
            f"TRUNCATE {table}",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                conn.execute(statement)
        with conn.transaction():  # what api/migrate.py does for each migration
            conn.execute("SET LOCAL fenrun.migration = 'on'")
            conn.execute(
                f"UPDATE {table} SET position = position"
                if table == "ledger_chain"
                else "UPDATE ledger_events SET recorded_at = recorded_at"
            )
    assert first_break(fenrun) is None


@pytest.mark.parametrize(
    ("topic", "state"),
    [
        ("domain.agent:Agent.Registered", b'{"code":"A"}'),
        ("分润:事件", b""),  # non-ASCII topic: its UTF-8 bytes, whatever the client encoding
        (None, None),  # NULL is not empty: length -1
        ("", b"\x00\xff"),
    ],
)
def test_sql_and_python_hash_alike(dsn: str, topic: str | None, state: bytes | None) -> None:
    previous, originator = bytes(range(32)), uuid.UUID("12345678-1234-5678-1234-567812345678")
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT ledger_chain_link(%s::bytea, %s::bigint, %s::uuid, %s::bigint, %s::text,"
            " %s::bytea)",
            (previous, 2**40 + 3, originator, 7, topic, state),
        ).fetchone()
    assert row == (link(previous, 2**40 + 3, originator, 7, topic, state),)
    assert link(previous, 1, originator, 7, None, None) != link(previous, 1, originator, 7, "", b"")
