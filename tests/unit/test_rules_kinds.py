"""domain.rules, the kinds of the rules-engine issue: multi-level, tiered, level difference, peer
level, scopes and multipliers, long-term settlement splits. Pure functions, no database."""

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from domain.errors import InvalidRate, LedgerError, PlanRefused
from domain.rules import (
    CardVolumeFacts,
    Metric,
    PlanVersion,
    SaleFacts,
    SettlementFacts,
    dump_rules,
    lines_for_card_volume,
    lines_for_sale,
    lines_for_settlement,
    parse_rules,
    tier_segments,
)

JAN = datetime(2026, 1, 1, tzinfo=UTC)
MAR = datetime(2026, 3, 1, tzinfo=UTC)


def plan(document, version=1):
    return PlanVersion("p", version, JAN, tuple(parse_rules(document)))


def sale(chain, paid, buyer="c", grades=None, before=0, at=MAR, flow="AGENT_PREPAID"):
    return SaleFacts(
        order_id="o-1",
        package_code="PK",
        seller_code=chain[-1],
        buyer_code=buyer,
        flow=flow,
        chain=tuple((code, paid) for code in chain),  # every cost = paid: no price difference
        retail_fen=None,
        paid_fen=paid,
        effective_at=at,
        grades=grades or {},
        month_sales_before_fen=before,
    )


def paid(lines, kind=None):
    return {(ln.beneficiary, ln.amount_fen) for ln in lines if kind is None or ln.kind == kind}


# ---- multi-level ---------------------------------------------------------------------------------

ML = [{"code": "ml", "kind": "MULTI_LEVEL", "levels": ["10%", "5%"]}]


def test_seed002_levels():
    assert paid(lines_for_sale(sale(["A", "B"], 10000), [plan(ML)])) == {("A", 1000)}
    assert paid(lines_for_sale(sale(["A", "B", "C"], 5000), [plan(ML)])) == {
        ("B", 500),
        ("A", 250),
    }


def test_multi_level_rounds_half_up_per_line():
    # 8% and 3% of 0.55 yuan: 4.4 fen -> 4, 1.65 fen -> 2 (half-up per line, not per order)
    doc = [{"code": "ml", "kind": "MULTI_LEVEL", "levels": ["8%", "3%"]}]
    assert paid(lines_for_sale(sale(["A", "B", "C"], 55), [plan(doc)])) == {("B", 4), ("A", 2)}


def test_multi_level_skips_the_buyer_and_missing_uplines():
    assert paid(lines_for_sale(sale(["A", "B", "C"], 5000, buyer="B"), [plan(ML)])) == {("A", 250)}
    assert paid(lines_for_sale(sale(["C"], 5000), [plan(ML)])) == set()


def test_multi_level_on_cost_price():
    doc = [{"code": "ml", "kind": "MULTI_LEVEL", "levels": ["10%"], "base": "COST_PRICE"}]
    s = replace(sale(["A", "B"], 9000), chain=(("A", 5000), ("B", 6000)))
    [line] = [ln for ln in lines_for_sale(s, [plan(doc)]) if ln.kind == "MULTI_LEVEL"]
    assert (line.beneficiary, line.amount_fen, line.base_fen) == ("A", 600, 6000)


@pytest.mark.parametrize("levels", [["1%", "1%", "1%", "1%"], [], ["101%"], [0.1], ["1e-2"]])
def test_multi_level_refusals(levels):
    with pytest.raises(LedgerError):
        parse_rules([{"code": "ml", "kind": "MULTI_LEVEL", "levels": levels}])


# ---- tiered ----------------------------------------------------------------------------------------

TIERS = [{"upTo": "100000.00", "rate": "8%"}, {"upTo": None, "rate": "12%"}]


def tiered(mode, metric="SALES_AMOUNT", tiers=TIERS):
    return [{"code": "t", "kind": "TIERED", "metric": metric, "mode": mode, "tiers": tiers}]


@pytest.mark.parametrize(("mode", "yuan"), [("volume", 18000_00), ("graduated", 14000_00)])
def test_seed000_tiers(mode, yuan):
    [line] = lines_for_sale(sale(["A"], 150000_00), [plan(tiered(mode))])
    assert line.amount_fen == yuan


def test_graduated_sums_to_the_month_total_across_sales():
    p = [plan(tiered("graduated"))]
    first = lines_for_sale(sale(["A"], 90000_00), p)[0].amount_fen
    second = lines_for_sale(sale(["A"], 60000_00, before=90000_00), p)[0].amount_fen
    assert (first, second, first + second) == (7200_00, 6800_00, 14000_00)


