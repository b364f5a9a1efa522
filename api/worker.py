"""The worker process: the policies, the views and the scheduled jobs, until SIGTERM or SIGINT.

A stop request is honoured between batches: the batch in hand is finished (each is one
transaction, so stopping mid-batch would only throw work away), then the process closes what it
opened, including an embedded server it started, and exits 0.

Scheduled jobs run once at start (catching up with whatever fell due while no worker ran), then
on their schedule. Each job runs in one worker only: run one worker per job (docs/operations.md).
"""

import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from api.bootstrap import Fenrun
from api.carrier_polls import poll_now
from api.observability.metrics import count_failure, job_run
from application.schedule import Schedule, parse_schedule
from application.use_cases.commissions import ReleaseDueCommissions
from domain.common import Audit

log = structlog.get_logger(__name__)
RELEASE_ACTOR = "system:release-job"
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Job:
    name: str
    schedule: Schedule
    run: Callable[[Fenrun, datetime], dict[str, Any]]


def release_due(
    fenrun: Fenrun, now: datetime, actor: str = RELEASE_ACTOR, time_given: bool = False
) -> Any:
    """Turn frozen commissions whose hold has elapsed at ``now`` into unfreeze requests."""
    audit = Audit(actor, now, "hold period elapsed", time_given)
    return fenrun.workflows.submit(ReleaseDueCommissions(audit=audit))


def scheduled_jobs(fenrun: Fenrun) -> list[Job]:
    settings = fenrun.settings
    release = parse_schedule(settings.release_schedule, settings.zone)
    jobs = [] if release is None else [Job("release_due", release, release_due)]
    poll = parse_schedule(settings.carrier_poll_schedule, settings.zone)
    if poll is not None and settings.carrier_poll:
        jobs.append(Job("carrier_poll", poll, poll_now))  # carriers that do not push (0031)
    return jobs


class Worker:
    def __init__(
        self, fenrun: Fenrun, jobs: list[Job], stopping: threading.Event, clock: Clock = utc_now
    ) -> None:
        self.fenrun = fenrun
        self.jobs = jobs
        self.stopping = stopping
        self.clock = clock
        started = clock()
        self.due = {job.name: started for job in jobs}

    def run(self, once: bool = False) -> None:
        log.info("worker.started", jobs={job.name: str(job.schedule) for job in self.jobs})
        while not self.stopping.is_set():
            self.catch_up()
            self.dispatch()
            if once:
                break
            self.run_due_jobs()
            self.stopping.wait(self.fenrun.settings.poll_interval_seconds)
        log.info("worker.stopped")

    def catch_up(self) -> int:
        """Batch by batch, so that a stop request waits for one batch, not the whole backlog."""
        app, total = self.fenrun, 0
        while not self.stopping.is_set():
            try:
                done = (
                    app.policy.run_once() + app.level_policy.run_once() + app.projections.run_once()
                )
            except Exception as exc:
                # Not skipped: logged, shown as the views' last error, tried again next tick.
                count_failure("worker")
                log.exception("worker.batch_failed")
                try:
                    app.projections.record_error(exc)
                except Exception:
                    log.exception("worker.record_error_failed")
                break
            if not done:
                break
            total += done
        if total:
            log.info("worker.caught_up", events=total, position=app.read.caught_up())
        return total

    def dispatch(self) -> int:
        """Sends the outbox's due commands (decision 0026); a failure waits for the next tick."""
        total = 0
        while not self.stopping.is_set():
            try:
                done = self.fenrun.dispatcher.run_once()
            except Exception:
                count_failure("outbox")
                log.exception("worker.dispatch_failed")
                break
            if not done:
                break
            total += done
        return total

    def run_due_jobs(self) -> None:
        for job in self.jobs:
            now = self.clock()
            if self.stopping.is_set() or self.due[job.name] > now:
                continue
            try:
                result = job.run(self.fenrun, now)
            except Exception:
                job_run(job.name, "failed")
                count_failure("job")
                log.exception("job.failed", job=job.name)
            else:
                job_run(job.name, "ok")
                log.info("job.done", job=job.name, at=now.isoformat(), **_counts(result))
            self.due[job.name] = job.schedule.next_after(now)


def _counts(result: Any) -> dict[str, Any]:
    # A job's result can be long (every request id): log sizes of lists, values of the rest.
    fields = dataclasses.asdict(result) if dataclasses.is_dataclass(result) else dict(result)
    return {k: len(v) if isinstance(v, list | tuple) else v for k, v in fields.items()}
