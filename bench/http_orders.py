"""Benchmark (issue 15): orders placed and completed over HTTP, against the in-process
`per_command` rate of the same run.

The API runs as its own process (`uvicorn --factory api.app:serve_app`, one process, as
`fenrun serve` runs it) on a fresh database holding bench/fixtures.py's price chain. 16 clients
(threads of this process, one HTTP connection each) send `placeOrder` then `completeOrder` for
their share of the orders, each mutation with an idempotency key, back to back. The clock stops
when the commission lines of every order are readable: a `commissions` read of the last order
sent with `X-Fenrun-Min-Position` set to the newest position the mutations answered (the read
waits, bounded, until the policies and views have processed it), checked against the tables
(4 lines per order).

Against: bench/throughput.py's `per_command` mode in the same run (the same orders through
`Ledger.place_order` / `complete_order`, then the policies, then the views, in one process, no
HTTP), its completions/s; `ratio` = HTTP / in-process (target >= 0.5). Medians over the runs.

On a loaded machine the two sides do not get the same share of the CPU (the HTTP side is two
processes and many threads, the in-process side one thread), so the run also reports the CPU
time each side's Fenrun process spent per completion (the API process's, measured with psutil;
the in-process run's process_time over its phases) and `cpu_ratio` = in-process
CPU per completion / API CPU per completion: the same question asked of the CPU spent, which
the load of other processes does not skew. PostgreSQL's CPU is in neither.
"""

from __future__ import annotations

import json
import os
import statistics
import threading
import time
from typing import Any

import httpx
import psutil
import psycopg

from bench.common import check, database, progress, rnd
from bench.cost import free_port, start_server
from bench.fixtures import LINES_PER_ORDER, PACKAGE, SELLER, setup_chain

CLIENTS = 16
MIN_POSITION_HEADER = "x-fenrun-min-position"
PLACE = (
    "mutation($input: PlaceOrderInput!) { placeOrder(input: $input) {"
    " orderId userErrors { code message } } }"
)
COMPLETE = (
    "mutation($input: CompleteOrderInput!) { completeOrder(input: $input) {"
    " orderId userErrors { code message } } }"
)
LINES = "query($o: String!) { commissions(orderId: $o, first: 10) { edges { node { id } } } }"