def test_volume_bound_is_inclusive_like_stripe():
    p = [plan(tiered("volume"))]
    assert lines_for_sale(sale(["A"], 100000_00), p)[0].rate == "0.08"
    assert lines_for_sale(sale(["A"], 100, before=100000_00), p)[0].rate == "0.12"


def test_tier_segments():
    tiers = [(100, Decimal("0.1"), None), (None, Decimal("0.2"), None)]
    assert tier_segments(tiers, 50, 150) == [(50, 100, Decimal("0.1")), (100, 150, Decimal("0.2"))]
    assert tier_segments(tiers, 120, 130) == [(120, 130, Decimal("0.2"))]


def test_count_tiers_pay_per_card_by_the_tier_reached():
    doc = tiered(
        "volume",
        "ACTIVATION_COUNT",
        [{"upTo": 2, "amount": "5.00"}, {"upTo": None, "amount": "8.00"}],
    )
    facts = CardVolumeFacts("i", "PK", "A", Metric.ACTIVATION_COUNT, 2, MAR)
    assert paid(lines_for_card_volume(facts, [plan(doc)])) == {("A", 500)}
    assert paid(lines_for_card_volume(replace(facts, count_after=3), [plan(doc)])) == {("A", 800)}
    pickup = replace(facts, metric=Metric.PICKUP_COUNT)
    assert lines_for_card_volume(pickup, [plan(doc)]) == []


@pytest.mark.parametrize(
    "tiers",
    [
        [{"upTo": "100", "rate": "8%"}],
        [{"upTo": None, "rate": "8%"}, {"upTo": None, "rate": "9%"}],
        [{"upTo": "100", "rate": "8%"}, {"upTo": "100", "rate": "9%"}, {"rate": "1%"}],
        [{"upTo": None, "amount": "5"}],
        [{"upTo": 5, "rate": "8%"}, {"rate": "9%"}],
    ],
)
def test_malformed_tiers_refused(tiers):
    with pytest.raises(LedgerError):
        parse_rules(tiered("volume", tiers=tiers))


# ---- level difference and peer level ---------------------------------------------------------------

DIFF = [{"code": "d", "kind": "LEVEL_DIFFERENCE", "rates": {"G1": "0.5%", "G2": "1.0%"}}]


def test_seed003_level_difference():
    s = sale(["U", "S"], 10000_00, grades={"U": "G2", "S": "G1"})
    [line] = lines_for_sale(s, [plan(DIFF)])
    assert (line.beneficiary, line.amount_fen, line.rate) == ("U", 50_00, "0.005")
    assert line.facts["rateBelow"] == "0.005"


def test_level_difference_never_pays_a_lower_or_equal_grade_and_caps_depth():
    grades = {"T": "G2", "U": "G1", "M": "G2", "S": "G1"}
    s = sale(["X", "T", "U", "M", "S"], 10000_00, grades={**grades, "X": "G3"})
    doc = [{**DIFF[0], "rates": {"G1": "0.5%", "G2": "1.0%", "G3": "2%"}}]
    # M (G2) takes 0.5%; U (G1) and T (G2) nothing; X (G3) is 4 levels up: beyond the cap of 3.
    assert paid(lines_for_sale(s, [plan(doc)])) == {("M", 50_00)}
    assert paid(lines_for_sale(s, [plan([{**doc[0], "includeSeller": True}])])) == {
        ("S", 50_00),
        ("M", 50_00),
    }


def test_peer_level_first_same_grade_only():
    doc = [{"code": "p", "kind": "PEER_LEVEL", "rate": "0.2%"}]
    s = sale(["T", "U", "M", "S"], 10000_00, grades={"T": "G2", "U": "G2", "M": "G1", "S": "G2"})
    assert paid(lines_for_sale(s, [plan(doc)])) == {("U", 20_00)}
    assert lines_for_sale(replace(s, grades={}), [plan(doc)]) == []


# ---- scopes and multipliers -----------------------------------------------------------------------


