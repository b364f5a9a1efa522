"""Every balance event names its movement kind (so statements and the movement ledger cannot
forget a new one), and statement arithmetic: closing = opening + lines, to the fen."""

import dataclasses
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from domain.errors import InvalidInput, InvalidState
from domain.movements import (
    BUCKETS,
    CATEGORIES,
    CATEGORY_LABELS,
    StatementLine,
    category_of,
    check_adds_up,
    closing_of,
)
from domain.statement import Cycle
from domain.wallet import Wallet

# The bases: they declare MOVEMENT's type only (eventsourcing subclasses the events nested in an
# aggregate again, so each appears under its name twice).
ABSTRACT = {"Wallet.BalanceEvent", "Wallet.LineEvent"}
SHANGHAI = ZoneInfo("Asia/Shanghai")


def balance_events() -> list[type]:
    found, todo = [], [Wallet.BalanceEvent]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__qualname__ not in ABSTRACT and cls.__module__.startswith("domain."):
            found.append(cls)
    return found


def test_the_bases_give_no_movement_so_none_is_inherited_by_accident() -> None:
    assert not hasattr(Wallet.BalanceEvent, "MOVEMENT")
    assert not hasattr(Wallet.LineEvent, "MOVEMENT")


def test_every_balance_event_declares_its_movement() -> None:
    events = balance_events()
    assert len(events) >= 17
    for cls in events:
        assert hasattr(cls, "MOVEMENT"), f"{cls.__qualname__} declares no MOVEMENT"
        assert isinstance(cls.MOVEMENT, str)
        assert cls.MOVEMENT in CATEGORIES, f"{cls.MOVEMENT} has no statement category"
        assert "MOVEMENT" not in {f.name for f in dataclasses.fields(cls)}  # not a field


def test_movement_kinds_are_unique() -> None:
    kinds = list({cls.__qualname__: cls.MOVEMENT for cls in balance_events()}.values())
    assert len(kinds) == len(set(kinds))


def test_the_money_out_kinds_have_their_categories_already() -> None:
    assert category_of("fee") == "fees"
    assert category_of("tax") == "tax"
    assert category_of("deposit_transfer") == "deposit_transfers"
    assert category_of("withdrawal_approved") == category_of("withdrawal_rejected") == "withdrawals"
    assert category_of("something_new") == "other"
    assert {c for c in CATEGORIES.values() if c} <= set(CATEGORY_LABELS)


def test_closing_is_opening_plus_lines_to_the_fen() -> None:
    opening = dict.fromkeys(BUCKETS, 0) | {"available": 101}
    lines = [
        StatementLine("commission_approved", False, 2, 250, {"unfreezing": -250, "available": 249,
                                                             "debt": -1}),
        StatementLine("withdrawal_requested", True, 1, 300, {"available": -300, "withdrawing": 300}),
    ]  # fmt: skip
    closing = closing_of(opening, lines)
    assert closing["available"] == 50
    assert closing["withdrawing"] == 300
    assert closing["unfreezing"] == -250
    assert closing["debt"] == -1
    check_adds_up(opening, lines, closing)
    with pytest.raises(InvalidState):
        check_adds_up(opening, lines, closing | {"available": 51})


def test_cycles_in_the_business_time_zone() -> None:
    nov = Cycle.parse("2026-11", SHANGHAI)
    assert nov.starts_at == datetime(2026, 10, 31, 16, tzinfo=UTC)
    assert nov.ends_at == datetime(2026, 11, 30, 16, tzinfo=UTC)
    assert Cycle.parse("2026-12", SHANGHAI).ends_at == datetime(2026, 12, 31, 16, tzinfo=UTC)
    week = Cycle.parse("2026-W01", SHANGHAI)
    assert (week.ends_at - week.starts_at).days == 7
    day = Cycle.parse("2026-11-30", SHANGHAI)
    assert day.starts_at == datetime(2026, 11, 29, 16, tzinfo=UTC)
    at = datetime(2026, 12, 1, 1, tzinfo=UTC)  # 09:00 on 1 December in Shanghai
    assert Cycle.last_ended(at, "monthly", SHANGHAI).code == "2026-11"
    assert Cycle.last_ended(at, "daily", SHANGHAI).code == "2026-11-30"
    assert Cycle.last_ended(at, "weekly", SHANGHAI).code == "2026-W48"
    for bad in ("2026-13", "2026-W54", "2026-02-30", "11-2026", ""):
        with pytest.raises(InvalidInput):
            Cycle.parse(bad, SHANGHAI)