def _post(client: httpx.Client, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/graphql", json={"query": query, "variables": variables})
    check(response.status_code == 200, f"HTTP {response.status_code}: {response.text[:500]}")
    body = response.json()
    check("errors" not in body, body.get("errors"))
    return body


def _client(base: str, i: int) -> httpx.Client:
    return httpx.Client(base_url=base, timeout=60, headers={"x-fenrun-actor": f"bench-{i}"})


def _send(base: str, run: str, ids: range, i: int, positions: list[int]) -> None:
    """One client's orders: place then complete, each with its idempotency key."""
    newest = 0
    with _client(base, i) as client:
        for n in ids:
            oid = f"{run}-{n:07d}"
            for query, name, data in (
                (PLACE, "placeOrder", {"packageCode": PACKAGE, "agentCode": SELLER,
                                       "flow": "CUSTOMER_PAYS", "buyerCode": f"cust-{n}"}),
                (COMPLETE, "completeOrder", {}),
            ):  # fmt: skip
                body = _post(client, query, {"input": {"orderId": oid, **data,
                                                       "idempotencyKey": f"{name}:{oid}"}})  # fmt: skip
                check(body["data"][name]["userErrors"] == [], body["data"][name])
                newest = max(newest, int(body.get("extensions", {}).get("position", 0)))
    positions[i] = newest


def _readable(base: str, last: str, position: int, expected: int, dsn: str) -> None:
    """Waits until the last order's lines are readable through the API at (at least) the
    newest position written, then checks the table: every line there."""
    deadline = time.monotonic() + 600
    with _client(base, CLIENTS) as client:
        while True:
            response = client.post(
                "/graphql",
                json={"query": LINES, "variables": {"o": last}},
                headers={MIN_POSITION_HEADER: str(position)},
            )
            body = response.json()
            edges = (body.get("data") or {}).get("commissions") or {}
            if "errors" not in body and len(edges.get("edges", [])) == LINES_PER_ORDER:
                break
            check(time.monotonic() < deadline, f"lines not readable after 600 s: {body}")
            time.sleep(0.01)  # an API without the header answers at once: poll
    with psycopg.connect(dsn) as conn:
        lines = conn.execute("SELECT count(*) FROM commission_lines").fetchone()
        assert lines is not None
    check(lines[0] == expected, f"{lines[0]} commission lines, expected {expected}")


def one_run(server_url: str, orders: int, label: str) -> dict[str, Any]:
    from api.bootstrap import bootstrap
    from application.settings import Settings

    with database(server_url, f"http_{label}") as dsn:
        app = bootstrap(Settings(database_url=dsn), run_migrations=False)
        try:
            setup_chain(app)
        finally:
            app.close()
        port = free_port()
        api = start_server(dsn, port)
        base = f"http://127.0.0.1:{port}"
        try:
            with _client(base, 0) as warm:  # the first request's imports and connections
                _post(warm, "{ __typename }", {})
            per = -(-orders // CLIENTS)
            positions = [0] * CLIENTS
            errors: list[BaseException] = []

            def client(i: int) -> None:
                try:
                    _send(base, label, range(i * per, min(orders, (i + 1) * per)), i, positions)
                except BaseException as exc:  # reported after the join
                    errors.append(exc)

            threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
            server_cpu = psutil.Process(api.pid).cpu_times()
            started = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            sent = time.perf_counter() - started
            check(not errors, f"a client failed: {errors[:1]}")
            _readable(
                base, f"{label}-{orders - 1:07d}", max(positions), orders * LINES_PER_ORDER, dsn
            )
            total = time.perf_counter() - started
            cpu = psutil.Process(api.pid).cpu_times()
            cpu_s = cpu.user + cpu.system - server_cpu.user - server_cpu.system
        finally:
            api.terminate()
            api.wait(timeout=30)
    return {
        "orders": orders,
        "clients": CLIENTS,
        "seconds_sending": rnd(sent),
        "seconds_until_readable": rnd(total),
        "completions_per_s": rnd(orders / total),
        "mutations_per_s_while_sending": rnd(2 * orders / sent),
        "server_cpu_ms_per_completion": rnd(1000 * cpu_s / orders, 2),
    }


def in_process(server_url: str, orders: int, label: str) -> dict[str, Any]:
    """bench/throughput.py's `per_command` end to end (commands, then the policies, then the
    views, in this process), timed and its CPU measured over those phases only."""
    from api.bootstrap import bootstrap
    from application.settings import Settings
    from bench.fixtures import place_and_complete

    with database(server_url, f"inproc_{label}") as dsn:
        app = bootstrap(Settings(database_url=dsn), run_migrations=False)
        try:
            setup_chain(app)
            cpu, started = time.process_time(), time.perf_counter()
            place_and_complete(app, label, 0, orders)
            app.policy.run_until_idle()
            app.level_policy.run_until_idle()
            app.projections.run_until_idle()
            seconds, cpu_s = time.perf_counter() - started, time.process_time() - cpu
            check(app.catch_up() == 0, "not caught up after the phases")
        finally:
            app.close()
        with psycopg.connect(dsn) as conn:
            lines = conn.execute("SELECT count(*) FROM commission_lines").fetchone()
        check(lines is not None and lines[0] == orders * LINES_PER_ORDER, f"{lines} lines")
    return {
        "completions_per_s": rnd(orders / seconds),
        "cpu_ms_per_completion": rnd(1000 * cpu_s / orders, 2),
    }


def run(server_url: str, *, runs: int, orders: int, per_command_orders: int) -> dict[str, Any]:
    per_run = []
    for run_no in range(runs):
        http = one_run(server_url, orders, f"h{run_no}")
        progress(f"http_orders run {run_no + 1}: {http}")
        inproc = in_process(server_url, per_command_orders, f"p{run_no}")
        rate, cpu_ms = inproc["completions_per_s"], inproc["cpu_ms_per_completion"]
        progress(f"http_orders run {run_no + 1}: in-process per_command {rate}/s, {cpu_ms} ms CPU")
        per_run.append(
            {
                "http": http,
                "per_command_completions_per_s": rate,
                "per_command_cpu_ms_per_completion": cpu_ms,
                "ratio": rnd(http["completions_per_s"] / rate, 3),
                "cpu_ratio": rnd(cpu_ms / http["server_cpu_ms_per_completion"], 3),
            }
        )
    median = {
        "http_completions_per_s": rnd(
            statistics.median(r["http"]["completions_per_s"] for r in per_run)
        ),
        "per_command_completions_per_s": rnd(
            statistics.median(r["per_command_completions_per_s"] for r in per_run)
        ),
        "ratio": rnd(statistics.median(r["ratio"] for r in per_run), 3),
        "cpu_ratio": rnd(statistics.median(r["cpu_ratio"] for r in per_run), 3),
    }
    median["meets_half"] = median["ratio"] >= 0.5
    return {"clients": CLIENTS, "orders": orders, "median": median, "runs": per_run}


if __name__ == "__main__":  # a quick look without the rest of the suite
    url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    print(json.dumps(run(url, runs=1, orders=200, per_command_orders=200), indent=2))
