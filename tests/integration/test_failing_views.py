"""A view that fails on an event stops alone, just before it (issue 9, decision 0019).

Writes keep succeeding, the other views stay current, the failure and its position are recorded
where reads, readiness and `projections status` see them; the view is tried again after a
backoff (at once in a new process), and a rebuild of it once its code is fixed brings it back.
"""

from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from domain.common import Audit
from projections.health import Operations
from projections.queries import VIEWS, PositionNotReady
from projections.rebuild import describe, rebuild, status
from projections.runner import ProjectionRunner, ViewFailed
from tests.fixtures.poison import FAILS_IN_CODE, FAILS_IN_DATABASE, poisoned

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def audit() -> Audit:
    return Audit("finance-1", T0, "")


def tracking(dsn: str, view: str) -> dict[str, Any]:
    with psycopg.connect(dsn, row_factory=dict_row) as conn:
        row = conn.execute(
            "SELECT t.*, extract(epoch FROM t.retry_at - t.failed_at) AS wait"
            " FROM projection_tracking t JOIN projection_versions v"
            " ON t.name = v.name || '@' || v.version WHERE v.name = %s",
            (view,),
        ).fetchone()
    assert row is not None
    return row


@pytest.mark.parametrize("poison", [FAILS_IN_CODE, FAILS_IN_DATABASE])
def test_a_failing_view_stops_alone_before_the_event(dsn: str, poison: int) -> None:
    with poisoned(dsn) as (fenrun, view):
        ledger = fenrun.ledger
        ledger.register_agent("A", "A", None, True, audit())
        ledger.top_up_deposit("A", 100, audit())
        fenrun.catch_up()
        bad = ledger.commit(ledger_top_up(poison)).position - 1  # the top-up; then its key
        after = ledger.commit(ledger_top_up(200)).position

        assert fenrun.catch_up() > 0  # no exception: the failure is the view's own
        stopped = tracking(dsn, "wallet_balances")
        assert stopped["position"] == bad - 1
        assert stopped["failed_position"] == bad
        assert stopped["failures"] == 1
        assert ("poisoned" if poison == FAILS_IN_CODE else "division by zero") in stopped[
            "last_error"
        ]
        assert 25 <= stopped["wait"] <= 35  # tried again in 30 s
        for other in set(VIEWS) - {"wallet_balances"}:
            assert tracking(dsn, other)["position"] == after, other
        # Its rows stop just before the bad event, the others' go on.
        assert fenrun.read.wallet("A", bad - 1)["deposit"] == 100
        assert fenrun.read.agent("A", after) is not None

        # Writes go on; the stopped view is skipped until its retry time.
        later = ledger.commit(ledger_top_up(300)).position
        fenrun.catch_up()
        assert tracking(dsn, "wallet_balances")["position"] == bad - 1
        assert tracking(dsn, "commissions")["position"] == later

        # Reads: a position it has not reached is refused, naming it; others are served.
        with pytest.raises(PositionNotReady) as refused:
            fenrun.read.pin(position=later, views=("directory", "wallet_balances"))
        assert [v.name for v in refused.value.views] == ["wallet_balances"]
        assert refused.value.views[0].failed_position == bad
        assert fenrun.read.pin(position=later, views=("directory",)).position == later
        pinned = fenrun.read.pin(views=("wallet_balances",))
        assert pinned.position == bad - 1
        assert [(v.name, v.lag) for v in pinned.behind] == [("wallet_balances", later - bad + 1)]

        # Operators see it.
        operations = Operations(fenrun.pool, 3, [fenrun.policy.name])
        assert list(operations.readiness().failing_views) == ["wallet_balances"]
        [line] = [describe(r) for r in status(fenrun.pool) if r["view"] == "wallet_balances"]
        assert f"STOPPED before the event at {bad}" in line

        # Its retry time come, it fails again on the same event: the wait doubles.
        _retry_now(dsn)
        fenrun.catch_up()
        again = tracking(dsn, "wallet_balances")
        assert (again["failed_position"], again["failures"]) == (bad, 2)
        assert 55 <= again["wait"] <= 65

        # Rebuilding it before its code is fixed fails on the same event and switches nothing.
        with pytest.raises(ViewFailed, match=f"position {bad}"):
            rebuild(fenrun.pool, fenrun.ledger.mapper.to_domain_event, view)
        assert tracking(dsn, "wallet_balances")["name"] == "wallet_balances@1"

        # Fixed and rebuilt: the view is back, every event in it.
        view.broken = False
        assert rebuild(fenrun.pool, fenrun.ledger.mapper.to_domain_event, view) == 2
        fenrun.catch_up()
        back = tracking(dsn, "wallet_balances")
        assert (back["name"], back["position"], back["failed_position"]) == (
            "wallet_balances@2",
            later,
            None,
        )
        assert back["last_error"] is None
        assert fenrun.read.wallet("A", later)["deposit"] == 100 + poison + 200 + 300
        assert operations.readiness().failing_views == {}


