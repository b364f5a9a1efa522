"""Plan simulations as jobs: starting one from a request, waiting for one, and running one in a
job process (api/jobs/runner.py).

A request only checks the candidate (refusals are userErrors at once), catches the policy up and
queues the job with the log position to replay up to; a job process replays it, reporting its
progress, and stores the result as a record: plain JSON with the API's field names, money in
integer fen, from which the GraphQL types are built again (api/graphql/plans.py).
"""

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool

from api.jobs.store import Job, JobStore
from application.ledger import Ledger
from application.simulation import Simulation, simulate
from domain.errors import InvalidInput, LedgerError

PLAN_SIMULATION = "plan_simulation"
TIMEOUT = "TIMEOUT"
_PROGRESS_EVERY = 0.5  # seconds between progress writes


def simulation_record(s: Simulation) -> dict[str, Any]:
    return {
        "planCode": s.candidate.code,
        "version": s.candidate.version,
        "effectiveFrom": s.candidate.effective_from.isoformat(),
        "effectiveTo": s.candidate.effective_to.isoformat() if s.candidate.effective_to else None,
        "position": s.position,
        "sales": s.sales,
        "factsReplayed": s.facts,
        "recorded": s.recorded_fen,
        "simulated": s.simulated_fen,
        "elapsedMs": round(s.seconds * 1000),
        "agents": [
            {"agentCode": a.agent_code, "recorded": a.recorded_fen, "simulated": a.simulated_fen}
            for a in s.agents
        ],
        "commissions": [
            {
                "commissionId": d.commission_id,
                "agentCode": d.agent_code,
                "kind": str(d.line.kind),
                "planCode": d.line.plan_code,
                "ruleCode": d.line.rule_code,
                "source": d.line.source,
                "orderId": d.line.order_id,
                "iccid": d.line.iccid,
                "effectiveAt": d.effective_at.isoformat(),
                "recorded": d.recorded_fen,
                "simulated": d.simulated_fen,
                "recordedVersion": d.recorded_version,
                "simulatedVersion": d.simulated_version,
            }
            for d in s.commissions
        ],
    }


def simulation_input(
    code: str, rules: object, start: datetime, end: datetime | None
) -> dict[str, Any]:
    input = {
        "code": code,
        "rules": rules,
        "from": start.isoformat(),
        "to": end.isoformat() if end else None,
    }
    try:
        orjson.dumps(input)
    except orjson.JSONEncodeError:  # e.g. a lone surrogate: not text that can be stored
        raise InvalidInput("rules", "the rules document is not valid Unicode text") from None
    return input


class PlanSimulations:
    """Starts simulation jobs for requests, and waits for one (simulatePlan, deprecated)."""

    def __init__(self, app: Any, store: JobStore) -> None:
        self.app = app  # the composition root: ledger, policy, catch-up
        self.store = store

    def start(
        self,
        code: str,
        rules: object,
        start: datetime,
        end: datetime | None,
        started_by: str,
        key: str | None,
    ) -> Job:
        """Blocks (a worker thread): checks the candidate as a correction would be checked,
        catches the policy up, and queues the job at the position it reached."""
        self.app.ledger.correction_candidate(code, rules, start, end)
        input = simulation_input(code, rules, start, end)
        self.app.catch_up()
        return self.store.start(PLAN_SIMULATION, input, self.app.policy.position(), started_by, key)

    async def wait(self, id: uuid.UUID, seconds: float) -> Job | None:
        """The job once finished, or as it stands after `seconds`; polls without holding a
        thread, ever less often (50 ms up to 0.5 s)."""
        deadline = time.monotonic() + seconds
        pause = 0.05
        while True:
            job = await run_in_threadpool(self.store.get, id)
            if job is None or job.finished or time.monotonic() + pause > deadline:
                return job
            await asyncio.sleep(pause)
            pause = min(pause * 1.5, 0.5)


# -- in a job process --------------------------------------------------------------------------


class JobStopped(Exception):
    """Raised inside the replay to stop it: over its time, or the job is no longer this run's."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Reporter:
    """The replay's progress callback: writes the fraction done now and then, and stops the
    replay when the job ran over its time or was taken from this run (queued again)."""

    store: JobStore
    job: Job
    timeout: float
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self.started = self.clock()
        self.written = self.started

    def __call__(self, at: int) -> None:
        now = self.clock()
        if now - self.started > self.timeout:
            raise JobStopped(TIMEOUT, f"the simulation ran longer than {self.timeout:g} s")
        if now - self.written >= _PROGRESS_EVERY:
            self.written = now
            fraction = at / self.job.position if self.job.position else 1.0
            if not self.store.progress(self.job.id, fraction, self.job.attempts):
                raise JobStopped("JOB_TAKEN", "the job was queued again elsewhere")


def run_plan_simulation(ledger: Ledger, store: JobStore, job: Job, timeout: float) -> None:
    """Replays the job's candidate up to its position and stores the outcome. A refusal (the
    plan changed since the job was queued) fails the job with the refusal's code."""
    input = job.input
    try:
        candidate = ledger.correction_candidate(
            input["code"],
            input["rules"],
            datetime.fromisoformat(input["from"]),
            datetime.fromisoformat(input["to"]) if input["to"] else None,
        )
        found = simulate(
            ledger, candidate, job.position, ledger.business_tz, Reporter(store, job, timeout)
        )
    except LedgerError as exc:
        store.fail(job.id, exc.code, exc.message, exc.field, attempt=job.attempts)
        return
    except JobStopped as exc:
        store.fail(job.id, exc.code, exc.message, attempt=job.attempts)
        return
    store.succeed(job.id, simulation_record(found), attempt=job.attempts)
