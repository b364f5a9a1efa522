"""domain.rules: facts -> commission lines, plan documents, effective-dated versions."""

from datetime import UTC, datetime, timedelta

import pytest

from domain.book import hold_until
from domain.errors import InvalidMoney, InvalidRate, LedgerError, PlanRefused
from domain.rules import (
    DEFAULT_HOLD_DAYS,
    PRICE_MENU_PLAN,
    CardFacts,
    CommissionKind,
    FixedRule,
    OneTimeRule,
    PercentageRule,
    PlanVersion,
    PriceDifferenceRule,
    SaleFacts,
    dump_rules,
    has_one_time_rule,
    lines_for_card,
    lines_for_sale,
    parse_rules,
    price_difference_lines,
    sale_commission_lines,
    versions_in_force,
    versions_in_force_flat,
)

JAN = datetime(2024, 1, 1, tzinfo=UTC)
FEB = datetime(2024, 2, 1, tzinfo=UTC)
MAR = datetime(2024, 3, 1, tzinfo=UTC)

PCT5 = [{"code": "pct5", "kind": "PERCENTAGE", "rate": "5%"}]
FIXED5 = [{"code": "fixed5", "kind": "FIXED", "amount": "5.00"}]


def plan(document, code="plan", version=1, effective_from=JAN):
    return PlanVersion(code, version, effective_from, tuple(parse_rules(document)))


def sale(
    chain=(("A", 6000),),
    retail=9000,
    flow="CUSTOMER_PAYS",
    buyer=None,
    package="P",
    at=FEB,
    order_id="o-1",
):
    seller = chain[-1][0]
    paid = retail if flow == "CUSTOMER_PAYS" else chain[-1][1]
    return SaleFacts(
        order_id=order_id,
        package_code=package,
        seller_code=seller,
        buyer_code=buyer,
        flow=flow,
        chain=tuple(chain),
        retail_fen=retail if flow == "CUSTOMER_PAYS" else None,
        paid_fen=paid,
        effective_at=at,
    )


def summary(lines):
    return [(ln.beneficiary, str(ln.kind), ln.amount_fen, ln.base_fen, ln.rate) for ln in lines]


def platform_net(s, lines):
    return s.paid_fen - sum(ln.amount_fen for ln in lines)


# ---- SPEC §5 example 3 (seed 004) --------------------------------------------------------------


def test_seed004_flow1_percentage_of_cost():
    s = sale()
    lines = lines_for_sale(s, [plan(PCT5)])
    assert summary(lines) == [
        ("A", "PRICE_DIFFERENCE", 3000, 9000, None),
        ("A", "PERCENTAGE", 300, 6000, "0.05"),
    ]
    assert platform_net(s, lines) == 5700


def test_seed004_flow1_fixed_per_order():
    s = sale()
    lines = lines_for_sale(s, [plan(FIXED5)])
    assert summary(lines) == [
        ("A", "PRICE_DIFFERENCE", 3000, 9000, None),
        ("A", "FIXED", 500, 0, None),
    ]
    assert platform_net(s, lines) == 5500


def test_seed004_flow2_agent_prepaid():
    s = sale(flow="AGENT_PREPAID")
    assert s.paid_fen == 6000
    pct = lines_for_sale(s, [plan(PCT5)])
    assert summary(pct) == [("A", "PERCENTAGE", 300, 6000, "0.05")]
    assert platform_net(s, pct) == 5700
    fixed = lines_for_sale(s, [plan(FIXED5)])
    assert summary(fixed) == [("A", "FIXED", 500, 0, None)]
    assert platform_net(s, fixed) == 5500


def test_price_difference_line_details():
    (line,) = price_difference_lines(sale(), [])
    assert line.plan_code == PRICE_MENU_PLAN
    assert line.plan_version == 1
    assert line.rule_code == "price-difference"
    assert line.hold_days == DEFAULT_HOLD_DAYS
    assert line.source == "o-1"
    assert line.order_id == "o-1"
    assert line.iccid is None
    assert line.facts == {"soldAt": "90.00", "costPrice": "60.00"}
    assert hold_until(FEB, line.hold_days) == FEB + timedelta(days=7)


