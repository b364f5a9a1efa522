"""A pin in one statement answers what the views' progress and a second look-up answered, and a
wallet in one statement what the agent's and the balances' reads answered (decision 0033)."""

from datetime import UTC, datetime

import psycopg

from domain.common import Audit
from domain.wallet import BUCKETS
from projections.queries import VIEWS, decode_cursor, encode_cursor

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _reference(read, views: tuple[str, ...]) -> tuple[int, datetime | None]:
    """The two-step answer: every view's progress, then the recorded time of the position."""
    ready = read.progress().reached(views)
    return ready, read.recorded_at(ready) if ready else None


def test_a_pin_in_one_statement_answers_as_the_progress_and_its_time(fenrun, clock) -> None:
    clock.set(T0)
    read = fenrun.read
    assert read.pin(views=("directory",)).position == 0  # nothing recorded, nothing projected
    fenrun.ledger.register_agent("A", "A", None, True, Audit("finance-1", T0, ""))
    fenrun.catch_up()
    fenrun.ledger.register_agent("B", "B", "A", True, Audit("finance-1", T0, ""))
    for views in [("directory",), ("wallet_balances", "directory"), VIEWS, ()]:
        pinned = read.pin(views=views)
        assert (pinned.position, pinned.as_of) == _reference(read, views), views
        assert pinned.position > 0, views
    fenrun.catch_up()
    pinned = read.pin(views=("directory",))
    assert (pinned.position, pinned.as_of) == _reference(read, ("directory",))
    assert pinned.as_of is not None


def test_a_wallet_in_one_statement(fenrun, clock) -> None:
    clock.set(T0)
    fenrun.ledger.register_agent("A", "A", None, True, Audit("finance-1", T0, ""))
    fenrun.catch_up()
    at = fenrun.read.pin(views=("directory", "wallet_balances")).position
    assert fenrun.read.wallet("A", at) == dict.fromkeys(BUCKETS, 0)  # registered, no movement
    assert fenrun.read.wallet("A", 0) is None  # not yet registered there
    for position in range(at + 1):  # as the agent's own read says, at every position
        registered = fenrun.read.agent("A", position) is not None
        assert (fenrun.read.wallet("A", position) is not None) == registered, position
    assert fenrun.read.wallet("nobody", at) is None


def _old_page(read, at: int, agent: str | None, first: int, after: str | None) -> list[str]:
    """The page as the join-then-cut form answered it (still used with a status filter)."""
    params: dict = {"at": at, "limit": first}
    sql = read._COMMISSION_AS_OF
    if agent is not None:
        sql += " AND l.agent_code = %(agent)s"
        params["agent"] = agent
    if after:
        position, cid = decode_cursor(after, 2)
        sql += " AND (l.position, l.id) > (%(apos)s, %(aid)s)"
        params.update(apos=int(position), aid=cid)
    return [r["id"] for r in read._all(sql + " ORDER BY position, id LIMIT %(limit)s", params)]


def test_a_page_of_lines_cut_before_its_statuses_holds_the_same_rows(fenrun, dsn) -> None:
    # Lines as the commissions view writes them: each with a status row at its own position,
    # some moving on later (projections/views.py).
    with psycopg.connect(dsn) as conn:
        for n in range(1, 13):
            conn.execute(
                "INSERT INTO commission_lines (id, agent_code, kind, original_fen, base_fen,"
                " source, plan_code, plan_version, rule_code, hold_days, facts, effective_at,"
                " recorded_at, position, current_status, current_fen, releasable_at)"
                " VALUES (%s, %s, 'PCT', 100, 1000, 'order', 'p', 1, 'r', 0, '{}', %s, %s, %s,"
                " 'FROZEN', 100, %s)",
                (f"c{n:02}", "A" if n % 2 else "B", T0, T0, n * 10, T0),
            )
            moves = [(n * 10, "FROZEN")] + ([(n * 10 + 35, "AVAILABLE")] if n % 3 == 0 else [])
            for position, status in moves:
                conn.execute(
                    "INSERT INTO commission_status_history (commission_id, position, status,"
                    " amount_fen, event, recorded_at, effective_at, actor, reason)"
                    " VALUES (%s, %s, %s, 100, 'e', %s, %s, 'x', '')",
                    (f"c{n:02}", position, status, T0, T0),
                )
    read = fenrun.read
    for at in (0, 10, 45, 95, 200):
        for agent in (None, "A", "B"):
            for first in (1, 3, 20):
                after = None
                for _ in range(15):  # every page of this read, cursor after cursor
                    page = read.commissions(at, agent, None, None, first, after)
                    ids = [r["id"] for r in page.rows]
                    assert ids == _old_page(read, at, agent, first, after), (at, agent, first)
                    statuses = {r["id"]: r["status"] for r in page.rows}
                    for cid, status in statuses.items():
                        moved = int(cid[1:]) % 3 == 0 and int(cid[1:]) * 10 + 35 <= at
                        assert status == ("AVAILABLE" if moved else "FROZEN"), (cid, at)
                    if not page.has_next:
                        break
                    last = page.rows[-1]
                    after = encode_cursor(last["position"], last["id"])
