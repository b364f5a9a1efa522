"""Polling carriers that do not push (decision 0031), against the carrier simulator: each card
on the poll list asked for its state and month-to-date usage, recorded as reports; a card the
carrier refuses or cannot answer for is noted and the others go on."""

from datetime import UTC, datetime

import psycopg
import pytest

from api.carrier_polls import PgPollList, poll_now
from api.worker import scheduled_jobs
from application.carriers import Carrier
from tests.e2e.carrier_fixtures import (  # noqa: F401 (the fixture is used by its name)
    MB,
    Carriers,
    carriers_fixture,
    personal_card,
)

ICCID, UNKNOWN = "89860100000000000001", "89860100000000000002"


def month_bytes(fenrun, iccid: str) -> int:
    return fenrun.usage.card_month_bytes(iccid, fenrun.usage.month_of(fenrun.clock.now()))


def test_a_poll_records_states_and_usage_and_goes_on_past_failures(
    carriers: Carriers, fenrun
) -> None:
    fenrun.settings = fenrun.settings.model_copy(update={"carrier_poll": [Carrier.CHINA_UNICOM]})
    personal_card(fenrun, ICCID, quota_mb=1000)
    carriers.card("CUCC", ICCID, "ACTIVATED")
    carriers.use(ICCID, 30)
    PgPollList(fenrun.pool).add(Carrier.CHINA_UNICOM, [ICCID, UNKNOWN])

    done = poll_now(fenrun, datetime.now(UTC))
    assert done == {"carriers": ["CUCC"], "cards": 2, "recorded": 2, "failed": 1}
    card = fenrun.ledger.card(ICCID)
    assert (card.carrier, card.carrier_state, str(card.status)) == (
        "CUCC",
        "ACTIVATED",
        "ACTIVATED",
    )
    assert month_bytes(fenrun, ICCID) == 30 * MB
    with fenrun.pool.connection() as conn:
        errors = dict(conn.execute("SELECT iccid, last_error FROM carrier_poll_cards").fetchall())
    assert errors[ICCID] is None
    assert "not found" in errors[UNKNOWN]

    carriers.use(ICCID, 15)
    carriers.change(ICCID, "DEACTIVATED")
    carriers.faults(down=True)
    down = poll_now(fenrun, datetime.now(UTC))
    assert (down["recorded"], down["failed"]) == (0, 2)
    assert month_bytes(fenrun, ICCID) == 30 * MB  # nothing invented while the carrier was down
    carriers.faults(down=False)
    poll_now(fenrun, datetime.now(UTC))
    assert month_bytes(fenrun, ICCID) == 45 * MB  # the newest counter, not a sum of polls
    assert str(fenrun.ledger.card(ICCID).status) == "SUSPENDED"


def test_the_worker_polls_on_its_schedule_only_when_told_which_carriers(fenrun) -> None:
    assert "carrier_poll" not in [j.name for j in scheduled_jobs(fenrun)]
    fenrun.settings = fenrun.settings.model_copy(
        update={"carrier_poll": [Carrier.CHINA_TELECOM], "carrier_poll_schedule": "1h"}
    )
    assert "carrier_poll" in [j.name for j in scheduled_jobs(fenrun)]


def test_what_a_poll_recorded_stands_when_catching_up_after_it_fails(
    carriers: Carriers, fenrun, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rule 1 for the poll job: its reports are recorded before the views catch up; a lost
    connection then is logged and left to the next round, not the job's failure."""
    fenrun.settings = fenrun.settings.model_copy(update={"carrier_poll": [Carrier.CHINA_UNICOM]})
    personal_card(fenrun, ICCID, quota_mb=1000)
    carriers.card("CUCC", ICCID, "ACTIVATED")
    PgPollList(fenrun.pool).add(Carrier.CHINA_UNICOM, [ICCID])

    def lost(*_: object) -> int:
        raise psycopg.OperationalError("server closed the connection unexpectedly (test)")

    monkeypatch.setattr(fenrun.workflows.parts.projections, "run_until_idle", lost)
    done = poll_now(fenrun, datetime.now(UTC))
    assert (done["cards"], done["recorded"], done["failed"]) == (1, 2, 0)  # its state, its usage
    assert fenrun.ledger.card(ICCID).carrier_state == "ACTIVATED"
