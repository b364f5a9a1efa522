"""Plan simulations as background jobs over HTTP: start, poll, result; refusals, failures, time
limits; and the deprecated simulatePlan answered through the same jobs."""

import time
from collections.abc import Iterator
from typing import Any

import pytest

from api.bootstrap import bootstrap
from api.jobs.simulations import PLAN_SIMULATION
from application.settings import Settings
from tests.e2e.conftest import GraphQLClient
from tests.e2e.test_plan_correction import APR, MAR, SIMULATE, history, rates

JOB = """query($id: String!) { planSimulationJob(id: $id) {
  id status progress position queuedAt startedAt finishedAt userErrors { code field message }
  simulation { planCode version sales recorded simulated difference commissionCount
    agents { agentCode recorded simulated difference }
    commissions(first: 50) { edges { node {
      agentCode orderId ruleCode recorded simulated difference recordedVersion simulatedVersion
    } } }
  }
} }"""
START = "job { id status progress position } "


@pytest.fixture
def overrides() -> dict[str, Any]:
    return {}


@pytest.fixture
def fenrun(dsn: str, overrides: dict[str, Any], tmp_path: Any, clock: Any) -> Iterator[Any]:
    settings = Settings(database_url=dsn, data_dir=tmp_path, **overrides)
    app = bootstrap(settings, run_migrations=False, clock=clock)
    yield app
    app.close()


def start(gql: GraphQLClient, rules: list[dict], **extra: Any) -> dict[str, Any]:
    return gql.mutate(
        "startPlanSimulation",
        {"code": "ml", "rules": rules, "from": MAR, "to": APR, **extra},
        START,
    )


def job(gql: GraphQLClient, id: str) -> dict[str, Any] | None:
    return gql(JOB, {"id": id})["data"]["planSimulationJob"]


def finished(gql: GraphQLClient, id: str, seconds: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        found = job(gql, id)
        assert found is not None
        if found["status"] in ("SUCCEEDED", "FAILED"):
            return found
        assert time.monotonic() < deadline, found
        time.sleep(0.1)


def test_a_simulation_job_runs_in_the_background_and_keeps_its_result(gql: GraphQLClient):
    history(gql)
    started = start(gql, rates("8%"))
    assert started["userErrors"] == []
    assert started["job"]["status"] == "QUEUED"  # the request only queued it
    assert started["job"]["progress"] == 0
    done = finished(gql, started["job"]["id"])
    assert done["status"] == "SUCCEEDED"
    assert done["progress"] == 1
    assert done["userErrors"] == []
    assert done["queuedAt"] <= done["startedAt"] <= done["finishedAt"]
    assert done["position"] == started["job"]["position"]
    # The same answer simulatePlan gives (it runs through a job too).
    sim = gql(SIMULATE, {"code": "ml", "rules": rates("8%"), "from": MAR, "to": APR})
    assert done["simulation"] == sim["data"]["simulatePlan"]["simulation"]
    assert (done["simulation"]["sales"], done["simulation"]["difference"]) == (2, "-2.50")
    assert job(gql, started["job"]["id"]) == done  # readable again later


def test_unknown_and_malformed_job_ids_answer_null(gql: GraphQLClient) -> None:
    assert job(gql, "00000000-0000-0000-0000-000000000000") is None
    assert job(gql, "not a job id") is None
    assert job(gql, "\x00" * 3) is None


def test_a_refused_candidate_is_a_user_error_and_no_job(gql: GraphQLClient) -> None:
    history(gql)
    refused = start(gql, [{"code": "ml", "kind": "NO_SUCH_KIND"}])
    assert refused["job"] is None
    assert [e["code"] for e in refused["userErrors"]] == ["PLAN_REFUSED"]
    later = start(gql, rates("8%"), **{"from": APR, "to": MAR})
    assert later["job"] is None
    assert later["userErrors"] != []


def test_the_same_idempotency_key_gives_the_same_job(gql: GraphQLClient) -> None:
    history(gql)
    first = start(gql, rates("8%"), idempotencyKey="sim-1")
    again = start(gql, rates("8%"), idempotencyKey="sim-1")
    assert again["job"]["id"] == first["job"]["id"]
    other = start(gql, rates("9%"), idempotencyKey="sim-1")
    assert other["job"] is None
    assert [e["code"] for e in other["userErrors"]] == ["IDEMPOTENCY_KEY_REUSED"]


def test_a_job_refused_when_it_runs_fails_with_the_refusal(gql: GraphQLClient, fenrun: Any):
    """Queued before the plan changed (here: written directly), refused when it runs."""
    history(gql)
    bad = {"code": "ml", "rules": [{"kind": "NO_SUCH_KIND"}], "from": MAR, "to": None}
    queued = fenrun.jobs.start(PLAN_SIMULATION, bad, 1, "finance-1", None)
    done = finished(gql, str(queued.id))
    assert done["status"] == "FAILED"
    assert done["simulation"] is None
    assert [e["code"] for e in done["userErrors"]] == ["PLAN_REFUSED"]


def test_a_job_that_breaks_fails_without_taking_the_runner_down(gql: GraphQLClient, fenrun: Any):
    history(gql)
    broken = fenrun.jobs.start(PLAN_SIMULATION, {"no": "code"}, 1, "finance-1", None)
    done = finished(gql, str(broken.id))
    assert done["status"] == "FAILED"
    assert [e["code"] for e in done["userErrors"]] == ["JOB_FAILED"]
    assert "Unexpected error" not in str(done)
    after = start(gql, rates("8%"))  # the next job runs
    assert finished(gql, after["job"]["id"])["status"] == "SUCCEEDED"


@pytest.mark.parametrize("overrides", [{"job_timeout_seconds": 1e-6}])
def test_a_job_over_its_time_fails_with_timeout(gql: GraphQLClient) -> None:
    history(gql)
    done = finished(gql, start(gql, rates("8%"))["job"]["id"])
    assert done["status"] == "FAILED"
    assert [e["code"] for e in done["userErrors"]] == ["TIMEOUT"]


@pytest.mark.parametrize("overrides", [{"job_processes": 0, "request_timeout_seconds": 1}])
def test_simulate_plan_waits_within_the_request_time_then_names_its_job(gql: GraphQLClient):
    """No process here runs jobs (job_processes 0): simulatePlan gives up in time, and says
    which job to poll; the job stays queued for a process that runs jobs."""
    history(gql)
    response = gql.raw(SIMULATE, {"code": "ml", "rules": rates("8%"), "from": MAR, "to": APR})
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "TIMEOUT"
    queued = job(gql, error["extensions"]["jobId"])
    assert queued is not None
    assert queued["status"] == "QUEUED"
