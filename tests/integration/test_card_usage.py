"""Cards on real PostgreSQL: carrier reports, usage ingested in bulk into the partitioned tables,
the quota rules' decisions as events, enterprise pools (decision 0030)."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest

from application.log import LedgerLog
from application.usage import UsageReport
from domain.common import Audit
from domain.errors import InvalidInput
from domain.lifecycle import CardStatus
from projections.cards import CardReads
from projections.verify import verify

SH = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 2, 9, tzinfo=SH)
MB = 1 << 20


def audit(when: datetime, reason: str = "") -> Audit:
    return Audit("ops", when, reason)


def setup(fenrun, clock, quota_mb: int = 100) -> None:
    clock.set(T0 + timedelta(days=20))
    ledger = fenrun.ledger
    ledger.register_agent("A", "A", None, True, audit(T0))
    ledger.define_package("P", "Monthly 100 MB", "TRAFFIC", 5000, 1, audit(T0))
    ledger.set_package_quota("P", quota_mb, audit(T0))
    for i in range(3):
        ledger.assign_card(f"C{i}", "A", "P", audit(T0))


def usage(iccid: str, report_id: str, mb: int, day: int, hour: int = 23) -> UsageReport:
    return UsageReport(
        iccid=iccid,
        report_id=report_id,
        bytes_used=mb * MB,
        reported_at=datetime(2026, 11, day, hour, tzinfo=SH),
        day=date(2026, 11, day),
    )


def test_usage_over_the_package_quota_decides_a_stop_once(fenrun, clock) -> None:
    setup(fenrun, clock)
    fenrun.catch_up()
    first = fenrun.record_usage_reports(
        [usage("C0", "r1", 60, 3), usage("C1", "r2", 10, 3)], "carrier-push"
    )
    assert (first.accepted, first.duplicates, first.commands_decided) == (2, 0, 0)
    again = fenrun.record_usage_reports(
        [usage("C0", "r1", 60, 3), usage("C0", "r3", 50, 4)], "carrier-push"
    )
    assert (again.accepted, again.duplicates, again.commands_decided) == (1, 1, 1)
    card = fenrun.ledger.card("C0")
    assert card.last_command[0] == "STOP"
    assert card.status == CardStatus.ASSIGNED
    assert fenrun.usage.card_month_bytes("C0", date(2026, 11, 1)) == 110 * MB
    # The next report over quota decides nothing more: the stop stands.
    more = fenrun.record_usage_reports([usage("C0", "r4", 5, 5)], "carrier-push")
    assert more.commands_decided == 0
    # The carrier reports it stopped: our state follows.
    fenrun.ledger.record_carrier_card_state(
        "C0", "CMCC", "4", T0 + timedelta(days=3), "s1", audit(T0 + timedelta(days=3))
    )
    fenrun.catch_up()
    row = CardReads(fenrun.read).card("C0", fenrun.read.caught_up())
    assert (row["state"], row["carrier_state"], row["last_command"]) == ("SUSPENDED", "4", "STOP")


def test_a_newer_report_of_the_same_day_replaces_an_older_one(fenrun, clock) -> None:
    setup(fenrun, clock)
    fenrun.catch_up()
    fenrun.record_usage_reports([usage("C1", "late", 30, 3, hour=22)], "push")
    fenrun.record_usage_reports([usage("C1", "early", 20, 3, hour=10)], "push")
    month = date(2026, 11, 1)
    assert fenrun.usage.card_month_bytes("C1", month) == 30 * MB
    fenrun.record_usage_reports([usage("C1", "later", 40, 3, hour=23)], "push")
    assert fenrun.usage.card_month_bytes("C1", month) == 40 * MB


def test_enterprise_pool_stops_all_then_top_up_resumes(fenrun, clock) -> None:
    setup(fenrun, clock, quota_mb=10_000)
    ledger = fenrun.ledger
    ledger.create_enterprise("E", "Acme", 100, None, "STOP_ALL", audit(T0))
    ledger.assign_enterprise_cards("E", ("C0", "C1"), audit(T0))
    fenrun.catch_up()
    done = fenrun.record_usage_reports([usage("C0", "e1", 70, 3), usage("C1", "e2", 40, 3)], "push")
    assert done.commands_decided == 2
    enterprise = ledger.find_enterprise("E")
    assert enterprise.stopped == {"C0": "POOL_QUOTA", "C1": "POOL_QUOTA"}
    topped = ledger.top_up_enterprise_pool("E", 50, audit(T0 + timedelta(days=4)))
    assert (topped.pool_quota_mb, topped.commands_decided) == (150, 2)
    assert ledger.find_enterprise("E").stopped == {}


def test_usage_tables_are_partitioned_by_month_and_months_drop_whole(fenrun, dsn, clock) -> None:
    setup(fenrun, clock)
    fenrun.catch_up()
    fenrun.record_usage_reports([usage("C2", "p1", 1, 3)], "push")
    with psycopg.connect(dsn) as conn:
        parts = {
            r[0]
            for r in conn.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                " JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname LIKE 'usage_%'"
            )
        }
    assert {"usage_reports_202611", "usage_daily_202611", "usage_monthly_202611"} <= parts
    assert fenrun.usage.drop_before(date(2026, 12, 1)) == 3
    assert fenrun.usage.card_month_bytes("C2", date(2026, 11, 1)) == 0


def test_card_states_in_the_view_agree_with_a_replay(fenrun, clock) -> None:
    setup(fenrun, clock)
    ledger = fenrun.ledger
    for hours, raw, rid in ((1, "6", "a"), (3, "2", "b"), (2, "7", "c"), (4, "4", "d")):
        at = T0 + timedelta(hours=hours)
        ledger.record_carrier_card_state("C0", "CMCC", raw, at, rid, audit(at))
    ledger.record_carrier_card_state("C1", "CTCC", "7", T0, "e", audit(T0))
    ledger.record_carrier_card_state("C1", "CTCC", "4", T0, "f", audit(T0))  # refused: final
    fenrun.catch_up()
    assert verify(fenrun.read, LedgerLog(fenrun.ledger), fenrun.settings.zone, samples=8) == []
    assert ledger.card("C0").status == CardStatus.SUSPENDED
    assert ledger.card("C1").status == CardStatus.CANCELLED


def test_cli_creates_and_prunes_partitions(fenrun, dsn, monkeypatch) -> None:
    from typer.testing import CliRunner

    from api.cli import app as cli

    monkeypatch.setenv("FENRUN_DATABASE_URL", dsn)
    runner = CliRunner()
    made = runner.invoke(cli, ["usage", "partitions", "2027-03"])
    assert made.exit_code == 0, made.output
    pruned = runner.invoke(cli, ["usage", "prune", "--keep-from", "2027-04"])
    assert pruned.exit_code == 0, pruned.output
    assert "dropped 3 partition(s)" in pruned.output


def test_a_month_pruned_by_another_process_is_created_again(fenrun, dsn, clock) -> None:
    setup(fenrun, clock)
    fenrun.catch_up()
    fenrun.record_usage_reports([usage("C2", "m1", 1, 3)], "push")
    with psycopg.connect(dsn, autocommit=True) as conn:  # another process prunes November
        for table in ("usage_reports", "usage_daily", "usage_monthly"):
            conn.execute("SELECT fenrun_usage_drop_before(%s, '2026-12-01')", (table,))
    again = fenrun.record_usage_reports([usage("C2", "m2", 2, 4)], "push")
    assert again.accepted == 1
    assert fenrun.usage.card_month_bytes("C2", date(2026, 11, 1)) == 2 * MB


def test_a_batch_with_a_day_far_from_today_is_refused_whole(fenrun, clock) -> None:
    setup(fenrun, clock)
    ancient = UsageReport("C1", "old", MB, T0, day=date(2001, 1, 1))
    with pytest.raises(InvalidInput, match="outside"):
        fenrun.record_usage_reports([usage("C1", "fine", 1, 3), ancient], "push")
    assert fenrun.usage.card_month_bytes("C1", date(2026, 11, 1)) == 0
