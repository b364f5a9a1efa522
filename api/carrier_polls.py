"""The carriers' poll lists in PostgreSQL (migration 0019), and the worker's job that polls."""

from datetime import UTC, datetime
from typing import Any

from psycopg_pool import ConnectionPool

from application.carrier_polls import poll_carriers
from application.carriers import Carrier


class PgPollList:
    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool
        self.started = datetime.now(UTC)  # a poll's start: cards polled since have had their turn

    def add(self, carrier: Carrier, iccids: list[str]) -> int:
        with self.pool.connection() as conn, conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO carrier_poll_cards (carrier, iccid) VALUES (%s, %s)"
                " ON CONFLICT DO NOTHING",
                [(str(carrier), iccid) for iccid in iccids],
            )
            return cur.rowcount

    def due(self, carrier: Carrier, limit: int) -> list[str]:
        # Cards not polled since this poll began come first; a poll's own answers are marked
        # polled, so the loop moves on and ends when every card has had its turn.
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT iccid FROM carrier_poll_cards WHERE carrier = %s"
                " AND (polled_at IS NULL OR polled_at < %s)"
                " ORDER BY polled_at NULLS FIRST, iccid LIMIT %s",
                (str(carrier), self.started, limit),
            ).fetchall()
        return [r[0] for r in rows]

    def begin(self, at: datetime) -> None:
        self.started = at

    def polled(self, carrier: Carrier, iccids: list[str], at: datetime) -> None:
        with self.pool.connection() as conn:
            conn.execute(
                "UPDATE carrier_poll_cards SET polled_at = %s, last_error = NULL"
                " WHERE carrier = %s AND iccid = ANY(%s)",
                (at, str(carrier), iccids),
            )

    def failed(self, carrier: Carrier, iccid: str, error: str, at: datetime) -> None:
        # Marked polled too (with its error): the poll moves on, the next poll tries it again.
        with self.pool.connection() as conn:
            conn.execute(
                "UPDATE carrier_poll_cards SET polled_at = %s, last_error = %s"
                " WHERE carrier = %s AND iccid = %s",
                (at, error, str(carrier), iccid),
            )


def poll_now(fenrun: Any, now: datetime) -> dict[str, Any]:
    """The carrier_poll job: every carrier in FENRUN_CARRIER_POLL, each card on its list once."""
    cards = PgPollList(fenrun.pool)
    cards.begin(now)
    clock = fenrun.clock.now
    done = poll_carriers(
        list(fenrun.settings.carrier_poll), fenrun.carriers, cards, fenrun.carrier_reports, clock
    )
    fenrun.settle()  # what was recorded stands whatever catching up does (logged if it fails)
    return {
        "carriers": [p.carrier for p in done],
        "cards": sum(p.cards for p in done),
        "recorded": sum(p.recorded for p in done),
        "failed": sum(p.failed for p in done),
    }
