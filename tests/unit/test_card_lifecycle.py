"""The card's lifecycle of our own, the three carriers' mappings onto it, reports in and out of
order, the quota rules (decision 0030). Pure domain: no database."""

from datetime import UTC, datetime, timedelta

import pytest

from domain.card import Card
from domain.common import Audit
from domain.enterprise import MB, Enterprise
from domain.errors import InvalidInput, InvalidState
from domain.lifecycle import (
    TRANSITIONS,
    CardStatus,
    CarrierCommand,
    CommandCause,
    carrier_mappings,
    load_mappings,
    map_carrier_state,
    may_move,
)
from domain.order import Order, OrderStatus

T0 = datetime(2026, 1, 5, 10, tzinfo=UTC)
S = CardStatus


def audit(hours: int = 0, reason: str = "") -> Audit:
    return Audit("ops", T0 + timedelta(hours=hours), reason)


def card(iccid: str = "C1") -> Card:
    return Card.assign(iccid, "A", "P", "TRAFFIC", audit())


def report(c: Card, carrier: str, raw: str, hours: int, report_id: str) -> str:
    at = T0 + timedelta(hours=hours)
    assert c.report_carrier_state(map_carrier_state(carrier, raw), report_id, at, audit(hours))
    return c.pending_events[-1].outcome


@pytest.mark.parametrize(
    ("raw", "ours"),
    [("1", S.IN_STOCK), ("2", S.ACTIVATED), ("4", S.SUSPENDED), ("6", S.TEST), ("7", S.IN_STOCK),
     ("8", S.SUSPENDED), ("9", S.CANCELLED)],
)  # fmt: skip
def test_china_mobile_onelink_states(raw: str, ours: CardStatus) -> None:
    mapped = map_carrier_state("CMCC", raw)
    assert (mapped.state, mapped.version) == (ours, "cmcc-onelink-ec-v5/1")


@pytest.mark.parametrize(
    ("raw", "ours"),
    [("TEST_READY", S.TEST), ("INVENTORY", S.IN_STOCK), ("TRIAL", S.TEST),
     ("ACTIVATION_READY", S.IN_STOCK), ("ACTIVATED", S.ACTIVATED), ("DEACTIVATED", S.SUSPENDED),
     ("RETIRED", S.CANCELLED), ("PURGED", S.CANCELLED)],
)  # fmt: skip
def test_china_unicom_jasper_states(raw: str, ours: CardStatus) -> None:
    assert map_carrier_state("CUCC", raw).state == ours


@pytest.mark.parametrize(
    ("raw", "ours"),
    [("1", S.IN_STOCK), ("2", S.TEST), ("3", S.IN_STOCK), ("4", S.ACTIVATED), ("5", S.SUSPENDED),
     ("6", S.SUSPENDED), ("7", S.CANCELLED)],
)  # fmt: skip
def test_china_telecom_cmp_states(raw: str, ours: CardStatus) -> None:
    assert map_carrier_state("CTCC", raw).state == ours


def test_every_published_state_is_mapped_and_nothing_else() -> None:
    mappings = carrier_mappings()
    assert set(mappings["CMCC"].states) == {"1", "2", "4", "6", "7", "8", "9"}
    assert len(mappings["CUCC"].states) == 8
    assert set(mappings["CTCC"].states) == {str(n) for n in range(1, 8)}
    with pytest.raises(InvalidInput, match="not a CMCC card state"):
        map_carrier_state("CMCC", "3")
    with pytest.raises(InvalidInput, match="carrier must be one of"):
        map_carrier_state("ATT", "1")


def test_a_new_mapping_version_is_configuration() -> None:
    table = load_mappings(
        '[CMCC]\nversion = "v2"\n[CMCC.states]\n"10" = { state = "SUSPENDED", name = "x" }\n'
    )
    mapped = table["CMCC"].map("10")
    assert (mapped.state, mapped.version, mapped.name) == (S.SUSPENDED, "v2", "x")


def test_lifecycle_transitions() -> None:
    assert TRANSITIONS[S.CANCELLED] == frozenset()
    assert may_move(S.ACTIVATED, S.SUSPENDED)
    assert may_move(S.SUSPENDED, S.ACTIVATED)
    assert not may_move(S.ACTIVATED, S.TEST)
    assert not may_move(S.SUSPENDED, S.IN_STOCK)
    for state in S:
        assert state not in TRANSITIONS[state]


def test_reports_move_the_card_through_its_lifecycle_and_keep_the_raw_state() -> None:
    c = card()
    assert c.status == S.ASSIGNED
    assert report(c, "CMCC", "6", 1, "r1") == "APPLIED"
    assert (c.status, c.carrier_state, c.carrier_state_name) == (S.TEST, "6", "可测试")
    assert report(c, "CMCC", "2", 2, "r2") == "APPLIED"
    assert report(c, "CMCC", "4", 3, "r3") == "APPLIED"
    assert c.status == S.SUSPENDED
    assert not c.three_no
    assert report(c, "CMCC", "2", 4, "r4") == "APPLIED"  # resumed
    assert c.network_normal
    assert report(c, "CMCC", "2", 5, "r5") == "UNCHANGED"
    assert report(c, "CMCC", "9", 6, "r6") == "APPLIED"
    assert report(c, "CMCC", "2", 7, "r7") == "REFUSED"  # cancelled is final
    assert (c.status, c.carrier_state) == (S.CANCELLED, "2")


