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
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from api.bootstrap import Fenrun
from api.carrier_polls import poll_now
from api.observability.metrics import count_failure, job_run
from application.payouts import poll_channel
from application.schedule import Schedule, parse_schedule
from application.use_cases.commissions import ReleaseDueCommissions
from application.use_cases.statements import GenerateStatements
from domain.common import Audit
from domain.statement import Cycle
from projections.payouts import payouts
from projections.queries import encode_cursor

log = structlog.get_logger(__name__)
RELEASE_ACTOR = "system:release-job"
STATEMENT_ACTOR = "system:statement-job"
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


def poll_payouts(fenrun: Fenrun, now: datetime) -> Any:
    """Asks the channel about payouts submitted longer ago than payout_poll_after_seconds whose
    outcome has not come (a lost callback)."""
    before = now - timedelta(seconds=fenrun.settings.payout_poll_after_seconds)
    at = fenrun.read.caught_up()
    submitted, after = [], None
    while True:
        page = payouts(fenrun.read, at, None, "SUBMITTED", 500, after)
        submitted += [
            (r["withdrawal_id"], r["channel"], r["out_request_id"])
            for r in page.rows
            if r["effective_at"] <= before
        ]
        if not page.has_next:
            break
        last = page.rows[-1]
        after = encode_cursor(last["created_position"], last["withdrawal_id"])
    return poll_channel(fenrun.ledger, fenrun.channels, submitted, now)


def generate_statements(fenrun: Fenrun, now: datetime, actor: str = STATEMENT_ACTOR) -> Any:
    """Draft statements of the latest cycle that has ended at ``now`` (decision 0027). A run
    that finds the drafts already saying the same adds nothing; a run after late items
    supersedes stale drafts, or states the late items of an approved cycle supplementarily."""
    settings = fenrun.settings
    cycle = Cycle.last_ended(now, settings.statement_cycle, settings.zone)
    audit = Audit(actor, now, f"statements of {cycle.code}", time_given=False)
    return fenrun.workflows.submit(GenerateStatements(cycle=cycle.code, audit=audit))


def scheduled_jobs(fenrun: Fenrun) -> list[Job]:
    settings = fenrun.settings
    jobs = []
    release = parse_schedule(settings.release_schedule, settings.zone)
    if release is not None:
        jobs.append(Job("release_due", release, release_due))
    poll = parse_schedule(settings.payout_poll_schedule, settings.zone)
    if poll is not None and getattr(fenrun, "channels", None):
        jobs.append(Job("payout_poll", poll, poll_payouts))
    statements = parse_schedule(settings.statement_schedule, settings.zone)
    if statements is not None:
        jobs.append(Job("generate_statements", statements, generate_statements))
    carriers = parse_schedule(settings.carrier_poll_schedule, settings.zone)
    if carriers is not None and settings.carrier_poll:
        jobs.append(Job("carrier_poll", carriers, poll_now))  # carriers that do not push (0031)
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
                done = app.policy.run_once() + app.level_policy.run_once()
                if app.payout_policy is not None:
                    done += app.payout_policy.run_once()
                done += app.projections.run_once()
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
