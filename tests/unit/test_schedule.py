"""Schedules for the worker's jobs: intervals, cron expressions in the business zone, off."""

import threading
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from api.worker import Job, Worker, scheduled_jobs
from application.schedule import Cron, Interval, parse_schedule
from application.settings import Settings

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_intervals() -> None:
    assert parse_schedule("90s", SHANGHAI) == Interval(timedelta(seconds=90))
    assert parse_schedule("15m", SHANGHAI) == Interval(timedelta(minutes=15))
    assert parse_schedule(" 1h ", SHANGHAI) == Interval(timedelta(hours=1))
    at = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_schedule("1d", SHANGHAI).next_after(at) == at + timedelta(days=1)  # type: ignore[union-attr]


def test_cron_is_read_in_the_business_zone() -> None:
    daily = parse_schedule("0 2 * * *", SHANGHAI)
    assert daily == Cron("0 2 * * *", SHANGHAI)
    # 2026-01-01 00:00 UTC is 08:00 in Shanghai: the next 02:00 there is 2026-01-01 18:00 UTC.
    later = daily.next_after(datetime(2026, 1, 1, tzinfo=UTC))  # type: ignore[union-attr]
    assert later == datetime(2026, 1, 1, 18, tzinfo=UTC)


def test_off_and_nonsense() -> None:
    assert parse_schedule("off", SHANGHAI) is None
    assert parse_schedule("OFF", SHANGHAI) is None
    for bad in ("", "0s", "15", "15 minutes", "* * *", "61 * * * *", "every day"):
        with pytest.raises(ValueError, match="neither" if bad != "0s" else "at least"):
            parse_schedule(bad, SHANGHAI)
    with pytest.raises(ValueError, match="release_schedule"):
        Settings(release_schedule="sometimes")


def test_jobs_run_at_start_then_on_schedule() -> None:
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    ran: list[datetime] = []

    def job(_app: object, at: datetime) -> dict[str, object]:
        ran.append(at)
        return {"requestIds": ["r"]}

    worker = Worker(
        SimpleNamespace(settings=Settings()),  # type: ignore[arg-type]
        [Job("release_due", Interval(timedelta(minutes=15)), job)],
        threading.Event(),
        clock=lambda: now[0],
    )
    worker.run_due_jobs()
    assert ran == [now[0]]
    for minutes in (1, 14):
        now[0] = datetime(2026, 1, 1, 0, minutes, tzinfo=UTC)
        worker.run_due_jobs()
    assert len(ran) == 1
    now[0] = datetime(2026, 1, 1, 0, 15, tzinfo=UTC)
    worker.run_due_jobs()
    assert ran[-1] == now[0]
    assert len(ran) == 2


def test_a_failing_job_is_tried_again_at_its_next_time() -> None:
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    calls = []

    def job(_app: object, at: datetime) -> dict[str, object]:
        calls.append(at)
        raise RuntimeError("database away")

    worker = Worker(
        SimpleNamespace(settings=Settings()),  # type: ignore[arg-type]
        [Job("release_due", Interval(timedelta(seconds=30)), job)],
        threading.Event(),
        clock=lambda: now[0],
    )
    worker.run_due_jobs()
    now[0] += timedelta(seconds=30)
    worker.run_due_jobs()
    assert len(calls) == 2


def test_the_release_job_follows_the_setting() -> None:
    def app(schedule: str) -> SimpleNamespace:
        return SimpleNamespace(
            settings=Settings(release_schedule=schedule, statement_schedule="off")
        )

    assert [job.name for job in scheduled_jobs(app("15m"))] == ["release_due"]  # type: ignore[arg-type]
    assert scheduled_jobs(app("off")) == []  # type: ignore[arg-type]
    [job] = scheduled_jobs(app("0 2 * * *"))  # type: ignore[arg-type]
    assert job.schedule == Cron("0 2 * * *", ZoneInfo("Asia/Shanghai"))


def test_the_statement_job_follows_its_settings() -> None:
    settings = Settings(release_schedule="off", statement_schedule="0 4 1 * *")
    [job] = scheduled_jobs(SimpleNamespace(settings=settings))  # type: ignore[arg-type]
    assert job.name == "generate_statements"
    assert job.schedule == Cron("0 4 1 * *", ZoneInfo("Asia/Shanghai"))
    with pytest.raises(ValueError, match="statement_schedule"):
        Settings(statement_schedule="sometimes")
    with pytest.raises(ValueError, match="statement_cycle"):
        Settings(statement_cycle="yearly")  # type: ignore[arg-type]
