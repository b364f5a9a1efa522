"""Plan versions over time: corrections in force over a period, overlap refusals, and a
wallet taking back a corrected line with its adjustments."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain.common import Audit
from domain.errors import InvalidInput, PlanRefused
from domain.plan import CommissionPlan
from domain.rules import (
    CommissionLine,
    PlanVersion,
    overlapping_rules,
    parse_rules,
    rerated_line,
    tier_changed,
    versions_in_force,
)
from domain.wallet import CommissionStatus, Wallet
from tests.unit.test_rules import sale

JAN = datetime(2026, 1, 1, tzinfo=UTC)
FEB = datetime(2026, 2, 1, tzinfo=UTC)
MAR = datetime(2026, 3, 1, tzinfo=UTC)
APR = datetime(2026, 4, 1, tzinfo=UTC)
AUDIT = Audit("admin", JAN, "why")
SHANGHAI = ZoneInfo("Asia/Shanghai")

PCT = [{"code": "p", "kind": "PERCENTAGE", "rate": "5%"}]


def version(document, code="a", number=1, start=JAN, end=None, correction=False) -> PlanVersion:
    rules = tuple(parse_rules(document))
    return PlanVersion(code, number, start, rules, effective_to=end, correction=correction)


def test_a_correction_wins_inside_its_period_only():
    v1 = version(PCT)
    v2 = version(PCT, number=2, start=FEB)
    fix = version(PCT, number=3, start=FEB, end=MAR, correction=True)
    assert versions_in_force([[v1, v2, fix]], JAN) == [v1]
    assert versions_in_force([[v1, v2, fix]], FEB) == [fix]
    assert versions_in_force([[v1, v2, fix]], MAR - timedelta(microseconds=1)) == [fix]
    assert versions_in_force([[v1, v2, fix]], MAR) == [v2]
    # A later ordinary version supersedes the correction from its own start.
    v4 = version(PCT, number=4, start=FEB + timedelta(days=10))
    assert versions_in_force([[v1, v2, fix, v4]], FEB + timedelta(days=11)) == [v4]


@pytest.mark.parametrize(
    ("other", "clash"),
    [
        ([{"code": "q", "kind": "PERCENTAGE", "rate": "3%"}], True),
        ([{"code": "q", "kind": "FIXED", "amount": "1"}], False),  # another kind
        ([{"code": "q", "kind": "PERCENTAGE", "rate": "3%", "packages": ["P2"]}], True),
        ([{"code": "q", "kind": "PERCENTAGE", "rate": "3%", "agentLevels": ["gold"]}], True),
    ],
)
def test_overlap_with_another_plan_in_force(other, clash):
    candidate = version(other, code="b", start=FEB)
    found = overlapping_rules(candidate, [version(PCT)])
    assert (found is not None) == clash
    if clash:
        assert "overlaps rule 'p' of plan a version 1" in found


def test_disjoint_scopes_and_periods_do_not_overlap():
    scoped = [{"code": "p", "kind": "PERCENTAGE", "rate": "5%", "packages": ["P1"]}]
    other = [{"code": "q", "kind": "PERCENTAGE", "rate": "3%", "packages": ["P2"]}]
    assert overlapping_rules(version(other, code="b"), [version(scoped)]) is None
    # Plan a switches to FIXED from March: a PERCENTAGE correction of b for [Mar, Apr) is fine,
    # for [Feb, Apr) it is not.
    a = [
        version(PCT),
        version([{"code": "f", "kind": "FIXED", "amount": "1"}], number=2, start=MAR),
    ]
    march = version(PCT, code="b", start=MAR, end=APR, correction=True)
    assert overlapping_rules(march, a) is None
    february = version(PCT, code="b", start=FEB, end=APR, correction=True)
    assert overlapping_rules(february, a) is not None


def test_rules_of_one_version_may_share_a_kind_and_other_bases_do_not_overlap():
    twins = [*PCT, {"code": "q", "kind": "PERCENTAGE", "rate": "1%", "packages": ["P1"]}]
    assert overlapping_rules(version(twins), []) is None
    on_paid = [{"code": "q", "kind": "PERCENTAGE", "rate": "1%", "base": "PAID_AMOUNT"}]
    assert overlapping_rules(version(on_paid, code="b"), [version(PCT)]) is None
    tiers = [{"upTo": None, "amount": "1.00"}]
    pickups = [{"code": "t1", "kind": "TIERED", "metric": "PICKUP_COUNT", "tiers": tiers}]
    activations = [{"code": "t2", "kind": "TIERED", "metric": "ACTIVATION_COUNT", "tiers": tiers}]
    assert overlapping_rules(version(pickups, code="b"), [version(activations)]) is None


def test_plan_refuses_an_overlapping_version_and_records_nothing():
    plan = CommissionPlan.start("b")
    with pytest.raises(PlanRefused, match="overlaps"):
        plan.define_version(FEB, PCT, AUDIT, [version(PCT)])
    assert plan.versions == []


def test_correction_checks_its_period_and_reason():
    plan = CommissionPlan.start("a")
    plan.define_version(JAN, PCT, AUDIT)
    with pytest.raises(InvalidInput, match="after 'from'"):
        plan.correction_candidate(PCT, MAR, FEB, SHANGHAI)
    with pytest.raises(PlanRefused, match="offset"):
        plan.correction_candidate(PCT, datetime(2026, 3, 1), None, SHANGHAI)
    candidate = plan.correction_candidate(PCT, FEB, MAR, SHANGHAI)
    with pytest.raises(InvalidInput, match="reason"):
        plan.define_correction(candidate, Audit("admin", JAN, ""))
    assert plan.define_correction(candidate, AUDIT) == 2
    (fix,) = [v for v in plan.plan_versions() if v.correction]
    assert (fix.version, fix.effective_from, fix.effective_to) == (2, FEB, MAR)
    # A correction does not hold back later ordinary versions, which may still not go back.
    with pytest.raises(PlanRefused, match="apply a plan correction"):
        plan.define_version(JAN - timedelta(days=1), PCT, AUDIT)
    assert plan.define_version(JAN, PCT, AUDIT) == 3


def _line(amount: int, corrects: str | None = None) -> CommissionLine:
    facts = {"corrects": corrects} if corrects else {}
    return CommissionLine(
        "A", "PERCENTAGE", amount, amount * 20, "0.05", "a", 1, "p", 0, "o-1", "o-1", None, facts
    )


def test_take_back_voids_adjustments_first_then_claws_back_the_released_line():
    wallet = Wallet.open("A")
    wallet.accrue("line", _line(1000), AUDIT)
    request = wallet.request_unfreeze("line", AUDIT)
    wallet.approve(request, AUDIT)
    wallet.accrue("adj", _line(200, corrects="line"), AUDIT)
    assert wallet.book.parts_of("line") == ["line", "adj"]
    assert wallet.take_back("line", 400, AUDIT) == 400
    assert "adj" not in wallet.book.lines  # voided whole
    assert wallet.book.lines["line"].amount_fen == 800
    assert wallet.book.lines["line"].status == CommissionStatus.APPROVED
    assert (wallet.balances["available"], wallet.balances["frozen"]) == (800, 0)
    # Asking for more than is left takes what there is; available never goes below zero.
    assert wallet.take_back("line", 5000, AUDIT) == 800
    assert wallet.book.parts_of("line") == []


def test_a_line_finance_voided_is_remembered():
    wallet = Wallet.open("A")
    wallet.accrue("line", _line(1000), AUDIT)
    request = wallet.request_unfreeze("line", AUDIT)
    wallet.reject(request, True, AUDIT)
    assert "line" in wallet.book.rejected


def test_rerating_prices_the_whole_sale_at_the_tier_of_the_month():
    tiers = [{"upTo": "10000.00", "rate": "1%"}, {"upTo": None, "rate": "2%"}]
    (rule,) = parse_rules(
        [
            {
                "code": "t",
                "kind": "TIERED",
                "mode": "volume",
                "effect": "RERATE_MONTH",
                "tiers": tiers,
            }
        ]
    )
    plan = PlanVersion("t", 1, JAN, (rule,))
    assert tier_changed(rule, 900_000, 1_100_000)
    assert not tier_changed(rule, 0, 1_000_000)
    line = rerated_line(sale(chain=(("A", 600_000),), flow="AGENT_PREPAID"), plan, rule, 1_200_000)
    assert line is not None
    assert line.amount_fen == 12_000
    assert line.facts["tier"] == 2


def test_a_plan_that_rerates_months_is_corrected_by_whole_business_months():
    tiers = [{"upTo": "100.00", "rate": "1%"}, {"upTo": None, "rate": "2%"}]
    rerate = [{"code": "t", "kind": "TIERED", "effect": "RERATE_MONTH", "tiers": tiers}]
    plan = CommissionPlan.start("t")
    plan.define_version(JAN, rerate, AUDIT)
    march = datetime(2026, 3, 1, tzinfo=SHANGHAI)
    april = datetime(2026, 4, 1, tzinfo=SHANGHAI)
    assert plan.correction_candidate(PCT, march, april, SHANGHAI).effective_to == april
    with pytest.raises(PlanRefused, match="'from' must be the start of a business month"):
        plan.correction_candidate(PCT, MAR, None, SHANGHAI)  # midnight UTC is 08:00 in Shanghai
    with pytest.raises(PlanRefused, match="'to' must"):
        plan.correction_candidate(PCT, march, april + timedelta(days=1), SHANGHAI)
    # A plan without RERATE_MONTH may be corrected over any period.
    other = CommissionPlan.start("o")
    other.define_version(JAN, PCT, AUDIT)
    assert other.correction_candidate(PCT, MAR, None, SHANGHAI).effective_from == MAR