def test_price_difference_rule_in_a_plan_sets_plan_and_hold():
    doc = [{"code": "diff", "kind": "PRICE_DIFFERENCE", "holdDays": 15, "packages": ["P"]}]
    (line,) = price_difference_lines(sale(), [plan(doc, code="menu", version=3)])
    assert (line.plan_code, line.plan_version, line.rule_code, line.hold_days) == (
        "menu",
        3,
        "diff",
        15,
    )
    # the rule does not apply to other packages: the built-in default is used
    (other,) = price_difference_lines(sale(package="Q"), [plan(doc, code="menu")])
    assert (other.plan_code, other.rule_code, other.hold_days) == (
        PRICE_MENU_PLAN,
        "price-difference",
        7,
    )


def test_chain_platform_a_b_flow1():
    s = sale(chain=(("A", 6000), ("B", 7000)), retail=10000)
    lines = lines_for_sale(s, [])
    assert summary(lines) == [
        ("A", "PRICE_DIFFERENCE", 1000, 7000, None),
        ("B", "PRICE_DIFFERENCE", 3000, 10000, None),
    ]
    assert platform_net(s, lines) == 6000


def test_chain_flow1_with_percentage_pays_only_the_seller_on_its_cost():
    s = sale(chain=(("A", 6000), ("B", 7000)), retail=10000)
    lines = lines_for_sale(s, [plan(PCT5)])
    assert summary(lines) == [
        ("A", "PRICE_DIFFERENCE", 1000, 7000, None),
        ("B", "PRICE_DIFFERENCE", 3000, 10000, None),
        ("B", "PERCENTAGE", 350, 7000, "0.05"),
    ]


def test_percentage_on_paid_amount():
    doc = [{"code": "pp", "kind": "PERCENTAGE", "rate": "0.1", "base": "PAID_AMOUNT"}]
    (_, pct) = lines_for_sale(sale(), [plan(doc)])
    assert (pct.amount_fen, pct.base_fen, pct.rate) == (900, 9000, "0.1")
    assert pct.facts == {"base": "PAID_AMOUNT", "paid": "90.00"}


def test_flow2_no_difference_for_seller_but_upline_gets_its_gap():
    s = sale(chain=(("A", 6000), ("B", 7000)), flow="AGENT_PREPAID")
    assert s.paid_fen == 7000
    lines = lines_for_sale(s, [])
    assert summary(lines) == [("A", "PRICE_DIFFERENCE", 1000, 7000, None)]
    assert platform_net(s, lines) == 6000


def test_flow2_ignores_a_retail_price_even_if_known():
    s = SaleFacts(
        order_id="o-1",
        package_code="P",
        seller_code="B",
        buyer_code=None,
        flow="AGENT_PREPAID",
        chain=(("A", 6000), ("B", 7000)),
        retail_fen=10000,
        paid_fen=7000,
        effective_at=FEB,
    )
    assert summary(lines_for_sale(s, [])) == [("A", "PRICE_DIFFERENCE", 1000, 7000, None)]


def test_equal_costs_give_no_zero_line():
    s = sale(chain=(("A", 6000), ("B", 6000)), retail=6000)
    assert lines_for_sale(s, []) == []


def test_self_purchase_earns_the_buyer_nothing():
    # A sells to itself: neither difference nor commission
    s = sale(buyer="A")
    assert lines_for_sale(s, [plan(PCT5), plan(FIXED5, code="other")]) == []
    assert sale_commission_lines(s, [plan(PCT5)]) == []


def test_self_purchase_by_sub_agent_still_pays_its_upline_difference():
    s = sale(chain=(("A", 6000), ("B", 7000)), retail=10000, buyer="B")
    lines = lines_for_sale(s, [plan(PCT5)])
    assert summary(lines) == [("A", "PRICE_DIFFERENCE", 1000, 7000, None)]


def test_rules_limited_to_other_packages_do_not_apply():
    doc = [{"code": "q", "kind": "FIXED", "amount": "5", "packages": ["Q"]}]
    assert summary(lines_for_sale(sale(), [plan(doc)])) == [
        ("A", "PRICE_DIFFERENCE", 3000, 9000, None)
    ]
    assert summary(lines_for_sale(sale(package="Q"), [plan(doc)]))[1] == (
        "A",
        "FIXED",
        500,
        0,
        None,
    )


