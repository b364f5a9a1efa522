"""Benchmark `chain`: what the event log's hash chain costs on the write path (issue 10).

Same run, same server, side by side: per run two fresh databases, one as migrated (the chain's
insert triggers on) and one where the superuser disabled those triggers (the write path before
migration 0009), each with the price chain set up and a few untimed saves made (WARM_UP). The
timed work then alternates between the two in slices, the order flipping each slice, so the
swings of a shared machine fall on both halves alike (timing one half after the other measured
the noise more than the chain). Phases, in this order:

- `per_command`: `Ledger.place_order` + `complete_order`, one save (one INSERT of one or two
  events) per command, `orders / 4` orders in slices of 50;
- `batched`: the throughput benchmark's batched mode, `2 x orders` orders, one save of `chunk`
  orders (2 x chunk events in one INSERT) per slice;
- `policy`: the CommissionPolicy over all of them until idle, one batch (500 notifications, one
  save of the commission events it decides) per half in turn;
- `recorder_1` and `recorder_1000`: the bare write path, `ledger.recorder.insert_events` with
  synthetic events (~450-byte states) one per save, and 1,000 per save.

`ratio` = events/s with the chain / events/s without, per phase (medians over runs). Also, on
the chained log: `verify_events_per_s`, ChainVerifier.verify() over the whole log (what
`fenrun audit verify-chain`, and every rebuild before it starts, adds).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable
from typing import Any

import psycopg

from bench.common import Timer, check, database, progress, rnd, summarize
from bench.fixtures import place_and_complete, place_and_complete_batched, setup_chain

CHAIN_TRIGGERS = ("ledger_events_serialise", "ledger_events_chain")
PHASES = ("per_command", "batched", "policy", "recorder_1", "recorder_1000")
PER_COMMAND_SLICE = 50
# Untimed saves first, one per connection of the recorder's pool (POSTGRES_POOL_SIZE 5, used in
# turn): a connection's first insert compiles the trigger functions (~5 ms, once per connection).
WARM_UP = 5
SYNTHETIC_TOPIC = "bench.chain:Synthetic"


def _unchain(dsn: str) -> None:
    actions = ", ".join(f"DISABLE TRIGGER {t}" for t in CHAIN_TRIGGERS)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"ALTER TABLE ledger_events {actions}")


def _links(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM ledger_chain").fetchone()
    assert row is not None
    return int(row[0])


class _Halves:
    """The two databases' apps, and each one's time and events per phase."""

    def __init__(self, apps: dict[str, Any], run: int) -> None:
        self.apps, self.run, self.turn = apps, run, 0
        self.seconds: dict[str, dict[str, float]] = {p: dict.fromkeys(apps, 0.0) for p in PHASES}
        self.events: dict[str, dict[str, int]] = {p: dict.fromkeys(apps, 0) for p in PHASES}

    def alternately(self, phase: str, job: Callable[[Any], Any], halves: set[str]) -> dict:
        """Runs `job` on each half, first "on" or "off" in turn; times it; returns the results."""
        first = "on" if (self.turn + self.run) % 2 == 0 else "off"
        self.turn += 1
        results = {}
        for half in sorted(halves, key=lambda h: h != first):
            app = self.apps[half]
            head = app.read.log_head()
            with Timer() as t:
                results[half] = job(app)
            self.seconds[phase][half] += t.seconds
            self.events[phase][half] += app.read.log_head() - head
        return results

    def report(self) -> dict[str, Any]:
        return {
            f"chain_{half}": {
                p: {
                    "events": self.events[p][half],
                    "seconds": rnd(self.seconds[p][half]),
                    "events_per_s": rnd(self.events[p][half] / self.seconds[p][half]),
                }
                for p in PHASES
            }
            for half in self.apps
        }


def _synthetic(count: int, state: bytes) -> list[Any]:
    from eventsourcing.persistence import StoredEvent

    return [StoredEvent(uuid.uuid4(), 1, SYNTHETIC_TOPIC, state) for _ in range(count)]


def _warm_up(app: Any, chunk: int) -> None:
    for w in range(WARM_UP):
        place_and_complete(app, "w1", w, 1)
        place_and_complete_batched(app, "w2", w * chunk, chunk, chunk)
    app.policy.run_until_idle()


def _measure(halves: _Halves, orders: int, chunk: int, saves: int) -> None:
    per_command = max(PER_COMMAND_SLICE, orders // 4)
    for lo in range(0, per_command, PER_COMMAND_SLICE):
        halves.alternately(
            "per_command",
            lambda app, lo=lo: place_and_complete(app, "c", lo, PER_COMMAND_SLICE),
            set(halves.apps),
        )
    for lo in range(0, 2 * orders, chunk):
        halves.alternately(
            "batched",
            lambda app, lo=lo: place_and_complete_batched(app, "b", lo, chunk, chunk),
            set(halves.apps),
        )
    busy = set(halves.apps)
    while busy:  # until both policies are idle
        done = halves.alternately("policy", lambda app: app.policy.run_once(), busy)
        busy -= {h for h, consumed in done.items() if consumed == 0}
    state = os.urandom(225).hex().encode()  # an Order.Placed is ~450 bytes
    for phase, per_save, count in (("recorder_1", 1, saves * 10), ("recorder_1000", 1000, saves)):
        for _ in range(count):
            events = _synthetic(per_save, state)
            halves.alternately(
                phase, lambda app, e=events: app.ledger.recorder.insert_events(e), set(halves.apps)
            )


def one_run(server_url: str, orders: int, chunk: int, saves: int, run: int) -> dict[str, Any]:
    from api.bootstrap import bootstrap
    from application.settings import Settings
    from projections.chain import ChainVerifier

    with contextlib.ExitStack() as stack:
        apps, dsns = {}, {}
        for half in ("on", "off"):
            dsns[half] = stack.enter_context(database(server_url, f"chain_{half}"))
            if half == "off":
                _unchain(dsns[half])
            apps[half] = bootstrap(Settings(database_url=dsns[half]), run_migrations=False)
            stack.callback(apps[half].close)
            setup_chain(apps[half])
            _warm_up(apps[half], chunk)
        halves = _Halves(apps, run)
        _measure(halves, orders, chunk, saves)
        heads = {h: app.read.log_head() for h, app in apps.items()}
        with Timer() as verify:
            report = ChainVerifier(apps["on"].pool).verify()
        check(report.first_break is None, f"chain broken: {report.first_break}")
        check(report.checked == heads["on"], f"verified {report.checked} of {heads['on']}")
        links = {h: _links(dsn) for h, dsn in dsns.items()}
    check(links == {"on": heads["on"], "off": 0}, f"chain links {links}, heads {heads}")
    return halves.report() | {"verify_events_per_s": rnd(report.checked / verify.seconds)}


def run(server_url: str, *, runs: int, orders: int, chunk: int, saves: int) -> dict[str, Any]:
    results = []
    for i in range(runs):
        progress(f"chain run {i + 1}/{runs}: {orders} orders, chain on and off side by side")
        results.append(one_run(server_url, orders, chunk, saves, i))
        progress(f"  {results[-1]}")
    keys = [f"{p}.{k}" for p in PHASES for k in ("events_per_s", "seconds")]
    on = summarize([r["chain_on"] for r in results], keys)
    off = summarize([r["chain_off"] for r in results], keys)
    return {
        "orders": {"per_command": max(PER_COMMAND_SLICE, orders // 4), "batched": 2 * orders},
        "batch_chunk": chunk,
        "recorder_saves": {"recorder_1": saves * 10, "recorder_1000": saves},
        "chain_on": on,
        "chain_off": off,
        "ratio": {p: rnd(on[f"{p}.events_per_s"] / off[f"{p}.events_per_s"]) for p in PHASES},
        "verify_events_per_s": summarize(results, ["verify_events_per_s"])["verify_events_per_s"],
        "runs": results,
    }