def test_a_new_process_tries_a_stopped_view_again_at_once(dsn: str) -> None:
    with poisoned(dsn) as (fenrun, view):
        ledger = fenrun.ledger
        ledger.register_agent("A", "A", None, True, audit())
        bad = ledger.commit(ledger_top_up(FAILS_IN_CODE)).position - 1  # the top-up; its key
        fenrun.catch_up()
        assert tracking(dsn, "wallet_balances")["failed_position"] == bad
        view.broken = False  # the fix deployed: this process still waits for the retry time
        fenrun.catch_up()
        assert tracking(dsn, "wallet_balances")["failed_position"] == bad
        restarted = ProjectionRunner(fenrun.pool, ledger.mapper.to_domain_event, [view])
        assert restarted.run_until_idle() > 0
        healed = tracking(dsn, "wallet_balances")
        assert (healed["position"], healed["failed_position"], healed["failures"]) == (
            fenrun.read.log_head(),
            None,
            0,
        )


def test_a_lost_connection_stops_no_view(dsn: str) -> None:
    with poisoned(dsn) as (fenrun, _):
        ledger = fenrun.ledger
        ledger.register_agent("A", "A", None, True, audit())
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = 'fenrun-views' AND datname = current_database()"
            )
        with pytest.raises(psycopg.OperationalError):
            fenrun.projections.run_once()  # the batch fails as a whole ...
        fenrun.catch_up()  # ... and is simply tried again
        for name in VIEWS:
            row = tracking(dsn, name)
            assert (row["position"], row["failed_position"]) == (fenrun.read.log_head(), None)


def ledger_top_up(amount: int) -> Any:
    from application.use_cases.wallets import TopUpDeposit

    return TopUpDeposit("A", amount, audit())


def _retry_now(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("UPDATE projection_tracking SET retry_at = now() WHERE retry_at IS NOT NULL")


def test_an_event_that_does_not_decode_stops_only_the_views_of_its_class(fenrun, dsn: str) -> None:
    from eventsourcing.utils import get_topic

    from domain.wallet import Wallet

    fenrun.ledger.register_agent("A", "A", None, True, audit())
    with psycopg.connect(dsn, autocommit=True) as conn:
        bad = conn.execute(
            "INSERT INTO ledger_events (originator_id, originator_version, topic, state)"
            " VALUES (gen_random_uuid(), 1, %s, 'not an event') RETURNING notification_id",
            (get_topic(Wallet.DepositToppedUp),),
        ).fetchone()[0]
    after = fenrun.ledger.commit(ledger_top_up(100)).position
    fenrun.catch_up()
    wallet_views = {"wallet_balances", "wallet_movements"}  # the views of balance events
    for name in wallet_views:
        stopped = tracking(dsn, name)
        assert (stopped["position"], stopped["failed_position"]) == (bad - 1, bad), name
    for other in set(VIEWS) - wallet_views:
        assert tracking(dsn, other)["position"] == after, other