def test_zero_rules_give_no_lines():
    doc = [
        {"code": "z1", "kind": "FIXED", "amount": "0"},
        {"code": "z2", "kind": "PERCENTAGE", "rate": "0.0001"},  # 0.6 fen... -> 1
        {"code": "z3", "kind": "PERCENTAGE", "rate": "0"},
    ]
    lines = sale_commission_lines(sale(), [plan(doc)])
    assert summary(lines) == [("A", "PERCENTAGE", 1, 6000, "0.0001")]


def test_two_plans_both_pay():
    lines = sale_commission_lines(sale(), [plan(PCT5, code="p1"), plan(FIXED5, code="p2")])
    assert [(ln.plan_code, ln.rule_code, ln.amount_fen) for ln in lines] == [
        ("p1", "pct5", 300),
        ("p2", "fixed5", 500),
    ]


# ---- effective-dated plan versions ------------------------------------------------------------


def test_versions_in_force_picks_latest_effective_at_or_before():
    v1 = plan(PCT5, version=1, effective_from=JAN)
    v2 = plan(FIXED5, version=2, effective_from=MAR)
    assert versions_in_force([[v1, v2]], JAN - timedelta(seconds=1)) == []
    assert versions_in_force([[v1, v2]], JAN) == [v1]
    assert versions_in_force([[v1, v2]], MAR - timedelta(microseconds=1)) == [v1]
    assert versions_in_force([[v1, v2]], MAR) == [v2]
    assert versions_in_force([[v2, v1]], MAR + timedelta(days=300)) == [v2]


def test_versions_in_force_same_date_higher_version_wins():
    v1 = plan(PCT5, version=1, effective_from=FEB)
    v2 = plan(FIXED5, version=2, effective_from=FEB)
    assert versions_in_force([[v2, v1]], FEB) == [v2]


def test_versions_in_force_flat_groups_by_plan_code():
    a1 = plan(PCT5, code="a", version=1, effective_from=JAN)
    a2 = plan(FIXED5, code="a", version=2, effective_from=MAR)
    b1 = plan(FIXED5, code="b", version=1, effective_from=FEB)
    assert versions_in_force_flat([a1, a2, b1], JAN) == [a1]
    assert versions_in_force_flat([a1, a2, b1], FEB) == [a1, b1]
    assert versions_in_force_flat([a1, b1, a2], MAR) == [a2, b1]


def test_lines_for_sale_uses_the_version_in_force_at_the_sale():
    plans = [
        plan(PCT5, version=1, effective_from=JAN),
        plan(FIXED5, version=2, effective_from=MAR),
    ]
    (_, feb) = lines_for_sale(sale(at=FEB), plans)
    (_, mar) = lines_for_sale(sale(at=MAR), plans)
    assert (feb.plan_version, feb.kind, feb.amount_fen) == (1, "PERCENTAGE", 300)
    assert (mar.plan_version, mar.kind, mar.amount_fen) == (2, "FIXED", 500)
    before = lines_for_sale(sale(at=JAN - timedelta(days=1)), plans)
    assert summary(before) == [("A", "PRICE_DIFFERENCE", 3000, 9000, None)]


# ---- one-time commission (cards) ---------------------------------------------------------------


def card(
    activated=True,
    first=None,
    total=0,
    kind="TRAFFIC",
    package="P",
    at=FEB,
):
    return CardFacts(
        iccid="8986001",
        package_code=package,
        package_kind=kind,
        agent_code="A",
        activated=activated,
        first_recharge_fen=first,
        total_recharge_fen=total,
        effective_at=at,
    )


def one_time(amount="100.00", threshold="50.00", recharge="FIRST", **extra):
    doc = {
        "code": "once",
        "kind": "ONE_TIME",
        "amount": amount,
        "rechargeThreshold": threshold,
        "recharge": recharge,
        **extra,
    }
    return plan([doc])


def test_one_time_first_recharge_meets_threshold():
    (line,) = lines_for_card(card(first=5000, total=5000, kind="NUMBER"), [one_time()])
    assert (line.beneficiary, line.kind, line.amount_fen, line.base_fen) == (
        "A",
        CommissionKind.ONE_TIME,
        10000,
        5000,
    )
    assert (line.source, line.iccid, line.order_id) == ("8986001", "8986001", None)
    assert line.facts == {"recharge": "50.00", "threshold": "50.00"}


