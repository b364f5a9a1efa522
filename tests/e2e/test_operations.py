"""What operators rely on, over real HTTP: metrics, request ids in responses and logs, probes that
say 503 (with a reason) when the database or a view fails, CORS by allow-list only."""

import io
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
import uvicorn
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from api.bootstrap import bootstrap
from api.observability.logs import configure_logging
from application.settings import Settings
from tests.conftest import QUIET_LOGS, ROOT
from tests.e2e.conftest import GraphQLClient, _free_port
from tests.e2e.test_lifecycle import DAY1, DAY20, release, sell, setup


def samples(page: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(page):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_metrics_count_operations_and_read_the_backlog(gql: GraphQLClient, dsn: str) -> None:
    # Counters live as long as the process: other tests count too, so compare before and after.
    before = samples(gql.http.get("/metrics").text)
    setup(gql)
    sell(gql, "O-1", "customer", DAY1)
    requested = release(gql, DAY20)
    refused = gql.mutate(
        "setRetailPrice", {"agentCode": "P1", "packageCode": "PK", "retailPrice": "999"}
    )
    assert refused["userErrors"]
    named = gql('query Wallets { wallet(agentCode: "P1") { frozen } }')
    assert named["data"]["wallet"]
    assert gql.raw("{ nope }").status_code in (200, 400)
    assert gql.raw("{ broken").status_code in (200, 400)

    page = gql.http.get("/metrics")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/plain")
    found = samples(page.text)

    def counted(name: str, labels: tuple[tuple[str, str], ...]) -> float:
        return found.get((name, labels), 0) - before.get((name, labels), 0)

    def operations(name: str, kind: str, outcome: str) -> float:
        labels = (("operation", name), ("outcome", outcome), ("type", kind))
        return counted("fenrun_graphql_operations_total", labels)

    assert operations("registerAgent", "mutation", "ok") == 1
    assert operations("setRetailPrice", "mutation", "ok") == 1
    assert operations("setRetailPrice", "mutation", "user_error") == 1
    assert operations("Wallets", "query", "ok") == 1
    assert operations("nope", "query", "invalid") == 1
    assert operations("unparsed", "unknown", "invalid") == 1
    latency = (("operation", "Wallets"), ("type", "query"))
    assert counted("fenrun_graphql_operation_duration_seconds_count", latency) == 1
    assert counted("fenrun_graphql_operation_duration_seconds_sum", latency) > 0

    assert found[("fenrun_database_up", ())] == 1
    with psycopg.connect(dsn) as conn:
        head = conn.execute("SELECT max(notification_id) FROM ledger_events").fetchone()[0]
    assert found[("fenrun_events_appended_total", ())] == head
    assert found[("fenrun_pending_approvals", ())] == len(requested) == 1
    assert found[("fenrun_pending_approval_amount_fen", ())] == 800
    for view in ("commissions", "wallet_balances", "directory"):
        assert found[("fenrun_view_lag_events", (("view", view),))] == 0
        assert ("fenrun_view_lag_seconds", (("view", view),)) in found
        assert found[("fenrun_view_failing", (("view", view),))] == 0
    for policy in ("commission-policy", "level-policy"):
        assert found[("fenrun_policy_lag_events", (("policy", policy),))] == 0
        assert found[("fenrun_policy_lag_seconds", (("policy", policy),))] == 0


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    out = io.StringIO()
    configure_logging("auto", "info", out)  # a StringIO is no terminal: JSON
    yield out
    configure_logging("auto", QUIET_LOGS)


def test_request_ids_are_returned_and_logged_with_the_actor(
    gql: GraphQLClient, logs: io.StringIO
) -> None:
    given = gql.raw("{ platformTotals { net } }", headers={"x-request-id": "trace-42.a:b"})
    assert given.headers["x-request-id"] == "trace-42.a:b"
    for insane in ("has space", "x" * 129, "tab\there", ""):
        made = gql.raw("{ platformTotals { net } }", headers={"x-request-id": insane})
        assert made.headers["x-request-id"] != insane
        assert len(made.headers["x-request-id"]) == 32
    plain = gql.http.get("/livez")
    assert len(plain.headers["x-request-id"]) == 32

    lines = [json.loads(line) for line in logs.getvalue().splitlines()]
    [line] = [entry for entry in lines if entry.get("request_id") == "trace-42.a:b"]
    assert line["event"] == "request"
    assert (line["actor"], line["path"], line["status"], line["level"]) == (
        "finance-1",
        "/graphql",
        200,
        "info",
    )
    assert line["timestamp"].endswith("Z")


def test_console_logs_on_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Terminal()
    try:
        configure_logging("auto", "info", out)
        import structlog

        structlog.get_logger("t").info("hello", request_id="r-1")
    finally:
        configure_logging("auto", QUIET_LOGS)
    text = out.getvalue()
    assert "hello" in text
    assert "request_id" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text.splitlines()[0])


