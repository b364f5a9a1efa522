"""The jobs table (api/jobs/store.py): claims bounded across processes, runs that went silent
queued again, a stale run unable to overwrite a newer one, idempotent starts, expiry; and the
progress reporter a job's replay calls."""

import uuid
from typing import Any

import psycopg
import pytest

from api.jobs.simulations import PLAN_SIMULATION, JobStopped, Reporter
from api.jobs.store import FAILED, MAX_ATTEMPTS, QUEUED, RUNNING, SUCCEEDED, JobStore
from domain.errors import IdempotencyKeyReused

INPUT = {"code": "ml", "rules": [], "from": "2026-03-01T00:00:00+08:00", "to": None}


@pytest.fixture
def store(fenrun: Any) -> JobStore:
    return fenrun.jobs


def start(store: JobStore, key: str | None = None, **input: Any) -> Any:
    return store.start(PLAN_SIMULATION, {**INPUT, **input}, 100, "finance-1", key)


def age(dsn: str, id: uuid.UUID, column: str, seconds: int) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute(
            f"UPDATE jobs SET {column} = now() - make_interval(secs => %s) WHERE id = %s",
            (seconds, id),
        )


def test_a_job_goes_from_queued_to_running_to_succeeded(store: JobStore) -> None:
    job = start(store)
    assert (job.status, job.progress, job.attempts, job.position) == (QUEUED, 0, 0, 100)
    assert job.started_at is None
    claimed = store.claim(max_running=1)
    assert claimed is not None
    assert (claimed.id, claimed.status, claimed.attempts) == (job.id, RUNNING, 1)
    assert claimed.started_at is not None
    assert store.progress(job.id, 0.4, attempt=1)
    assert store.progress(job.id, 0.2, attempt=1)  # never goes back
    progressed = store.get(job.id)
    assert progressed is not None
    assert progressed.progress == pytest.approx(0.4)
    store.succeed(job.id, {"answer": 42}, attempt=1)
    done = store.get(job.id)
    assert done is not None
    assert (done.status, done.progress, done.finished) == (SUCCEEDED, 1, True)
    assert store.result(job.id) == {"answer": 42}


def test_no_more_than_max_running_at_once(store: JobStore) -> None:
    first, second, third = start(store), start(store), start(store)
    assert store.claim(max_running=2).id == first.id  # type: ignore[union-attr]
    assert store.claim(max_running=2).id == second.id  # type: ignore[union-attr]
    assert store.claim(max_running=2) is None  # two run: the third waits
    store.fail(first.id, "X", "failed", attempt=1)
    assert store.claim(max_running=2).id == third.id  # type: ignore[union-attr]
    assert store.claim(max_running=5) is None  # nothing left queued


def test_the_same_key_gives_the_same_job_and_another_input_is_refused(store: JobStore) -> None:
    job = start(store, key="k1")
    assert start(store, key="k1").id == job.id
    with pytest.raises(IdempotencyKeyReused):
        start(store, key="k1", code="other")
    assert start(store, key="k2").id != job.id
    assert start(store).id != start(store).id  # no key: a new job each time


def test_a_silent_run_is_queued_again_then_failed_after_its_attempts(
    store: JobStore, dsn: str
) -> None:
    job = start(store)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        claimed = store.claim(max_running=1)
        assert claimed is not None
        assert claimed.attempts == attempt
        assert store.recover(stale_seconds=30) == 0  # its heartbeat is fresh
        age(dsn, job.id, "heartbeat_at", 60)
        assert store.recover(stale_seconds=30) == 1
        # The silent run cannot write over what happens next.
        assert not store.progress(job.id, 0.5, attempt=attempt)
        store.succeed(job.id, {"stale": True}, attempt=attempt)
    found = store.get(job.id)
    assert found is not None
    assert found.status == FAILED
    assert found.error is not None
    assert found.error["code"] == "JOB_INTERRUPTED"
    assert store.result(job.id) is None


def test_a_run_stopped_on_purpose_is_not_counted_as_an_attempt(store: JobStore) -> None:
    job = start(store)
    store.claim(max_running=1)
    store.requeue(job.id)
    found = store.get(job.id)
    assert found is not None
    assert (found.status, found.attempts, found.started_at) == (QUEUED, 0, None)


def test_finished_jobs_are_forgotten_after_their_retention(store: JobStore, dsn: str) -> None:
    old, recent, waiting = start(store), start(store), start(store)
    for job in (old, recent):
        store.claim(max_running=5)
        store.succeed(job.id, {}, attempt=1)
    age(dsn, old.id, "finished_at", 7200)
    assert store.forget(older_than_seconds=3600) == 1
    assert store.get(old.id) is None
    assert store.get(recent.id) is not None
    assert store.get(waiting.id) is not None  # unfinished jobs are never forgotten


def test_inputs_with_nul_and_control_characters_are_stored(store: JobStore) -> None:
    # jsonb cannot hold NUL: the table keeps JSON text, so any string the API accepted fits.
    job = start(store, code="a\x00b\x01", rules=[{"code": "\x00"}])
    found = store.get(job.id)
    assert found is not None
    assert found.input["code"] == "a\x00b\x01"
    assert found.input["rules"] == [{"code": "\x00"}]


class FakeStore:
    def __init__(self, ours: bool = True) -> None:
        self.written: list[float] = []
        self.ours = ours

    def progress(self, id: uuid.UUID, fraction: float, attempt: int) -> bool:
        self.written.append(fraction)
        return self.ours


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def reporter(store: FakeStore, clock: Clock, timeout: float = 60) -> Reporter:
    job = start_job(position=1000)
    return Reporter(store, job, timeout, clock)  # type: ignore[arg-type]


def start_job(position: int) -> Any:
    from datetime import UTC, datetime

    from api.jobs.store import Job

    return Job(
        uuid.uuid4(), PLAN_SIMULATION, RUNNING, INPUT, position, "a", None, 0, None, 1,
        datetime.now(UTC), None, None,
    )  # fmt: skip


def test_progress_is_written_now_and_then_as_a_fraction_of_the_log() -> None:
    store, clock = FakeStore(), Clock()
    report = reporter(store, clock)
    report(100)  # at once: not written yet
    clock.now = 0.6
    report(250)
    clock.now = 0.7
    report(300)  # within half a second of the last write
    clock.now = 1.2
    report(500)
    assert store.written == [0.25, 0.5]


def test_a_replay_past_its_time_or_taken_elsewhere_stops() -> None:
    clock = Clock()
    report = reporter(FakeStore(), clock, timeout=5)
    clock.now = 5.1
    with pytest.raises(JobStopped) as stopped:
        report(100)
    assert stopped.value.code == "TIMEOUT"
    taken = reporter(FakeStore(ours=False), clock)
    clock.now = 6.0
    with pytest.raises(JobStopped) as stopped:
        taken(100)
    assert stopped.value.code == "JOB_TAKEN"
