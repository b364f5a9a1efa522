"""The pure rules of number cards after the fact (decision 0029): MULTI_LEVEL on the settlement
base inside the never-negative split, value tiers on ONE_TIME / LONG_TERM with seed 004's
activation, the carrier's conditions on the Card, and the book's lines by card."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from domain.book import CommissionBook
from domain.card import Card
from domain.common import Audit
from domain.errors import LedgerError, PlanRefused
from domain.rules import (
    CardFacts,
    PlanVersion,
    active_metrics,
    becomes_active,
    lines_for_card,
    lines_for_settlement,
    parse_rules,
)
from domain.rules.value_tiers import active_metric, ladder, value_at
from domain.wallet import Wallet
from tests.unit.test_aggregates import line as order_line
from tests.unit.test_rules_kinds import row

JAN = datetime(2026, 1, 1, tzinfo=UTC)
MAR = datetime(2026, 3, 1, tzinfo=UTC)
LT = {"code": "lt", "kind": "LONG_TERM", "rate": "40%", "rechargeThreshold": "100.00"}
UP = {"code": "up", "kind": "MULTI_LEVEL", "base": "SETTLEMENT", "levels": ["10%", "5%"]}
TIERS = [{"upTo": 2, "amount": "10.00"}, {"upTo": None, "amount": "15.00"}]
ONE = {"code": "o", "kind": "ONE_TIME", "amount": "10.00", "rechargeThreshold": "100.00"}


def plan(rules: list[dict]) -> PlanVersion:
    return PlanVersion("p", 1, JAN, tuple(parse_rules(rules)))


def card(**changes: object) -> CardFacts:
    base = CardFacts("C1", "NC", "NUMBER", "A", True, 10000, 10000, MAR)
    return replace(base, **changes)


# ---- MULTI_LEVEL on the settlement base -----------------------------------------------------


def test_uplines_share_the_carrier_total_and_the_platform_keeps_the_rest() -> None:
    lines = lines_for_settlement(row(uplines=("P", "G")), [plan([LT, UP])], cap=False)
    paid = {(line.beneficiary, line.kind): line.amount_fen for line in lines}
    assert paid == {("A", "LONG_TERM"): 1200, ("P", "MULTI_LEVEL"): 300, ("G", "MULTI_LEVEL"): 150}
    assert {line.facts["platformShare"] for line in lines} == {"13.50"}
    up = next(line for line in lines if line.beneficiary == "P")
    assert (up.iccid, up.hold_days, up.facts["level"], up.facts["base"]) == (
        "i",
        7,
        1,
        "SETTLEMENT",
    )


@pytest.mark.parametrize(
    "changes",
    [{"network_status": "SUSPENDED"}, {"no_complaint": False}, {"activated": False}],
)
def test_uplines_are_paid_only_on_rows_meeting_the_carriers_conditions(changes: dict) -> None:
    assert lines_for_settlement(row(uplines=("P",), **changes), [plan([UP])], cap=False) == []


def test_sales_and_settlements_do_not_cross() -> None:
    [on_settlement] = parse_rules([UP])
    [on_sales] = parse_rules([{**UP, "base": "PAID_AMOUNT"}])
    assert on_settlement.reacts_to(row())
    assert not on_sales.reacts_to(row())
    assert on_settlement.overlap_key != on_sales.overlap_key
    assert on_settlement.refuses_overflow
    assert not on_sales.refuses_overflow


def test_never_negative_refused_or_capped() -> None:
    greedy = {**UP, "levels": ["50%", "30%"]}
    with pytest.raises(PlanRefused, match="negative"):
        lines_for_settlement(row(uplines=("P", "G")), [plan([LT, greedy])], cap=False)
    capped = [{**LT, "overflow": "CAP"}, {**greedy, "overflow": "CAP"}]
    lines = lines_for_settlement(row(uplines=("P", "G")), [plan(capped)], cap=False)
    assert [line.amount_fen for line in lines] == [1000, 1250, 750]
    assert sum(line.amount_fen for line in lines) == row().total_fen


def test_overflow_belongs_to_the_settlement_base() -> None:
    with pytest.raises(PlanRefused, match="SETTLEMENT only"):
        parse_rules([{**UP, "base": "PAID_AMOUNT", "overflow": "CAP"}])


# ---- value tiers ----------------------------------------------------------------------------


def test_a_ladder_is_ascending_with_one_open_last_tier_of_the_rules_form() -> None:
    assert ladder(parse_rules([{**ONE, "tiers": TIERS}])[0].tiers, by_rate=False) == [
        (2, 1000),
        (None, 1500),
    ]
    for bad in (
        [{"upTo": 2, "amount": "1.00"}, {"upTo": 1, "amount": "2.00"}, {"amount": "3.00"}],
        [{"upTo": 2, "amount": "1.00"}],
        [{"upTo": 2, "amount": "1.00"}, {"upTo": None, "rate": "5%"}],
    ):
        with pytest.raises(PlanRefused):
            parse_rules([{**ONE, "tiers": bad}])
    with pytest.raises(PlanRefused, match="'rate'"):
        parse_rules([{**LT, "tiers": TIERS}])  # a rate rule's tiers give rates
    with pytest.raises(PlanRefused, match="0-100%"):
        parse_rules([{**LT, "multiplier": "2", "tiers": [{"upTo": None, "rate": "60%"}]}])


def test_value_at_reads_inclusive_bounds() -> None:
    tiers = [(2, 1000), (None, 1500)]
    assert [value_at(tiers, n) for n in (0, 2, 3, 99)] == [
        (0, 1000),
        (0, 1000),
        (1, 1500),
        (1, 1500),
    ]


def test_one_time_value_by_the_months_active_cards() -> None:
    rules = [{**ONE, "tiers": TIERS}]
    metric = active_metric("FIRST", 10000)
    assert active_metrics([plan(rules)], MAR) == [metric]
    assert active_metrics([plan([ONE])], MAR) == []
    paid = [lines_for_card(card(month_counts={metric: n}), [plan(rules)])[0] for n in (1, 2, 3)]
    assert [(line.amount_fen, line.facts["tier"]) for line in paid] == [
        (1000, 1),
        (1000, 1),
        (1500, 2),
    ]
    assert paid[2].facts["activeCards"] == 3


def test_long_term_rate_by_the_settled_months_active_cards() -> None:
    rules = [{**LT, "tiers": [{"upTo": 2, "rate": "40%"}, {"upTo": None, "rate": "50%"}]}]
    metric = active_metric("CUMULATIVE", 10000)
    [line] = lines_for_settlement(row(month_counts={metric: 3}), [plan(rules)], cap=False)
    assert (line.amount_fen, line.rate, line.facts["tier"]) == (1500, "0.5", 2)


@pytest.mark.parametrize(
    ("facts", "activated_now", "recharged", "expected"),
    [
        ({}, True, None, True),  # recharged before, the activation completes it
        ({}, False, 10000, True),  # the first recharge reaches the threshold
        ({"first_recharge_fen": 5000, "total_recharge_fen": 15000}, False, 10000, False),
        ({"activated": False}, False, 10000, False),
        ({"first_recharge_fen": 5000, "total_recharge_fen": 5000}, True, None, False),
        ({"conditions_failed": ("stopped",)}, True, None, False),
        ({"conditions_failed": ("complaint",)}, True, None, True),  # network still normal
    ],
)
def test_seed004_activation_is_met_at_one_fact(
    facts: dict, activated_now: bool, recharged: int | None, expected: bool
) -> None:
    metric = active_metric("FIRST", 10000)
    met = becomes_active(
        card(**facts), metric, activated_now=activated_now, recharged_fen=recharged
    )
    assert met is expected


def test_cumulative_activation_counts_at_the_recharge_that_crosses() -> None:
    metric = active_metric("CUMULATIVE", 10000)
    crossing = card(first_recharge_fen=6000, total_recharge_fen=12000)
    assert becomes_active(crossing, metric, activated_now=False, recharged_fen=6000)
    after = card(first_recharge_fen=6000, total_recharge_fen=18000)
    assert not becomes_active(after, metric, activated_now=False, recharged_fen=6000)


# ---- the carrier's conditions and the book --------------------------------------------------


def audit(at: datetime = MAR) -> Audit:
    return Audit("ops", at, "r")


def test_a_report_records_the_failed_conditions_and_a_later_one_lifts_them() -> None:
    c = Card.assign("C1", "A", "NC", "NUMBER", audit(JAN))
    c.report_conditions((True, True, False, False), "carrier", audit())
    assert c.failed_conditions == ("stopped", "arrears")
    [event] = [e for e in c.collect_events() if isinstance(e, Card.ConditionsReported)]
    assert (event.failed, event.source) == (("stopped", "arrears"), "carrier")
    c.report_conditions((False, False, False, False), "carrier", audit(MAR + timedelta(days=1)))
    assert c.failed_conditions == ()
    assert c.facts().conditions_failed == ()
    with pytest.raises(LedgerError):
        c.report_conditions((True, False, False, False), "carrier", audit(JAN - timedelta(1)))
    with pytest.raises(LedgerError):
        c.report_conditions((1, 0, 0, 0), "carrier", audit())  # type: ignore[arg-type]
    with pytest.raises(LedgerError):
        c.report_conditions((True, False, False, False), " bad", audit())


def test_the_book_knows_a_cards_lines_and_keeps_them_in_a_snapshot() -> None:
    w = Wallet.open("A")
    card_line = replace(order_line(1000, None), iccid="C1", source="C1")
    w.accrue("c1", card_line, audit())
    w.accrue("o1", order_line(500), audit())
    assert w.book.lines_for_card("C1") == ["c1"]
    assert w.book.lines["c1"].rule == ("plan", 1, "pct5")
    plain = orjson.loads(orjson.dumps(w.book, default=sorted))
    for kept in plain["lines"].values():
        kept["releasable_at"] = datetime.fromisoformat(kept["releasable_at"])
    plain = {k: set(v) if k in ("closed", "rejected") else v for k, v in plain.items()}
    assert CommissionBook.from_state(plain) == w.book
    w.reduce("c1", 1000, audit())
    assert w.book.lines_for_card("C1") == []


def test_a_settlement_row_recorded_before_uplines_loads_without_any() -> None:
    from eventsourcing.persistence import Mapper

    from application.transcoder import OrjsonTranscoder
    from domain.settlement import CarrierSettlement

    c = Card.assign("C1", "A", "NC", "NUMBER", audit(JAN))
    new = CarrierSettlement.record(
        "R-1", "C1", "2026-03", 3000, "NORMAL", (True, True, True), None, c.facts(), audit(),
        uplines=("P",),
    )  # fmt: skip
    [event] = new.collect_events()
    mapper = Mapper(transcoder=OrjsonTranscoder())
    stored = mapper.to_stored_event(event)
    state = orjson.loads(stored.state)
    assert state.pop("class_version") == 2
    assert state.pop("uplines") == ["P"]
    old = replace(stored, state=orjson.dumps(state))
    row = mapper.to_domain_event(old).mutate(None)
    assert row.uplines == ()
    assert row.facts().uplines == ()
