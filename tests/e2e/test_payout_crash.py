"""Crash safety of payouts: the worker SIGKILLed between submitting a payout to the channel and
recording the channel's answer (or between recording it and marking the command delivered),
then restarted: every agent is paid exactly once, by the channel's own books and by the ledger's
(issue 11, decision 0026). The channel is the simulator as an HTTP service."""

import subprocess
import sys
from collections.abc import Iterator

import pytest

from api.channel_simulator import simulator_app
from application.simulated_channel import SimulatedChannel
from tests.conftest import ROOT
from tests.e2e.conftest import GraphQLClient, running
from tests.e2e.payout_env import with_commissions, withdraw

AMOUNTS = {"W-1": "1.00", "W-2": "2.55", "W-3": "3.00"}  # 2.55: its callback never comes


@pytest.fixture
def channel() -> Iterator[tuple[SimulatedChannel, str]]:
    simulated = SimulatedChannel("sim")  # no callbacks reach Fenrun here: the poll finds them
    with running(simulator_app(simulated)) as url:
        yield simulated, url


def _worker(dsn: str, url: str, mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.payout_crash_worker", dsn, url, mode],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _line(proc: subprocess.Popen[str], prefix: str) -> str:
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        if line.startswith(prefix):
            return line.strip()
        seen.append(line)
    _, err = proc.communicate(timeout=10)
    raise AssertionError(f"the worker ended without '{prefix}': {seen} {err[-3000:]}")


def _count(fenrun, topic: str) -> int:
    with fenrun.pool.connection() as conn:
        row = conn.execute(
            "SELECT count(*) FROM ledger_events WHERE topic LIKE %s", (f"%{topic}",)
        ).fetchone()
    return int(row[0])


@pytest.mark.parametrize("moment", ["pause-after-submit", "pause-after-record"])
def test_a_worker_killed_mid_payout_pays_exactly_once(
    gql: GraphQLClient, fenrun, dsn: str, channel: tuple[SimulatedChannel, str], moment: str
) -> None:
    simulated, url = channel
    with_commissions(gql, sales=2)
    for withdrawal_id, amount in AMOUNTS.items():
        withdraw(gql, withdrawal_id, amount)
    doomed = _worker(dsn, url, moment)
    try:
        said = _line(doomed, "submitted" if moment == "pause-after-submit" else "recorded")
    finally:
        doomed.kill()  # SIGKILL: between the channel's answer and what follows it
        doomed.communicate(timeout=30)
    out_request_id = said.split()[1]
    books = simulated.record()
    assert books[out_request_id]["timesPaid"] == 1  # the channel paid before the kill
    if moment == "pause-after-submit":
        assert _count(fenrun, ":Payout.Submitted") == 0  # its answer was never recorded

    survivor = _worker(dsn, url, "run")
    _line(survivor, "idle")
    assert survivor.wait(timeout=60) == 0

    books = simulated.record()
    assert sorted(books) == [f"PO-{w}" for w in AMOUNTS]
    assert {k: b["timesPaid"] for k, b in books.items()} == dict.fromkeys(books, 1)
    assert "duplicate" in books[out_request_id]["history"]  # sent again, deduplicated
    assert _count(fenrun, ":Payout.Paid") == 3
    assert _count(fenrun, ":Wallet.WithdrawalPaid") == 3
    fenrun.catch_up()
    balances = gql('{ wallet(agentCode: "P1") { available withdrawing } }')["data"]["wallet"]
    assert balances == {"available": "9.45", "withdrawing": "0.00"}
    rows = fenrun.outbox.rows()
    assert {r.status for r in rows} == {"DELIVERED"}
    assert len(rows) == 3