def serve(settings: Settings) -> Iterator[httpx.Client]:
    fenrun = bootstrap(settings, run_migrations=False)
    port = _free_port()
    config = uvicorn.Config(
        create_app(fenrun=fenrun), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    try:
        yield client
    finally:
        client.close()
        server.should_exit = True
        thread.join(timeout=10)
        fenrun.close()


def test_probes_answer_503_with_a_reason(dsn: str, server_url: str, tmp_path: Path) -> None:
    name = psycopg.conninfo.conninfo_to_dict(dsn)["dbname"]
    settings = Settings(database_url=dsn, health_timeout_seconds=1, data_dir=tmp_path)
    for client in serve(settings):
        assert client.get("/livez").json() == {"status": "ok"}
        for probe in ("/readyz", "/healthz"):
            ready = client.get(probe)
            assert ready.status_code == 200
            assert ready.json() == {"status": "ok", "database": "ok", "position": 0}

        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(
                "UPDATE projection_tracking SET last_error = 'RuntimeError: boom'"
                " WHERE name = 'commissions@1'"
            )
        failing = client.get("/readyz")
        assert failing.status_code == 503
        assert failing.json()["failingViews"] == {"commissions": "RuntimeError: boom"}
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("UPDATE projection_tracking SET last_error = NULL")

        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
            )
        try:
            for probe in ("/readyz", "/healthz"):
                down = client.get(probe)
                assert down.status_code == 503
                assert down.headers["content-type"] == "application/json"
                assert down.json() == {"status": "unavailable", "database": "unreachable"}
            assert client.get("/livez").status_code == 200
            assert "fenrun_database_up 0.0" in client.get("/metrics").text
        finally:
            with psycopg.connect(server_url, autocommit=True) as conn:
                conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        deadline = time.monotonic() + 20
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "not ready again after the database came back"
            time.sleep(0.2)


def test_cors_only_for_allowed_origins(dsn: str, tmp_path: Path) -> None:
    for client in serve(Settings(database_url=dsn, data_dir=tmp_path)):
        asked = client.options(
            "/graphql",
            headers={
                "origin": "https://console.example.com",
                "access-control-request-method": "POST",
            },
        )
        assert "access-control-allow-origin" not in asked.headers
        plain = client.post(
            "/graphql",
            json={"query": "{ __typename }"},
            headers={"origin": "https://console.example.com"},
        )
        assert "access-control-allow-origin" not in plain.headers

    allowed = Settings(
        database_url=dsn,
        data_dir=tmp_path,
        cors_origins="https://console.example.com",  # type: ignore[arg-type]
    )
    for client in serve(allowed):
        preflight = client.options(
            "/graphql",
            headers={
                "origin": "https://console.example.com",
                "access-control-request-method": "POST",
                "access-control-request-headers": "content-type, authorization",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://console.example.com"
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
        # The actor comes from the token: a browser may not send the old header at all.
        naming = client.options(
            "/graphql",
            headers={
                "origin": "https://console.example.com",
                "access-control-request-method": "POST",
                "access-control-request-headers": "content-type, x-fenrun-actor",
            },
        )
        assert naming.status_code == 400
        answer = client.post(
            "/graphql",
            json={"query": "{ __typename }"},
            headers={"origin": "https://console.example.com"},
        )
        assert answer.headers["access-control-allow-origin"] == "https://console.example.com"
        assert "x-request-id" in answer.headers["access-control-expose-headers"].lower()
        other = client.options(
            "/graphql",
            headers={"origin": "https://evil.example.net", "access-control-request-method": "POST"},
        )
        assert other.status_code == 400
        assert "access-control-allow-origin" not in other.headers


def test_cors_origins_must_be_exact() -> None:
    for bad in ("*", "https://a.example.com/path", "console.example.com"):
        with pytest.raises(ValueError, match="not an origin"):
            Settings(cors_origins=bad)  # type: ignore[arg-type]
    assert Settings(cors_origins="").cors_origins == []  # type: ignore[arg-type]


def test_the_images_health_check_follows_readiness(server: str, dsn: str) -> None:
    """The Dockerfile's HEALTHCHECK command, run as Docker would, against a real server."""
    dockerfile = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    [line] = [x for x in dockerfile.splitlines() if x.startswith("HEALTHCHECK ")]
    command = json.loads(line.split(" CMD ", 1)[1])
    assert command[0] == "python"
    env = {"FENRUN_PORT": server.rsplit(":", 1)[1], "PATH": os.environ["PATH"]}

    def check() -> int:
        run = [sys.executable, *command[1:]]
        return subprocess.run(run, env=env, capture_output=True, timeout=30).returncode

    assert check() == 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("UPDATE projection_tracking SET last_error = 'boom'")
    assert check() != 0


def test_the_backlog_counts_what_is_not_processed_yet(fenrun, dsn: str) -> None:
    from datetime import UTC, datetime

    from domain.common import Audit
    from projections.health import Operations
    from tests.integration.test_cli_plans import history

    history(fenrun)  # caught up
    operations = Operations(fenrun.pool, 3, [fenrun.policy.name, fenrun.level_policy.name])
    assert {lag.events for lag in operations.backlog().views} == {0}
    before = operations.backlog().log_head
    fenrun.ledger.register_agent(
        "C", "C", None, True, Audit("admin", datetime(2026, 4, 1, tzinfo=UTC))
    )
    with psycopg.connect(dsn, autocommit=True) as conn:
        # The first unprocessed event was recorded an hour before the head. The log refuses
        # edits outside a migration run by its owner: say this is one.
        conn.execute("SET fenrun.migration = 'on'")
        conn.execute(
            "UPDATE ledger_events SET recorded_at = recorded_at - interval '1 hour'"
            " WHERE notification_id = %s",
            (before + 1,),
        )
    found = operations.backlog()
    added = found.log_head - before
    assert added > 0
    assert {lag.name: lag.events for lag in found.views}["directory"] == added
    assert 3599 < {lag.name: lag.seconds for lag in found.views}["directory"] < 3700
    assert {lag.name: lag.events for lag in found.policies} == {
        "commission-policy": added,
        "level-policy": added,
    }
    fenrun.catch_up()
    found = operations.backlog()
    assert {lag.events for lag in found.views + found.policies} == {0}
    assert {lag.seconds for lag in found.views + found.policies} == {0}
