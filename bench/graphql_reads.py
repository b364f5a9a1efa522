"""Benchmark (issue 15): GraphQL reads against a plain route serving the same rows as the same
JSON (bench/plain_route.py), both driven by `wrk` at 16 connections.

Both run as their own process under uvicorn, one worker each, on the same database: a generated
history of `sales` completed sales (bench/simulate.py's generator), views caught up before the
servers start. The API runs with authentication ON: every request carries a bearer token minted
for a finance user the way `fenrun token` mints one (tests/e2e/conftest.py's user_token).

Queries (each checked once to answer the same data as its baseline before it is timed):
- `commissions`: `commissions(first: 100)` with 6 fields per line;
- `wallet`: `wallet(agentCode:)` with two balances;
- `typename`: `{ __typename }` (the baseline answers it without the database).

Per run and query: `seconds` of wrk on each side, the order flipping every run (a shared
machine's swings fall on both), after one second of warm-up each. Figures per side: req/s, p50 and
p99 (ms, wrk's latency distribution); `ratio` = Fenrun req/s / baseline req/s (target >= 0.5).
Medians over the runs. Needs `wrk` (Debian: `apt-get install -y wrk`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

import httpx

from bench.common import ROOT, check, progress, rnd
from bench.cost import free_port, start_server

CONNECTIONS = 16
THREADS = 2
QUERIES = {
    "commissions": (
        "{ commissions(first: 100) { edges { node {"
        " id agentCode kind status amount recordedAt } } } }",
        "/commissions?first=100",
    ),
    "wallet": (
        'query { wallet(agentCode: "%(agent)s") { available frozen } }',
        "/wallet?agent=%(agent)s",
    ),
    "typename": ("{ __typename }", "/typename"),
}
USER = "bench-reader"


def _lua(method: str, body: str | None, headers: dict[str, str]) -> str:
    lines = [f'wrk.method = "{method}"']
    if body is not None:
        lines.append(f"wrk.body = {json.dumps(body)}")
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
    return "\n".join(lines) + "\n"


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * _UNITS[unit]


def wrk(url: str, script: str, seconds: float) -> dict[str, Any]:
    """wrk's figures for `seconds` against url with the request the Lua script makes."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    try:
        out = subprocess.run(
            ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s",
             "--latency", "--timeout", "30s", "-s", f.name, url],
            capture_output=True, text=True, check=True, timeout=seconds + 60,
        ).stdout  # fmt: skip
    finally:
        os.unlink(f.name)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    check(rate is not None, f"wrk said: {out}")
    assert rate is not None
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    check(bad is None, f"failed responses: {out}")
    errors = re.search(r"Socket errors: (.*)", out)
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, re.M))
    return {
        "req_per_s": rnd(float(rate.group(1)), 1),
        "p50_ms": rnd(_ms(latency["50"]), 2) if "50" in latency else None,
        "p99_ms": rnd(_ms(latency["99"]), 2) if "99" in latency else None,
        **({} if latency else {"wrk": out}),
        **({"socket_errors": errors.group(1)} if errors else {}),
    }


def start_plain(dsn: str, port: int, position: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BENCH_DSN": dsn, "BENCH_POSITION": str(position)}
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "bench.plain_route:app", "--host",
         "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        check(server.poll() is None, "the plain route's process exited while starting")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.terminate()
    raise RuntimeError("the plain route did not become ready in 60 s")


def prepare(dsn: str, sales: int, data_dir: str) -> tuple[str, int, str, int]:
    """The history, caught up; a finance user's token. Returns (agent, position, token, lines)."""
    import psycopg

    from api.bootstrap import bootstrap
    from api.identity_cli import mint_token
    from application.settings import Settings
    from bench.simulate import generate
    from domain.common import Audit

    app = bootstrap(Settings(database_url=dsn, auth="on", data_dir=data_dir), run_migrations=False)
    try:
        progress(f"graphql_reads: generating a history of ~{sales} sales")
        built = generate(app, dsn, sales)
        app.catch_up()
        position = app.read.caught_up()
        app.ledger.add_user(USER, ("finance",), None, Audit("bench-setup", app.clock.now()))
        token = mint_token(app, USER, "1d")
    finally:
        app.close()
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT agent_code FROM wallet_balance_history GROUP BY agent_code"
            " ORDER BY count(*) DESC, agent_code LIMIT 1"
        ).fetchone()
        lines = conn.execute("SELECT count(*) FROM commission_lines").fetchone()
    check(row is not None, "no wallet in the history")
    assert row is not None
    assert lines is not None
    progress(f"  {built.events} events, {lines[0]} commission lines, position {position}")
    return row[0], position, token, lines[0]