def test_agent_level_scope_and_time_window():
    doc = [
        {
            "code": "x",
            "kind": "PERCENTAGE",
            "rate": "10%",
            "base": "PAID_AMOUNT",
            "agentLevels": ["G1"],
            "multiplier": "1.2",
            "from": "2026-05-01T00:00:00+08:00",
            "to": "2026-05-06T00:00:00+08:00",
        }
    ]
    p = [plan(doc)]
    assert paid(lines_for_sale(sale(["A"], 1000), p)) == set()  # no level
    g1 = sale(["A"], 1000, grades={"A": "G1"})
    assert paid(lines_for_sale(g1, p)) == {("A", 100)}
    [line] = lines_for_sale(replace(g1, effective_at=datetime(2026, 5, 2, tzinfo=UTC)), p)
    assert (line.amount_fen, line.rate, line.facts["multiplier"]) == (120, "0.12", "1.2")
    assert dump_rules(parse_rules(doc))[0]["agentLevels"] == ["G1"]


@pytest.mark.parametrize(
    "extra",
    [
        {"multiplier": "0"},
        {"multiplier": "11"},
        {"multiplier": 1.2},
        {"from": "2026-05-01T00:00:00+08:00"},
        {"multiplier": "2", "from": "2026-05-02T00:00:00Z", "to": "2026-05-01T00:00:00Z"},
        {"multiplier": "1.5", "rate": "80%"},  # 120% with the multiplier
    ],
)
def test_multiplier_refusals(extra):
    with pytest.raises((PlanRefused, InvalidRate)):
        parse_rules([{"code": "x", "kind": "PERCENTAGE", "rate": "10%", **extra}])


# ---- long-term settlement ---------------------------------------------------------------------------


def row(total=3000, **changes):
    base = SettlementFacts(
        row_id="r",
        iccid="i",
        period="2026-03",
        total_fen=total,
        agent_code="A",
        package_code="NC",
        activated=True,
        first_recharge_fen=10000,
        total_recharge_fen=10000,
        network_status="NORMAL",
        no_arrears=True,
        no_suspension=True,
        no_complaint=True,
        periods_used=1,
        effective_at=MAR,
    )
    return replace(base, **changes)


LT = {"code": "lt", "kind": "LONG_TERM", "rate": "40%", "rechargeThreshold": "100.00"}


def test_long_term_share_and_platform_rest():
    [line] = lines_for_settlement(row(), [plan([LT])], cap=False)
    assert (line.amount_fen, line.hold_days, line.facts["platformShare"]) == (1200, 0, "18.00")


@pytest.mark.parametrize(
    "changes",
    [
        {"activated": False},
        {"total_recharge_fen": 9999},
        {"network_status": "SUSPENDED"},
        {"no_arrears": False},
        {"no_suspension": False},
        {"no_complaint": False},
    ],
)
def test_long_term_conditions(changes):
    assert lines_for_settlement(row(**changes), [plan([LT])], cap=False) == []


def test_long_term_overflow_refused_or_capped_by_largest_remainder():
    doc = [
        {"code": "a", "kind": "LONG_TERM", "amount": "20.00"},
        {"code": "b", "kind": "LONG_TERM", "amount": "10.00", "overflow": "CAP"},
    ]
    with pytest.raises(PlanRefused, match="platform's share would be negative"):
        lines_for_settlement(row(total=1000), [plan(doc)], cap=False)
    capped = lines_for_settlement(row(total=1000), [plan(doc)], cap=True)
    assert [ln.amount_fen for ln in capped] == [667, 333]  # adds up to the 10.00 received
    assert capped[0].facts["platformShare"] == "0.00"


def test_combined_long_term_starts_after_date_or_periods():
    doc = [{**LT, "startsAt": "2026-04-01T00:00:00+08:00"}]
    assert lines_for_settlement(row(), [plan(doc)], cap=False) == []
    april = row(effective_at=datetime(2026, 4, 2, tzinfo=UTC))
    assert len(lines_for_settlement(april, [plan(doc)], cap=False)) == 1
    doc = [{**LT, "afterPeriods": 3}]
    assert lines_for_settlement(row(periods_used=2), [plan(doc)], cap=False) == []
    assert len(lines_for_settlement(row(periods_used=3), [plan(doc)], cap=False)) == 1


def test_long_term_refuses_a_hold_and_needs_rate_or_amount():
    for bad in [{**LT, "holdDays": 7}, {"code": "x", "kind": "LONG_TERM"}, {**LT, "amount": "1"}]:
        with pytest.raises(PlanRefused):
            parse_rules([bad])


def test_deterministic_same_facts_same_lines():
    p = [plan(ML + tiered("graduated") + DIFF)]
    s = sale(["U", "S", "C"], 12345_67, grades={"U": "G2", "S": "G1"}, before=99000_00)
    assert lines_for_sale(s, p) == lines_for_sale(s, p)
