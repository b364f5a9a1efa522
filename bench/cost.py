"""Benchmark (issue 9, finding 6): a light read's latency while four clients send the heaviest
requests the API allows, against the same read with nobody else (the baseline, same run).

Over real HTTP: the API runs as its own process (`uvicorn --factory api.app:serve_app`, one
process, as `fenrun serve` runs it), on a database holding a generated history of `sales`
completed sales (bench/simulate.py's generator, policies and views caught up before the server
starts). A light client reads one wallet in a loop and times each answer; the heavy clients
(threads of this process, each with its own actor, so each has its own rate-limit bucket) send
their request back to back without pause, ignoring Retry-After as an abusive client would.

Scenarios, `seconds` each (the first second's light reads are not counted):
- `baseline`: the light client alone;
- `simulations`: four clients sending simulatePlan with a page of 50 differences (cost: over
  half the limit, so the most a request may hold), each waited for in the request; the
  simulations run as jobs in the job process; over a client's rate they get 429;
- `largest_reads`: four clients sending the largest read `max_query_cost` allows: a page of
  commissions, each with its status history and every field (as many as the limit allows: 48
  at 500), plus a page of unfreeze requests with their commission and the platform totals;
- `refused`: four clients sending 30 aliased simulations (the issue's request), refused by cost.

Per scenario: light reads p50/p99/max (ms) and count; heavy requests by outcome (HTTP status and
error code), their p50;
jobs run. `meets_p99_under_100ms` per scenario compares the light p99 to 100 ms.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from typing import Any

import httpx
import psycopg

from bench.common import ROOT, check, progress, quantile, rnd

HEAVY_CLIENTS = 4
LIGHT = "query($a: String!) { wallet(agentCode: $a) { available frozen } }"
SIMULATE = """query($rules: JSON!, $from: DateTime!) {
  simulatePlan(code: "std", rules: $rules, from: $from) {
    userErrors { code }
    simulation { sales difference commissionCount agents { agentCode difference }
      commissions(first: 50) { edges { node { agentCode recorded simulated } } } }
  }
}"""
LARGEST_READ = """{
  commissions(first: %d) { edges { cursor node {
    id agentCode kind status amount originalAmount base rate orderId iccid ruleCode planCode
    ruleVersion holdDays releasableAt facts effectiveAt recordedAt explanation
    history { status amount event at effectiveAt actor reason }
  } } pageInfo { hasNextPage endCursor } }
  unfreezeRequests(first: 20) { edges { node { id status commission { id amount } } } }
  platformTotals { income refunded agentCredits net paidOut }
}"""


def largest_read(max_cost: int, max_page: int) -> tuple[str, int]:
    """LARGEST_READ with the largest page of commissions the cost limit allows, and its cost."""
    from graphql import parse

    from api.graphql.cost import Limits, tally
    from api.graphql.schema import schema

    limits = Limits(max_cost, max_page)
    best = None
    for page in range(1, max_page + 1):
        cost = tally(schema._schema, parse(LARGEST_READ % page), None, limits).cost
        if cost > max_cost:
            break
        best = (LARGEST_READ % page, cost)
    check(best is not None, f"no page of commissions fits a cost of {max_cost}")
    assert best is not None
    return best


REFUSED = (
    "query($rules: JSON!, $from: DateTime!) { "
    + " ".join(
        f's{i}: simulatePlan(code: "std", rules: $rules, from: $from) {{ userErrors {{ code }} }}'
        for i in range(30)
    )
    + " }"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    dsn: str, port: int, settings: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """The API in a process of its own (settings: more FENRUN_* variables)."""
    env = {
        **os.environ,
        "FENRUN_DATABASE_URL": dsn,
        "FENRUN_MIGRATION_DATABASE_URL": dsn,
        "FENRUN_LOG_LEVEL": "warning",
        "FENRUN_LOG_FORMAT": "json",
        # Loopback only, clients named by the actor header: what is measured is cost, not tokens.
        "FENRUN_AUTH": "off",
        "FENRUN_DATA_DIR": tempfile.mkdtemp(prefix="fenrun-bench-"),
        **(settings or {}),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "api.app:serve_app", "--host",
         "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        check(server.poll() is None, "the API process exited while starting")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.terminate()
    raise RuntimeError("the API did not become ready in 120 s")


def outcome(response: httpx.Response) -> str:
    """The HTTP status, and the first error's code if any (200:QUERY_TOO_COSTLY, 429:...)."""
    try:
        errors = response.json().get("errors") or []
    except ValueError:
        errors = []
    code = (errors[0].get("extensions") or {}).get("code", "ERROR") if errors else None
    return f"{response.status_code}:{code}" if code else str(response.status_code)