def same_answers(api: str, plain: str, token: str, agent: str) -> None:
    """Each query answers the same data on both sides (what is compared is the same work)."""
    for name, (query, path) in QUERIES.items():
        found = httpx.post(
            f"{api}/graphql",
            json={"query": query % {"agent": agent} if "%" in query else query},
            headers={"authorization": f"Bearer {token}"},
            timeout=30,
        ).json()
        check("errors" not in found, f"{name}: {found}")
        expected = httpx.get(f"{plain}{path % {'agent': agent}}", timeout=30).json()
        check(found["data"] == expected["data"], f"{name}: the answers differ")
        if name == "commissions":
            check(len(found["data"]["commissions"]["edges"]) == 100, "less than a page")


def measure(api: str, plain: str, token: str, agent: str, runs: int, seconds: float) -> Any:
    scripts = {}
    for name, (query, path) in QUERIES.items():
        body = json.dumps({"query": query % {"agent": agent} if "%" in query else query})
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        scripts[name] = {
            "fenrun": (f"{api}/graphql", _lua("POST", body, headers)),
            "baseline": (f"{plain}{path % {'agent': agent}}", _lua("GET", None, {})),
        }
    for sides in scripts.values():  # warm-up: connections, caches, JIT-less Python's first calls
        for url, script in sides.values():
            wrk(url, script, 2)
    per_run: list[dict[str, Any]] = []
    for run in range(runs):
        order = ("fenrun", "baseline") if run % 2 == 0 else ("baseline", "fenrun")
        found: dict[str, Any] = {}
        for name, sides in scripts.items():
            found[name] = {side: wrk(*sides[side], seconds) for side in order}
            found[name]["ratio"] = rnd(
                found[name]["fenrun"]["req_per_s"] / found[name]["baseline"]["req_per_s"], 3
            )
            progress(f"graphql_reads run {run + 1}: {name} {found[name]}")
        per_run.append(found)
    return per_run


def _median_of(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return rnd(statistics.median(known), 2) if known else None


def _median(per_run: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in QUERIES:
        out[name] = {
            side: {
                k: _median_of([r[name][side][k] for r in per_run])
                for k in ("req_per_s", "p50_ms", "p99_ms")
            }
            for side in ("fenrun", "baseline")
        }
        out[name]["ratio"] = rnd(statistics.median(r[name]["ratio"] for r in per_run), 3)
        out[name]["meets_half"] = out[name]["ratio"] >= 0.5
    return out


def run(server_url: str, *, runs: int, sales: int, seconds: float) -> dict[str, Any]:
    from bench.common import database

    check(shutil.which("wrk") is not None, "wrk is not installed (apt-get install -y wrk)")
    data_dir = tempfile.mkdtemp(prefix="fenrun-bench-reads-")
    try:
        with database(server_url, f"reads{sales}") as dsn:
            agent, position, token, lines = prepare(dsn, sales, data_dir)
            api_port, plain_port = free_port(), free_port()
            api = start_server(dsn, api_port, {"FENRUN_AUTH": "on", "FENRUN_DATA_DIR": data_dir})
            plain = start_plain(dsn, plain_port, position)
            try:
                a, p = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{plain_port}"
                same_answers(a, p, token, agent)
                per_run = measure(a, p, token, agent, runs, seconds)
            finally:
                for proc in (api, plain):
                    proc.terminate()
                    proc.wait(timeout=30)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    return {
        "commission_lines": lines,
        "connections": CONNECTIONS,
        "seconds_per_side": seconds,
        "median": _median(per_run),
        "runs": per_run,
    }


if __name__ == "__main__":  # a quick look without the rest of the suite
    url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    print(json.dumps(run(url, runs=1, sales=500, seconds=3), indent=2))
