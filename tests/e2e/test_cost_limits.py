"""Issue 9, finding 6: one client could exhaust the CPU (simulatePlan x 30 aliases burnt 41-45 s).

Over real HTTP: a request over its cost is refused before it runs; a client past its rate of
expensive operations gets 429; a query past its time answers TIMEOUT, a mutation is never cut.
Latency under load is measured by the bench (python -m bench --only cost), not asserted here.
"""

import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from api.bootstrap import bootstrap
from application.settings import Settings
from tests.e2e.conftest import GraphQLClient
from tests.e2e.test_plan_correction import MAR, history, rates

GRAPHQL_RESPONSE = "application/graphql-response+json"
SIMULATION = (
    "simulatePlan(code: $code, rules: $rules, from: $from) {"
    " userErrors { code } simulation { difference } }"
)
VARIABLES = {"code": "ml", "rules": rates("8%"), "from": MAR}
REPLAY = 'replay(aggregate: AGENT, code: "A") { version }'
LIGHT = '{ wallet(agentCode: "A") { available } }'


@pytest.fixture
def overrides() -> dict[str, Any]:
    return {}


@pytest.fixture
def fenrun(dsn: str, overrides: dict[str, Any], tmp_path: Any, clock: Any) -> Iterator[Any]:
    """The app under test with these settings (the server fixture serves it)."""
    settings = Settings(database_url=dsn, data_dir=tmp_path, **overrides)
    app = bootstrap(settings, run_migrations=False, clock=clock)
    yield app
    app.close()


def aliased(count: int, field: str) -> str:
    fields = " ".join(f"s{i}: {field}" for i in range(count))
    return f"query($code: String!, $rules: JSON!, $from: DateTime!) {{ {fields} }}"


def jobs(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM jobs").fetchone()
    assert row is not None
    return row[0]


def test_thirty_aliased_simulations_are_refused_before_running(gql: GraphQLClient, dsn: str):
    history(gql)
    response = gql.raw(aliased(30, SIMULATION), VARIABLES, {"accept": GRAPHQL_RESPONSE})
    assert response.status_code == 400, response.text
    body = response.json()
    assert "data" not in body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COSTLY"
    assert error["extensions"]["limit"] == 500  # the default
    assert error["extensions"]["cost"] > 30 * 250
    assert jobs(dsn) == 0  # nothing was simulated, nor queued


def test_a_refusal_by_cost_with_plain_json_is_a_200_with_errors(gql: GraphQLClient) -> None:
    response = gql.raw(aliased(2, SIMULATION), VARIABLES)
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY"


def test_one_simulation_and_the_largest_pages_are_allowed(gql: GraphQLClient) -> None:
    history(gql)
    one = gql(aliased(1, SIMULATION), VARIABLES)["data"]["s0"]
    assert one["simulation"]["difference"] == "-4.50"  # open period: O-late too
    pages = "{ commissions(first: 100) { edges { node { id amount ruleCode explanation } } } }"
    assert len(gql(pages)["data"]["commissions"]["edges"]) > 0
    nested = "{ commissions(first: 50) { edges { node { id history { status actor } } } } }"
    assert len(gql(nested)["data"]["commissions"]["edges"]) > 0
    response = gql.raw(nested.replace("50", "100"))  # 100 histories: over the limit
    assert response.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY"


@pytest.mark.parametrize("overrides", [{"expensive_burst": 2, "expensive_per_minute": 1}])
def test_a_client_past_its_rate_of_expensive_operations_gets_429(gql: GraphQLClient) -> None:
    history(gql)
    for _ in range(2):
        gql("{ " + REPLAY + " }")
    response = gql.raw("{ " + REPLAY + " }")
    assert response.status_code == 429
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert 1 <= error["extensions"]["retryAfter"] <= 60
    assert response.headers["retry-after"] == str(error["extensions"]["retryAfter"])
    # Light reads are not charged; another client has its own bucket.
    assert gql(LIGHT)["data"]["wallet"]["available"] is not None
    other = gql.as_user("finance-2", roles=("finance",))
    assert other("{ " + REPLAY + " }")["data"]["replay"]["version"] >= 1
    # More at once than a full bucket holds: refused whatever the wait, without a retry time.
    response = gql.raw("{ " + " ".join(f"r{i}: {REPLAY}" for i in range(3)) + " }")
    assert response.status_code == 429
    assert response.json()["errors"][0]["extensions"]["retryAfter"] is None
    assert "retry-after" not in response.headers


@pytest.mark.parametrize("overrides", [{"expensive_burst": 1, "expensive_per_minute": 1}])
def test_starting_simulation_jobs_is_rate_limited_too(gql: GraphQLClient) -> None:
    history(gql)
    start = {"code": "ml", "rules": rates("8%"), "from": MAR}
    assert gql.ok("startPlanSimulation", start, "job { id }")["job"]["id"]
    response = gql.raw(
        "mutation($i: StartPlanSimulationInput!) { startPlanSimulation(input: $i) { job { id } } }",
        {"i": start},
    )
    assert response.status_code == 429


@pytest.mark.parametrize("overrides", [{"request_timeout_seconds": 0.5}])
def test_a_query_past_its_time_answers_timeout(gql: GraphQLClient, fenrun: Any, monkeypatch):
    history(gql)
    real = fenrun.read.wallet

    def slow(*args: Any) -> Any:
        time.sleep(1.5)
        return real(*args)

    monkeypatch.setattr(fenrun.read, "wallet", slow)
    for accept in ("application/json", GRAPHQL_RESPONSE):
        response = gql.raw(LIGHT, headers={"accept": accept})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["data"] is None
        [error] = body["errors"]
        assert error["extensions"] == {"code": "TIMEOUT", "seconds": 0.5}
        assert "Unexpected error" not in response.text


def test_a_read_cut_by_the_database_answers_timeout(gql: GraphQLClient, fenrun: Any, monkeypatch):
    history(gql)
    monkeypatch.setattr(fenrun.read, "statement_timeout", "100")  # ms
    monkeypatch.setattr(fenrun.read, "wallet", lambda *_: fenrun.read._all("SELECT pg_sleep(5)"))
    response = gql.raw(LIGHT)
    assert response.status_code == 200
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "TIMEOUT"
    assert error["path"] == ["wallet"]


@pytest.mark.parametrize("overrides", [{"request_timeout_seconds": 0.3}])
def test_a_mutation_is_never_cut(gql: GraphQLClient, fenrun: Any, monkeypatch) -> None:
    real = fenrun.ledger.execute

    def slow(command: Any) -> Any:
        time.sleep(1)
        return real(command)

    monkeypatch.setattr(fenrun.ledger, "execute", slow)
    done = gql.ok("registerAgent", {"code": "Z", "name": "Zed"}, "agentCode")
    assert done["agentCode"] == "Z"