class Clients:
    """The light client and the heavy ones for one scenario, for `seconds`."""

    def __init__(self, base: str, agent: str, seconds: float) -> None:
        self.base, self.agent, self.seconds = base, agent, seconds
        self.stop = threading.Event()
        self.light: list[float] = []
        self.heavy: list[tuple[str, float]] = []
        self.lock = threading.Lock()

    def light_loop(self, started: float) -> None:
        with httpx.Client(base_url=self.base, timeout=60) as http:
            while not self.stop.is_set():
                t0 = time.perf_counter()
                response = http.post(
                    "/graphql",
                    json={"query": LIGHT, "variables": {"a": self.agent}},
                    headers={"x-fenrun-actor": "light"},
                )
                elapsed = time.perf_counter() - t0
                check(response.status_code == 200, f"light read: {response.text[:300]}")
                check("errors" not in response.json(), f"light read: {response.text[:300]}")
                if t0 - started >= 1.0:
                    self.light.append(elapsed)
                time.sleep(0.005)

    def heavy_loop(self, index: int, query: str, variables: dict[str, Any]) -> None:
        with httpx.Client(base_url=self.base, timeout=120) as http:
            while not self.stop.is_set():
                t0 = time.perf_counter()
                response = http.post(
                    "/graphql",
                    json={"query": query, "variables": variables},
                    headers={"x-fenrun-actor": f"heavy-{index}"},
                )
                with self.lock:
                    self.heavy.append((outcome(response), time.perf_counter() - t0))

    def run(self, query: str | None, variables: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        threads = [threading.Thread(target=self.light_loop, args=(started,))]
        if query is not None:
            threads += [
                threading.Thread(target=self.heavy_loop, args=(i, query, variables))
                for i in range(HEAVY_CLIENTS)
            ]
        for t in threads:
            t.start()
        time.sleep(self.seconds)
        self.stop.set()
        for t in threads:
            t.join()
        ms = [x * 1000 for x in self.light]
        statuses = Counter(status for status, _ in self.heavy)
        out: dict[str, Any] = {
            "light_reads": len(ms),
            "light_p50_ms": rnd(quantile(ms, 0.5)),
            "light_p99_ms": rnd(quantile(ms, 0.99)),
            "light_max_ms": rnd(max(ms)),
            "meets_p99_under_100ms": quantile(ms, 0.99) < 100,
        }
        if query is not None:
            out["heavy_requests_by_outcome"] = dict(sorted(statuses.items()))
            out["heavy_p50_ms"] = rnd(quantile([s * 1000 for _, s in self.heavy], 0.5))
        return out


def jobs_done(dsn: str) -> dict[str, int]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT status, count(*) FROM jobs GROUP BY status").fetchall()
    return dict(rows)


def scenarios(
    base: str, dsn: str, agent: str, built: Any, seconds: float, largest: str
) -> dict[str, Any]:
    from bench.simulate import CANDIDATE

    variables = {"rules": CANDIDATE, "from": built.start.isoformat()}
    plan = {
        "baseline": (None, {}),
        "simulations": (SIMULATE, variables),
        "largest_reads": (largest, {}),
        "refused": (REFUSED, variables),
    }
    results = {}
    for name, (query, params) in plan.items():
        before = jobs_done(dsn)
        progress(f"cost: {name} for {seconds:g} s")
        results[name] = Clients(base, agent, seconds).run(query, params)
        after = jobs_done(dsn)
        results[name]["jobs"] = {k: v - before.get(k, 0) for k, v in after.items()}
        progress(f"  {results[name]}")
    check(results["simulations"]["jobs"].get("SUCCEEDED"), "no simulation job ran")
    check(
        "200" in results["largest_reads"]["heavy_requests_by_outcome"],
        "the largest read never succeeded",
    )
    return results


def costs(base: str, variables: dict[str, Any]) -> dict[str, Any]:
    """What the API says each heavy request costs (the refused one reports it)."""
    found = httpx.post(
        f"{base}/graphql",
        json={"query": REFUSED, "variables": variables},
        headers={"x-fenrun-actor": "probe"},
    ).json()
    return {"thirty_aliased_simulations": found["errors"][0]["extensions"]}


def run(server_url: str, *, sales: int, seconds: float) -> dict[str, Any]:
    from api.bootstrap import bootstrap
    from application.settings import Settings
    from bench.common import Timer, database
    from bench.simulate import CANDIDATE, generate

    with database(server_url, f"cost{sales}") as dsn:
        app = bootstrap(Settings(database_url=dsn), run_migrations=False)
        try:
            progress(f"cost: generating a history of ~{sales} sales")
            built = generate(app, dsn, sales)
            with Timer() as caught_up:
                app.catch_up()
            progress(f"  built: {built.events} events; caught up in {caught_up.seconds:.1f} s")
        finally:
            app.close()
        agent = sorted(built.wallets)[0]
        defaults = Settings(database_url=dsn)
        largest, largest_cost = largest_read(defaults.max_query_cost, defaults.max_page_size)
        port = free_port()
        server = start_server(dsn, port)
        base = f"http://127.0.0.1:{port}"
        try:
            found = scenarios(base, dsn, agent, built, seconds, largest)
            found["costs"] = costs(base, {"rules": CANDIDATE, "from": built.start.isoformat()})
            found["costs"]["largest_read"] = largest_cost
            found["costs"]["max_query_cost"] = defaults.max_query_cost
        finally:
            server.terminate()
            server.wait(timeout=30)
    return {
        "history": built.report(),
        "seconds_per_scenario": seconds,
        "heavy_clients": HEAVY_CLIENTS,
        **found,
    }
