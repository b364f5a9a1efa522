"""The dispatcher killed between sending a carrier command and recording the carrier's answer
(SIGKILL, as tests/integration/test_crash_safety.py kills its workers): the command is sent
again under the same id by the next dispatcher, the carrier has made the change once, the answer
is recorded once, and our card's state follows (decision 0031)."""

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from application.carriers import CardStateReport
from domain.usage import UsageReport
from tests.e2e.carrier_fixtures import (  # noqa: F401 (the fixture is used by its name)
    MB,
    Carriers,
    carriers_fixture,
    personal_card,
    simulator_settings,
)

ROOT = Path(__file__).resolve().parents[2]
ICCID = "89860000000000000007"
STATES = {"CMCC": ("2", "4"), "CUCC": ("ACTIVATED", "DEACTIVATED"), "CTCC": ("4", "5")}


def environment(url: str) -> dict[str, str]:
    settings = simulator_settings(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FENRUN_")}
    for name, value in settings.model_dump().items():
        if name.startswith("china_") and value is not None:
            secret = getattr(value, "get_secret_value", None)
            env[f"FENRUN_{name.upper()}"] = secret() if secret else str(value)
    return env


@pytest.mark.parametrize("carrier", list(STATES))
def test_killed_after_sending_the_carrier_sees_the_command_once(
    carriers: Carriers, fenrun, dsn: str, carrier: str
) -> None:
    before, after = STATES[carrier]
    personal_card(fenrun, ICCID, quota_mb=100)
    carriers.card(carrier, ICCID, before)
    now = datetime.now(UTC)
    fenrun.carrier_reports.record("test", [CardStateReport("s-1", carrier, ICCID, before, now)], [])
    day = now.date()
    fenrun.record_usage_reports([UsageReport(ICCID, "u-1", 150 * MB, now, day=day)], "test")
    [command] = fenrun.outbox.rows(kind="carrier.card")

    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.carrier_dispatch_worker", dsn],
        cwd=ROOT,
        env=environment(carriers.url),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stdout is not None
        assert worker.stdout.readline().strip() == "ready"
        assert worker.stdout.readline().strip() == f"sent {command.command_id}"
        worker.send_signal(signal.SIGKILL)
    finally:
        worker.kill()
        worker.wait(timeout=30)
    # The carrier acted; Fenrun recorded nothing: the command is still pending, its row leased.
    assert carriers.seen(ICCID)["rawState"] == after
    assert fenrun.ledger.carrier_answer(command.command_id) is None
    [row] = fenrun.outbox.rows(kind="carrier.card")
    assert (row.status, row.attempts) == ("PENDING", 1)

    time.sleep(1.2)  # the dead dispatcher's lease ends
    assert fenrun.dispatcher.run_until_idle() == 1
    [row] = fenrun.outbox.rows(kind="carrier.card")
    assert (row.status, row.attempts) == ("DELIVERED", 2)
    assert [c["to"] for c in carriers.seen(ICCID)["changes"]] == [after]  # once in effect
    answered = fenrun.ledger.carrier_answer(command.command_id)
    assert (answered.outcome, answered.raw_state) == ("ACCEPTED", after)
    fenrun.catch_up()
    card = fenrun.ledger.card(ICCID)
    assert (str(card.status), card.carrier_state) == ("SUSPENDED", after)
