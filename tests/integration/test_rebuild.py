"""Rebuilding read models beside the live ones: queries never fail, the switch is atomic, a
crashed rebuild resumes, and the result equals replay."""

import threading
from datetime import UTC, datetime, timedelta

import psycopg

from api.bootstrap import build_views
from application.log import LedgerLog
from domain.common import Audit
from projections.rebuild import prepare, rebuild, status
from projections.reports import Reports
from projections.runner import ProjectionRunner
from projections.verify import verify
from tests.integration.test_verify import populate


def view(fenrun, name: str):
    return next(v for v in build_views(fenrun.settings.zone) if v.name == name)


def test_rebuild_while_reading_and_writing(fenrun, dsn: str) -> None:
    populate(fenrun)
    head = fenrun.read.caught_up()
    before = {name: fenrun.read.wallet(name, head) for name in "ABCD"}
    lines_before = fenrun.read.commissions(head, None, None, None, 100, None).rows
    failures: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        reports = Reports(fenrun.read)
        while not stop.is_set():
            try:
                at = fenrun.read.caught_up()
                assert fenrun.read.wallet("C", at) is not None
                fenrun.read.commissions(at, "A", None, None, 50, None)
                reports.performance("A", datetime(2026, 4, 1).date(), at)
            except BaseException as exc:  # collected and asserted below
                failures.append(exc)
                return

    def writer() -> None:
        for i in range(20):
            when = datetime(2026, 6, 1, tzinfo=UTC) + timedelta(hours=i)
            fenrun.ledger.place_order(
                f"w{i}", "P", "B", None, "x", "CUSTOMER_PAYS", Audit("ops", when)
            )
            fenrun.ledger.complete_order(f"w{i}", Audit("ops", when))
            fenrun.catch_up()

    threads = [threading.Thread(target=reader, daemon=True) for _ in range(2)]
    threads.append(threading.Thread(target=writer, daemon=True))
    for t in threads:
        t.start()
    try:
        # Directory first: no view may depend on another view's tables.
        for name in (
            "directory",
            "platform_totals",
            "commissions",
            "team_performance",
            "wallet_balances",
            "activations",
            "platform_months",
            "wallet_movements",
            "statements",
        ):
            assert (
                rebuild(
                    fenrun.pool,
                    fenrun.ledger.mapper.to_domain_event,
                    view(fenrun, name),
                    batch_size=7,
                    close_enough=3,
                )
                == 2
            )
        threads[-1].join(timeout=120)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert failures == []
    fenrun.catch_up()

    live = {(r["view"], r["version"]) for r in status(fenrun.pool) if r["live"]}
    assert ("commissions", 2) in live
    assert ("wallet_balances", 2) in live
    assert not any(r["view"] == "commissions" and r["version"] == 1 for r in status(fenrun.pool))
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT to_regclass('public.commission_lines')").fetchone() == (None,)
    # The same answers at the old position, and everything equals replay.
    assert {name: fenrun.read.wallet(name, head) for name in "ABCD"} == before
    assert fenrun.read.commissions(head, None, None, None, 100, None).rows == lines_before
    assert (
        verify(
            fenrun.read,
            LedgerLog(fenrun.ledger),
            fenrun.settings.zone,
            samples=30,
            seed=4,
        )
        == []
    )


def test_a_crashed_rebuild_resumes(fenrun) -> None:
    populate(fenrun)
    commissions = view(fenrun, "commissions")
    version, schema = prepare(fenrun.pool, commissions)
    partial = ProjectionRunner(
        fenrun.pool,
        fenrun.ledger.mapper.to_domain_event,
        [commissions],
        batch_size=10,
        target=(version, schema),
    )
    partial.run_once()
    partial.run_once()  # ... and the process dies here
    building = [r for r in status(fenrun.pool) if r["view"] == "commissions" and not r["live"]]
    assert [r["position"] for r in building] == [20]
    seen: list[int] = []
    rebuild(
        fenrun.pool,
        fenrun.ledger.mapper.to_domain_event,
        view(fenrun, "commissions"),
        batch_size=10,
        progress=lambda p: seen.append(p.position),
    )
    assert seen[0] == 30  # resumed after the 20 events already built
    assert (
        verify(
            fenrun.read,
            LedgerLog(fenrun.ledger),
            fenrun.settings.zone,
            samples=20,
            seed=5,
        )
        == []
    )
