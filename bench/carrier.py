"""Benchmark `carrier`: the time from a carrier's usage report to the stop command leaving the
outbox (issue 14, decision 0031).

One fresh database; the carrier simulator and Fenrun's API served in this process on loopback;
`cards` personal cards on a 1 MB package, each reported in service by China Mobile (OneLink) and
at the simulator in state 2. A dispatcher thread runs as the worker's does (a round of due
commands, then, when there was none, a wait of FENRUN_POLL_INTERVAL_SECONDS). Then, one card
after another, a signed push of a usage report over the card's quota (POST
/v1/carrier-reports/CMCC); the clock starts before the push is sent and stops when the simulator
receives the change for that card (OneLink change/sim-status), so a latency is: the signed
request, the usage ingested, the quota rule's decision and its outbox row (one transaction), the
wait for the dispatcher's next round, the carrier call.

    python -m bench --only carrier [--quick]          python -m bench.carrier --cards 200
"""

from __future__ import annotations

import argparse
import json
import secrets
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import uvicorn

from bench.common import check, database, progress, quantile, rnd

MB = 1 << 20


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _serving(app: Any) -> Iterator[str]:
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        check(thread.is_alive(), "a server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _dispatching(fenrun: Any, stop: threading.Event, interval: float) -> None:
    while not stop.is_set():
        if not fenrun.dispatcher.run_once():
            stop.wait(interval)


def run_once(server_url: str, cards: int, interval: float) -> dict[str, Any]:
    from api.app import create_app
    from api.auth.sealing import Sealer
    from api.auth.signatures import sign
    from api.bootstrap import bootstrap
    from api.carriers.simulator import CarrierSimulator, SimCard, create_simulator
    from application.carriers import CardStateReport, Carrier
    from application.settings import Settings
    from domain.common import Audit

    sim = CarrierSimulator()
    with database(server_url, "carrier") as dsn, _serving(create_simulator(sim)) as sim_url:
        settings = Settings(
            database_url=dsn,
            poll_interval_seconds=interval,
            china_mobile_url=f"{sim_url}/cmcc/v5/ec",
            china_mobile_app_id="C5010000000001",
            china_mobile_password="bench",
        )
        fenrun = bootstrap(settings, run_migrations=False)
        try:
            ledger, now = fenrun.ledger, datetime.now(UTC)
            at = Audit("bench", now - timedelta(days=1))
            ledger.register_agent("A", "Agent", None, True, at)
            ledger.define_package("P", "1 MB", "TRAFFIC", 5000, 1, at)
            ledger.set_package_quota("P", 1, at)
            iccids = [f"8986{i:016d}" for i in range(cards)]
            for iccid in iccids:
                ledger.assign_card(iccid, "A", "P", at)
                sim.cards[iccid] = SimCard(Carrier.CHINA_MOBILE, iccid, "2")
            states = [CardStateReport(f"s-{i}", "CMCC", i, "2", now) for i in iccids]
            fenrun.carrier_reports.record("bench", states, [])
            fenrun.catch_up()
            secret = secrets.token_urlsafe(32)
            sealed = Sealer.of(settings).seal(secret, "fk_bench")
            ledger.issue_api_key(
                "fk_bench", "bench", ("carrier-reports",), sealed, at, speaks_for="CMCC"
            )

            stop = threading.Event()
            dispatcher = threading.Thread(target=_dispatching, args=(fenrun, stop, interval))
            dispatcher.start()
            latencies, pushes, path = [], [], "/v1/carrier-reports/CMCC"
            try:
                with _serving(create_app(fenrun=fenrun)) as api, httpx.Client(base_url=api) as c:
                    for n, iccid in enumerate(iccids):
                        report = {
                            "kind": "USAGE",
                            "reportId": f"u-{n}",
                            "iccid": iccid,
                            "reportedAt": datetime.now(UTC).isoformat(),
                            "bytesUsed": 2 * MB,
                        }
                        body = orjson.dumps({"reports": [report]})
                        stamp, nonce = str(int(time.time())), secrets.token_hex(12)
                        headers = {
                            "content-type": "application/json",
                            "x-fenrun-key": "fk_bench",
                            "x-fenrun-timestamp": stamp,
                            "x-fenrun-nonce": nonce,
                            "x-fenrun-signature": sign(secret, "POST", path, stamp, nonce, body),
                        }
                        started = time.time()
                        answer = c.post(path, content=body, headers=headers, timeout=60)
                        pushes.append(time.time() - started)
                        check(answer.status_code == 200, answer.text)
                        deadline = time.monotonic() + 30
                        while not sim.cards[iccid].changes:
                            check(time.monotonic() < deadline, f"no command for {iccid}")
                            time.sleep(0.001)
                        latencies.append(sim.cards[iccid].changes[0]["at"] - started)
            finally:
                stop.set()
                dispatcher.join(timeout=30)
            delivered = len(
                fenrun.outbox.rows(kind="carrier.card", status="DELIVERED", first=cards)
            )
            check(delivered == cards, f"{delivered} of {cards} commands delivered")
        finally:
            fenrun.close()
    return {
        "cards": cards,
        "poll_interval_s": interval,
        "p50_ms": rnd(quantile(latencies, 0.5) * 1000),
        "p99_ms": rnd(quantile(latencies, 0.99) * 1000),
        "max_ms": rnd(max(latencies) * 1000),
        # the signed push alone (answered once the usage, the decision and its outbox row are
        # committed and the views have caught up): the rest is the wait for the dispatcher
        "push_p50_ms": rnd(quantile(pushes, 0.5) * 1000),
        "push_p99_ms": rnd(quantile(pushes, 0.99) * 1000),
    }


def run(server_url: str, runs: int, cards: int, interval: float = 0.5) -> dict[str, Any]:
    results = []
    for n in range(runs):
        progress(f"carrier: run {n + 1}/{runs}, {cards} cards, poll every {interval}s")
        results.append(run_once(server_url, cards, interval))
    ordered = sorted(results, key=lambda r: r["p50_ms"])
    return {"median_run": ordered[len(ordered) // 2], "runs": results}


def main() -> None:
    import os

    parser = argparse.ArgumentParser(
        prog="python -m bench.carrier", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--cards", type=int, default=200)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--interval", type=float, default=0.5, help="the worker's poll interval")
    parser.add_argument("--server-url", default=os.environ.get("DATABASE_URL"))
    args = parser.parse_args()
    check(args.server_url, "give --server-url or DATABASE_URL")
    # Logs to stderr: stdout carries the JSON document alone (as python -m bench does).
    real_stdout, sys.stdout = sys.stdout, sys.stderr
    import structlog

    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    done = run(args.server_url, args.runs, args.cards, args.interval)
    print(json.dumps(done, indent=2), file=real_stdout)


if __name__ == "__main__":
    main()
