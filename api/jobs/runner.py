"""Runs queued jobs in processes of their own: outside the API's request threads and outside its
interpreter lock, so a simulation never slows the requests around it.

A thread in the hosting process (the API's lifespan starts one) claims queued jobs from the
table, at most `max_running_jobs` running across all processes, and hands each to a pool of
`job_processes` spawned processes; each of those keeps its own ledger connection for the jobs
it runs. The thread wakes when a job is queued or finishes (LISTEN/NOTIFY), else every poll
interval; it keeps its running jobs' heartbeats fresh, queues again the jobs of processes that
went silent, and forgets finished jobs past their retention.
"""

import multiprocessing
import os
import threading
import time
import uuid
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import structlog
from psycopg_pool import ConnectionPool

from api.jobs.simulations import PLAN_SIMULATION, run_plan_simulation
from api.jobs.store import CHANNEL, Job, JobStore
from api.observability.metrics import count_failure, job_run

log = structlog.get_logger(__name__)
JOB_NICENESS = 10
STALE_SECONDS = 30.0  # a running job whose heartbeat is older is taken as abandoned
_MAINTENANCE_EVERY = 10.0  # seconds between recovering stale jobs and forgetting old ones


@dataclass(frozen=True)
class JobConfig:
    """What a job process needs to open the ledger (picklable: passed to spawned processes)."""

    dsn: str
    price_factor: int
    business_timezone: str
    timeout_seconds: float


class _JobProcess:
    """The ledger and the job table, opened once per job process on its first job."""

    ledger: Any = None
    store: JobStore | None = None
    config: JobConfig | None = None


def _open(config: JobConfig) -> None:
    _JobProcess.config = config
    # Background work: when cores are short, the API's requests and the database go first.
    os.nice(JOB_NICENESS)


def run_job(id: uuid.UUID) -> None:
    """In a job process: runs the job if it is still this run's (claimed, not finished)."""
    from api.bootstrap import eventsourcing_env
    from application.ledger import Ledger

    config = _JobProcess.config
    assert config is not None, "job process started without its configuration"
    if _JobProcess.store is None:
        _JobProcess.store = JobStore(ConnectionPool(config.dsn, min_size=1, max_size=2))
        _JobProcess.ledger = Ledger(
            eventsourcing_env(config.dsn),
            price_factor=config.price_factor,
            business_tz=ZoneInfo(config.business_timezone),
        )
    job = _JobProcess.store.get(id)
    if job is None or job.status != "RUNNING":
        return
    if job.kind == PLAN_SIMULATION:
        run_plan_simulation(_JobProcess.ledger, _JobProcess.store, job, config.timeout_seconds)
    else:
        _JobProcess.store.fail(job.id, "UNKNOWN_JOB", f"no such kind of job: {job.kind}")


class JobRunner:
    def __init__(self, app: Any, store: JobStore) -> None:
        settings = app.settings
        self.store = store
        self.dsn = app.dsn
        self.settings = settings
        self.config = JobConfig(
            app.dsn,
            settings.price_factor,
            settings.business_timezone,
            settings.job_timeout_seconds,
        )
        self.executor: ProcessPoolExecutor | None = None
        self.running: dict[uuid.UUID, Future[None]] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="fenrun-jobs", daemon=True)
        self.maintained = 0.0

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        """Stops claiming, ends the job processes, and queues their jobs again (another process,
        or this one when it starts again, runs them)."""
        self.stopping.set()
        self._wake()
        self.thread.join(timeout=10)
        with self.lock:
            executor, self.executor = self.executor, None
            running = list(self.running)
            self.running.clear()
        if executor is not None:
            # The executor keeps its processes in a private dict (3.11 has no terminate_workers).
            processes = list(getattr(executor, "_processes", {}).values())
            executor.shutdown(wait=False, cancel_futures=True)
            for process in processes:  # a job may run for minutes: do not wait for it
                process.terminate()
        for id in running:
            self.store.requeue(id)

    def _wake(self) -> None:
        """A NOTIFY, so the loop's LISTEN returns now rather than after its poll interval (up
        to a minute: a shutdown, and every e2e test's, waited it out). Other processes' runners
        wake too and look for jobs once, as they do on every queued job."""
        try:
            with psycopg.connect(self.dsn, autocommit=True, connect_timeout=2) as conn:
                conn.execute(f"NOTIFY {CHANNEL}")
        except psycopg.Error:
            log.info("jobs.wake_failed", exc_info=True)  # the loop ends within its interval

    def _loop(self) -> None:
        while not self.stopping.is_set():
            try:
                with psycopg.connect(self.dsn, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    while not self.stopping.is_set():
                        self.tick()
                        for _ in conn.notifies(
                            timeout=self.settings.poll_interval_seconds, stop_after=1
                        ):
                            pass
            except Exception:
                count_failure("job")
                log.exception("jobs.loop_failed")
                self.stopping.wait(self.settings.poll_interval_seconds)

    def tick(self) -> None:
        """Maintains the table now and then, then claims jobs while this process has room."""
        with self.lock:
            running = list(self.running)
        self.store.heartbeat(running)
        now = time.monotonic()
        if now - self.maintained >= _MAINTENANCE_EVERY:
            self.maintained = now
            self.store.recover(STALE_SECONDS)
            self.store.forget(self.settings.job_retention_seconds)
        while not self.stopping.is_set() and len(self.running) < self.settings.job_processes:
            job = self.store.claim(self.settings.max_running_jobs)
            if job is None:
                return
            self._submit(job)

    def _submit(self, job: Job) -> None:
        with self.lock:
            if self.executor is None:
                self.executor = ProcessPoolExecutor(
                    max_workers=self.settings.job_processes,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_open,
                    initargs=(self.config,),
                )
            future = self.executor.submit(run_job, job.id)
            self.running[job.id] = future
        log.info("job.started", job=str(job.id), kind=job.kind, attempt=job.attempts)
        future.add_done_callback(lambda done: self._done(job, done))

    def _done(self, job: Job, future: Future[None]) -> None:
        with self.lock:
            self.running.pop(job.id, None)
        if future.cancelled():
            return
        error = future.exception()
        if error is None:
            job_run(job.kind, "ok")
            log.info("job.done", job=str(job.id), kind=job.kind)
            return
        job_run(job.kind, "failed")
        count_failure("job")
        log.error("job.failed", job=str(job.id), kind=job.kind, error=repr(error))
        self.store.fail(
            job.id, "JOB_FAILED", "the job failed unexpectedly; it is logged", attempt=job.attempts
        )
        if isinstance(error, BrokenProcessPool):
            with self.lock:  # a job process died: the pool cannot run anything more
                self.executor = None