def test_a_report_counts_once_and_an_older_one_never_overrides() -> None:
    c = card()
    report(c, "CUCC", "ACTIVATED", 5, "new")
    again = c.report_carrier_state(map_carrier_state("CUCC", "DEACTIVATED"), "new", T0, audit())
    assert again is False
    assert report(c, "CUCC", "DEACTIVATED", 2, "old") == "OLDER"
    assert (c.status, c.carrier_state) == (S.ACTIVATED, "ACTIVATED")
    assert c.seen_report("old")


def test_conditions_in_and_out_of_order() -> None:
    c = card()
    report(c, "CTCC", "4", 1, "s")
    c.report_conditions("CTCC", True, False, "c2", T0 + timedelta(hours=3), audit(3))
    c.report_conditions("CTCC", False, False, "c1", T0 + timedelta(hours=2), audit(2))
    assert c.arrears  # the older report did not clear it
    assert not c.three_no


def test_real_name_activation_from_test_or_a_carrier_activation() -> None:
    c = card()
    report(c, "CMCC", "2", 1, "r1")
    c.activate(audit(2))
    assert c.facts().activated
    with pytest.raises(InvalidState):
        c.activate(audit(3))


def test_a_personal_card_over_quota_is_stopped_once() -> None:
    c = card()
    assert not c.decide_stop_for_quota(100 * MB, 100 * MB, audit())  # at the quota: fine
    assert c.decide_stop_for_quota(101 * MB, 100 * MB, audit())
    assert c.last_command[0] == CarrierCommand.STOP
    assert not c.decide_stop_for_quota(200 * MB, 100 * MB, audit())
    stopped = card("C2")
    report(stopped, "CMCC", "4", 1, "r")
    assert not stopped.decide_stop_for_quota(200 * MB, 100 * MB, audit())


def test_a_paid_order_activates_once_and_counts_periods() -> None:
    c = card()
    c.add_package_period("O1", "P", 1, 1, audit())
    c.add_package_period("O2", "P", 1, 1, audit(1))  # starts when the first ends
    assert c.periods_used == 2
    assert c.periods[1][2] == c.periods[0][3]
    assert c.decide_activation(audit())
    assert not c.decide_activation(audit())
    assert c.last_command[2] == CommandCause.ORDER_PAID


def enterprise(mode: str, limit: int | None = None) -> Enterprise:
    e = Enterprise.create("E", "Acme", 100, limit, mode, audit())
    e.assign_cards(["C1", "C2", "C3"], audit())
    return e


def test_stop_all_pool_stops_every_card_and_a_top_up_resumes_them() -> None:
    e = enterprise("STOP_ALL")
    assert e.changes({"C1": 50 * MB, "C2": 50 * MB}) == []
    changes = e.changes({"C1": 60 * MB, "C2": 50 * MB})
    assert {(i, c) for i, c, _ in changes} == {(i, CarrierCommand.STOP) for i in ("C1", "C2", "C3")}
    e.record_decisions(changes, {i: f"id-{i}" for i, _, _ in changes}, {}, audit())
    assert set(e.stopped) == {"C1", "C2", "C3"}
    e.top_up_pool(20, audit())
    resumed = e.changes({"C1": 60 * MB, "C2": 50 * MB})
    assert {c for _, c, _ in resumed} == {CarrierCommand.RESUME}


def test_stop_over_limit_pool_stops_only_the_cards_over_their_limit() -> None:
    e = enterprise("STOP_OVER_LIMIT", limit=40)
    changes = e.changes({"C1": 90 * MB, "C2": 30 * MB})
    assert changes == [("C1", CarrierCommand.STOP, CommandCause.CARD_LIMIT)]


def test_enterprise_refusals() -> None:
    with pytest.raises(InvalidInput, match="stopMode"):
        Enterprise.create("E", "Acme", 100, None, "SOMETIMES", audit())
    e = enterprise("STOP_ALL")
    with pytest.raises(InvalidInput):
        e.assign_cards(["C9", "C9"], audit())
    with pytest.raises(InvalidInput):
        e.top_up_pool(0, audit())
    c = card()
    c.join_enterprise("E", audit())
    with pytest.raises(InvalidState):
        c.join_enterprise("F", audit())


def test_only_a_placed_order_is_cancelled() -> None:
    order = Order.place(
        "O", "P", "TRAFFIC", "A", None, None, "AGENT_PREPAID", [("A", 6000)], None, audit()
    )
    with pytest.raises(InvalidInput, match="reason"):
        order.cancel(audit())
    order.cancel(audit(1, "never paid"))
    assert order.status == OrderStatus.CANCELLED
    with pytest.raises(InvalidState):
        order.complete(audit(2))
