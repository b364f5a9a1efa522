"""Decision 0042: an order's commands read less, and still never decide on stale state.

- The order a command saved is kept for the next command that changes it; another process
  writing the order in between makes that command's save fail, and it is decided again on what
  the store holds.
- A sale reads its kept agents and package without asking; another process changing one of
  them makes the sale's save insert nothing, and it is decided again with its reads checked.
- The lifetime totals are read at most once a second, never reused at the limit.
Each test asserts what was written, not only the mechanism.
"""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from api.bootstrap import bootstrap
from application.settings import Settings
from application.use_cases.limits import LifetimeReading
from application.use_cases.orders import PlaceOrder
from domain.common import Audit, aggregate_id
from domain.errors import BalanceLimitExceeded, LedgerError
from domain.money import MAX_TOTAL_FEN, require_lifetime_room
from domain.order import Order, OrderStatus
from tests.integration.test_hot_aggregates import _chain  # platform -> A -> B selling P

A = Audit("admin", datetime(2026, 1, 5, tzinfo=UTC))


@pytest.fixture
def other(dsn: str, tmp_path: Path, clock: Any) -> Any:
    """Another process of the service on the same database: its own ledger, its own memory."""
    app = bootstrap(
        Settings(database_url=dsn, data_dir=tmp_path / "other"), run_migrations=False, clock=clock
    )
    yield app
    app.close()


def test_an_order_another_process_changed_is_decided_again_on_the_store(
    fenrun: Any, other: Any
) -> None:
    ledger = fenrun.ledger
    _chain(ledger)
    ledger.place_order("O1", "P", "B", None, "cust", "CUSTOMER_PAYS", A)
    assert ledger.kept_changes.take(aggregate_id("order", "O1")) is not None  # kept by its save
    ledger.place_order("O2", "P", "B", None, "cust", "CUSTOMER_PAYS", A)
    other.ledger.cancel_order(
        "O2", Audit("ops", A.effective_at, "called off")
    )  # O2's kept copy is now one version behind
    with pytest.raises(LedgerError) as refused:
        ledger.complete_order("O2", A)
    assert refused.value.code == "INVALID_STATE"
    assert "CANCELLED" in refused.value.message
    stored = ledger.order("O2")
    assert stored.status == OrderStatus.CANCELLED
    assert stored.version == 2
    # Completed where nobody else wrote: from the kept copy, saved once.
    ledger.place_order("O3", "P", "B", None, "cust", "CUSTOMER_PAYS", A)
    ledger.complete_order("O3", A)
    assert ledger.order("O3").status == OrderStatus.COMPLETED
    assert [e.originator_version for e in ledger.events.get(aggregate_id("order", "O3"))] == [1, 2]


def test_a_sale_on_an_agent_another_process_changed_pays_the_new_price(
    fenrun: Any, other: Any
) -> None:
    ledger = fenrun.ledger
    _chain(ledger)
    ledger.place_order("O1", "P", "B", None, "cust", "CUSTOMER_PAYS", A)  # B, A, P kept
    other.ledger.set_cost_price("B", "P", 8000, A)  # not through this ledger
    ledger.place_order("O2", "P", "B", None, "cust", "CUSTOMER_PAYS", A)
    assert ledger.order("O2").chain == [("A", 6000), ("B", 8000)]
    assert len(list(ledger.events.get(aggregate_id("order", "O2")))) == 1  # saved once
    # A refusal on kept copies stands only when the checked reads refuse too: B's retail
    # price, set by the other process, now allows a sale the kept copy would refuse.
    other.ledger.register_agent("C", "Agent C", "B", True, A)
    other.ledger.set_cost_price("C", "P", 8500, A)
    with pytest.raises(LedgerError):
        ledger.place_order("O3", "P", "C", None, "cust", "CUSTOMER_PAYS", A)  # no retail price
    other.ledger.set_retail_price("C", "P", 9500, A)
    ledger.place_order("O3", "P", "C", None, "cust", "CUSTOMER_PAYS", A)
    assert [code for code, _ in ledger.order("O3").chain] == ["A", "B", "C"]


def test_an_order_placed_twice_is_refused_as_existing_and_saved_once(fenrun: Any) -> None:
    ledger = fenrun.ledger
    _chain(ledger)
    ledger.place_order("O1", "P", "B", None, "cust", "CUSTOMER_PAYS", A, key="k1")
    assert ledger.commit(_place("k1")).replayed  # a retry: its first answer
    with pytest.raises(LedgerError) as refused:
        ledger.commit(_place("k2"))
    assert refused.value.code == "ALREADY_EXISTS"
    assert len(list(ledger.events.get(aggregate_id("order", "O1")))) == 1


def _place(key: str) -> PlaceOrder:
    return PlaceOrder("O1", "P", "B", None, "cust", "CUSTOMER_PAYS", A, key)


class _Totals:
    def __init__(self, *readings: tuple[int, int]) -> None:
        self.readings, self.reads = list(readings), 0

    def lifetime_totals(self) -> tuple[int, int]:
        self.reads += 1
        return self.readings.pop(0)


def test_the_lifetime_totals_are_read_once_a_second_and_never_reused_at_the_limit() -> None:
    reading = LifetimeReading(kept_seconds=60)
    source = _Totals((10, 5), (MAX_TOTAL_FEN, 0), (MAX_TOTAL_FEN, 0))
    assert reading.totals(source) == reading.totals(source) == (10, 5)
    assert source.reads == 1
    reading = LifetimeReading(kept_seconds=0)  # a second later
    assert reading.totals(_Totals((1, 1))) == (1, 1)
    at_limit = LifetimeReading(kept_seconds=60)
    source = _Totals((MAX_TOTAL_FEN, 0), (MAX_TOTAL_FEN, 0))
    for _ in range(2):
        with pytest.raises(BalanceLimitExceeded):
            require_lifetime_room(*at_limit.totals(source))
    assert source.reads == 2  # each fact at the limit reads again


def test_an_order_is_kept_only_by_the_kind_kept(fenrun: Any) -> None:
    ledger = fenrun.ledger
    _chain(ledger)
    ledger.place_order("O1", "P", "B", None, "cust", "CUSTOMER_PAYS", A)
    kept = ledger.kept_changes.take(aggregate_id("order", "O1"))
    assert isinstance(kept, Order)
    assert kept.version == 1
    assert ledger.kept_changes.take(aggregate_id("order", "O1")) is None  # taken, not shared
    assert ledger.kept_changes.take(aggregate_id("agent", "B")) is None