def test_one_time_first_recharge_below_threshold_pays_nothing_even_if_cumulative_would():
    facts = card(first=3000, total=8000, kind="NUMBER")
    assert lines_for_card(facts, [one_time(recharge="FIRST")]) == []
    (line,) = lines_for_card(facts, [one_time(recharge="CUMULATIVE")])
    assert (line.amount_fen, line.base_fen) == (10000, 8000)


def test_one_time_cumulative_below_threshold():
    assert lines_for_card(card(first=2000, total=4999), [one_time(recharge="CUMULATIVE")]) == []


def test_one_time_needs_activation_and_a_recharge_and_a_package():
    assert lines_for_card(card(activated=False, first=9000, total=9000), [one_time()]) == []
    assert lines_for_card(card(first=None, total=0), [one_time(threshold="0")]) == []
    assert lines_for_card(card(package=None, first=9000, total=9000), [one_time()]) == []


def test_one_time_traffic_card_capped_at_recharge_number_card_not():
    traffic = lines_for_card(card(first=6000, total=6000, kind="TRAFFIC"), [one_time()])
    number = lines_for_card(card(first=6000, total=6000, kind="NUMBER"), [one_time()])
    assert [ln.amount_fen for ln in traffic] == [6000]
    assert [ln.amount_fen for ln in number] == [10000]
    # cumulative: the cap is the cumulative recharge
    cumul = lines_for_card(
        card(first=1000, total=7000, kind="TRAFFIC"), [one_time(recharge="CUMULATIVE")]
    )
    assert [ln.amount_fen for ln in cumul] == [7000]


def test_one_time_only_in_force_and_for_its_packages():
    versioned = one_time()
    assert (
        lines_for_card(card(first=9000, total=9000, at=JAN - timedelta(days=1)), [versioned]) == []
    )
    limited = one_time(packages=["Q"])
    assert lines_for_card(card(first=9000, total=9000), [limited]) == []
    assert has_one_time_rule([limited], "Q", FEB) is True
    assert has_one_time_rule([limited], "P", FEB) is False
    assert has_one_time_rule([limited], "Q", JAN - timedelta(days=1)) is False
    assert has_one_time_rule([plan(PCT5)], "P", FEB) is False


def test_sale_rules_ignore_one_time_and_card_rules_ignore_sale_rules():
    assert sale_commission_lines(sale(), [one_time()]) == []
    assert lines_for_card(card(first=9000, total=9000), [plan(PCT5), plan(FIXED5, code="f")]) == []


# ---- parse_rules -------------------------------------------------------------------------------


def test_parse_rules_models_and_defaults():
    rules = parse_rules(
        [
            {"code": "d", "kind": "PRICE_DIFFERENCE"},
            {"code": "f", "kind": "FIXED", "amount": "5", "holdDays": 0},
            {"code": "p", "kind": "PERCENTAGE", "rate": "5%", "packages": ["P"]},
            {"code": "o", "kind": "ONE_TIME", "amount": "10", "rechargeThreshold": "30.5"},
        ]
    )
    d, f, p, o = rules
    assert isinstance(d, PriceDifferenceRule)
    assert d.hold_days == DEFAULT_HOLD_DAYS == 7
    assert isinstance(f, FixedRule)
    assert (f.amount_fen, f.hold_days) == (500, 0)
    assert isinstance(p, PercentageRule)
    assert (str(p.rate_decimal), p.base, p.packages) == ("0.05", "COST_PRICE", ["P"])
    assert isinstance(o, OneTimeRule)
    assert (o.amount_fen, o.threshold_fen, o.recharge) == (1000, 3050, "FIRST")


def test_dump_then_parse_round_trips():
    doc = [
        {"code": "f", "kind": "FIXED", "amount": "5", "holdDays": 3},
        {"code": "p", "kind": "PERCENTAGE", "rate": "5%", "base": "PAID_AMOUNT"},
        {"code": "o", "kind": "ONE_TIME", "amount": "10", "rechargeThreshold": "30"},
    ]
    dumped = dump_rules(parse_rules(doc))
    assert dumped[0] == {"code": "f", "packages": [], "holdDays": 3, "kind": "FIXED", "amount": "5"}
    assert dumped[2]["rechargeThreshold"] == "30"
    assert parse_rules(dumped) == parse_rules(doc)


