"""Polling carriers that do not push (decision 0031): for each card on a carrier's poll list,
its state and month-to-date usage, recorded as reports like pushed ones (the same use cases,
idempotent by report id, placed by their own time).

A card the carrier does not answer for (down, slow, refusing) is counted and noted on the list,
and the poll goes on with the others: one bad card never stops a carrier's poll. Reports are
handed over in batches, so a poll of many cards holds no more than one batch in memory.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from application.carrier_reports import CarrierReportIntake
from application.carriers import (
    CardStateReport,
    Carrier,
    CarrierPort,
    CarrierRefused,
    CarrierUnavailable,
    MonthToDate,
)
from domain.common import SYSTEM_ACTOR

ACTOR = f"{SYSTEM_ACTOR}:carrier-poll"
BATCH = 500


class PollList(Protocol):
    """Which cards a carrier is polled for, least recently polled first, and how it went."""

    def due(self, carrier: Carrier, limit: int) -> list[str]: ...

    def polled(self, carrier: Carrier, iccids: list[str], at: datetime) -> None: ...

    def failed(self, carrier: Carrier, iccid: str, error: str, at: datetime) -> None: ...


@dataclass
class Polled:
    carrier: str
    cards: int = 0
    recorded: int = 0
    failed: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)


def poll_carriers(
    carriers: list[Carrier],
    ports: Mapping[Carrier, CarrierPort],
    cards: PollList,
    intake: CarrierReportIntake,
    now: Any,
    most: int = 100_000,
) -> list[Polled]:
    return [poll_carrier(c, ports[c], cards, intake, now, most) for c in carriers if c in ports]


def poll_carrier(
    carrier: Carrier,
    port: CarrierPort,
    cards: PollList,
    intake: CarrierReportIntake,
    now: Any,
    most: int = 100_000,
) -> Polled:
    done = Polled(str(carrier))
    remaining = most
    while remaining > 0:
        due = cards.due(carrier, min(BATCH, remaining))
        if not due:
            break
        states: list[CardStateReport] = []
        counters: list[MonthToDate] = []
        answered: list[str] = []
        for iccid in due:
            try:
                states.append(port.query_state(iccid))
                counters.append(port.query_usage(iccid))
            except (CarrierUnavailable, CarrierRefused) as exc:
                done.failed += 1
                cards.failed(carrier, iccid, str(exc)[:500], now())
                continue
            answered.append(iccid)
        recorded = intake.record_polled(ACTOR, states, counters)
        done.cards += len(due)
        done.recorded += recorded.recorded
        done.errors.extend(recorded.errors)
        cards.polled(carrier, answered, now())
        remaining -= len(due)
        if len(due) < BATCH:
            break
    return done
