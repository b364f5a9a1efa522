"""The worker releases due commissions on its schedule (the server's clock), with no outside
cron: once at start, then again on every tick of FENRUN_RELEASE_SCHEDULE; SIGTERM ends it with 0."""

import json
import signal
import time
from datetime import UTC, datetime

import httpx
import psycopg
from prometheus_client.parser import text_string_to_metric_families

from domain.common import Audit
from tests.e2e.conftest import _free_port
from tests.integration.test_cli_plans import history
from tests.integration.test_embedded_ownership import Process, cli_env


def requested(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT count(*) FROM unfreeze_requests").fetchone()[0]


def wait_until(check: object, what: str, worker: Process, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert worker.proc.poll() is None, "".join(worker.lines)
        assert time.monotonic() < deadline, f"{what}: {''.join(worker.lines)}"
        time.sleep(0.1)


def test_the_worker_releases_due_commissions_on_schedule(fenrun, dsn, tmp_path) -> None:
    history(fenrun)  # a sale on 2026-03-02: its commission's hold has long elapsed
    assert requested(dsn) == 0
    metrics_port = _free_port()
    env = cli_env(
        None,
        FENRUN_DATABASE_URL=dsn,
        FENRUN_RELEASE_SCHEDULE="2s",
        FENRUN_STATEMENT_SCHEDULE="off",
        FENRUN_POLL_INTERVAL_SECONDS="0.2",
        FENRUN_WORKER_METRICS_PORT=str(metrics_port),
    )
    worker = Process("worker", env=env, cwd=tmp_path)
    try:
        wait_until(lambda: requested(dsn) == 1, "the release at start", worker)

        # A sale made while the worker runs: its commission is released at a later tick.
        sold = Audit("shop", datetime(2026, 3, 3, tzinfo=UTC))
        fenrun.ledger.place_order("O-2", "P", "B", None, "cust", "CUSTOMER_PAYS", sold)
        fenrun.ledger.complete_order("O-2", sold)
        wait_until(lambda: requested(dsn) == 2, "the release on schedule", worker)
        page = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
        runs_ok = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(page)
            for s in family.samples
        }[("fenrun_job_runs_total", (("job", "release_due"), ("outcome", "ok")))]
        assert runs_ok >= 2
        assert "fenrun_database_up" not in page  # the backlog is the API's to report
        assert worker.stop(signal.SIGTERM) == 0
    finally:
        worker.kill()
    runs = [json.loads(line) for line in worker.lines if '"job.done"' in line]
    assert len(runs) >= 2
    assert {run["job"] for run in runs} == {"release_due"}
    assert sum(run["request_ids"] for run in runs) == 2
    assert worker.logged("worker.stopped")