@pytest.mark.parametrize("kind", ["ENTRY_FEE", "LEVEL_PURCHASE", "MEMBERSHIP_FEE"])
def test_parse_rules_refuses_pyramid_kinds(kind):
    with pytest.raises(PlanRefused, match=f"commission on {kind} is refused"):
        parse_rules([{"code": "x", "kind": kind, "amount": "5"}])


def test_parse_rules_refuses_more_than_three_levels():
    doc = [{"code": "x", "kind": "PERCENTAGE", "rate": "1%", "levels": ["8%", "3%", "1%", "1%"]}]
    with pytest.raises(PlanRefused, match="more than 3 commission levels"):
        parse_rules(doc)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "non-empty list"),
        ({}, "non-empty list"),
        (None, "non-empty list"),
        ("FIXED", "non-empty list"),
        ([{"code": "x", "kind": "BONUS", "amount": "5"}], "does not match any of the expected"),
        ([{"code": "x", "amount": "5"}], "kind"),
        ([{"code": "x", "kind": "FIXED", "amount": "5", "note": "hi"}], "Extra inputs"),
        ([{"code": "x", "kind": "FIXED", "amount": 5.0}], "valid string"),
        ([{"code": "x", "kind": "FIXED", "amount": 5}], "valid string"),
        ([{"code": "x", "kind": "PERCENTAGE", "rate": 0.05}], "valid string"),
        ([{"code": "x", "kind": "FIXED"}], "amount"),
        ([{"code": "", "kind": "FIXED", "amount": "5"}], "code"),
        ([{"code": "x", "kind": "FIXED", "amount": "5", "holdDays": -1}], "holdDays"),
        ([{"code": "x", "kind": "FIXED", "amount": "5", "holdDays": "7"}], "holdDays"),
        ([{"code": "x", "kind": "FIXED", "amount": "5", "holdDays": 3651}], "holdDays"),
        ([{"code": "x", "kind": "PERCENTAGE", "rate": "5%", "base": "RETAIL"}], "base"),
        (
            [
                {
                    "code": "x",
                    "kind": "ONE_TIME",
                    "amount": "5",
                    "rechargeThreshold": "1",
                    "recharge": "LAST",
                }
            ],
            "recharge",
        ),
        (["FIXED"], "valid dictionary"),
        (
            [
                {"code": "dup", "kind": "FIXED", "amount": "5"},
                {"code": "dup", "kind": "PERCENTAGE", "rate": "1%"},
            ],
            "rule codes must be unique",
        ),
    ],
)
def test_parse_rules_refusals(document, message):
    with pytest.raises(PlanRefused, match=message) as info:
        parse_rules(document)
    assert info.value.field == "rules"
    assert info.value.code == "PLAN_REFUSED"


@pytest.mark.parametrize(
    ("rule", "error", "message"),
    [
        ({"kind": "FIXED", "amount": "-5"}, InvalidMoney, "negative"),
        ({"kind": "FIXED", "amount": "5.001"}, InvalidMoney, "at most two decimals"),
        ({"kind": "FIXED", "amount": "1e3"}, InvalidMoney, "at most two decimals"),
        (
            {"kind": "ONE_TIME", "amount": "5", "rechargeThreshold": "-30"},
            InvalidMoney,
            "negative",
        ),
        ({"kind": "PERCENTAGE", "rate": "150%"}, InvalidRate, "outside 0-100%"),
        ({"kind": "PERCENTAGE", "rate": "1.01"}, InvalidRate, "outside 0-100%"),
        ({"kind": "PERCENTAGE", "rate": "-5%"}, InvalidRate, "decimal string"),
    ],
)
def test_parse_rules_refuses_bad_amounts_and_rates(rule, error, message):
    # These come out as the money/rate error itself (field 'rules'), not wrapped in PlanRefused.
    with pytest.raises(error, match=message) as info:
        parse_rules([{"code": "x", **rule}])
    assert isinstance(info.value, LedgerError)
    assert info.value.field == "rules"


@pytest.mark.parametrize(
    "rule",
    [
        {"code": "x", "kind": ["FIXED"], "amount": "5"},
        {"code": "x", "kind": {"a": 1}, "amount": "5"},
        {"code": "x", "kind": "FIXED", "amount": "5", "levels": 5},
        {"code": "x", "kind": "FIXED", "amount": "5", "levels": None},
    ],
)
def test_parse_rules_refuses_malformed_kind_or_levels_cleanly(rule):
    with pytest.raises(LedgerError):
        parse_rules([rule])
