"""Property: simulate-then-apply leaves the ledger equal to a fresh run with the new plan.

Each example builds two identical agent chains selling the same orders, on two packages: chain X
is paid by plan x (the old rules, later corrected over [from, to)), chain Y by plan y, whose
ordinary versions give the new rules over [from, to) from the start. After the correction, every
(agent, order, rule) of X must be paid to the fen what Y's twin is paid, and the simulation that
preceded it must have predicted exactly the differences the correction made.
"""

import itertools
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from application.simulation import simulate
from domain.common import Audit

JAN = datetime(2026, 1, 1, tzinfo=UTC)
MAR = datetime(2026, 3, 1, tzinfo=UTC)
EXAMPLE = itertools.count()
BUSINESS = ZoneInfo("Asia/Shanghai")

rates = st.sampled_from(["0%", "1%", "2.5%", "5%", "8%", "10%"])
amounts = st.sampled_from(["0.00", "0.01", "1.00", "3.33", "5.00"])
tiers = st.sampled_from(
    [
        [{"upTo": "100.00", "rate": "1%"}, {"upTo": None, "rate": "3%"}],
        [{"upTo": "150.00", "rate": "0%"}, {"upTo": None, "rate": "7%"}],
    ]
)


@st.composite
def rule_sets(draw):
    rules = []
    if draw(st.booleans()):
        levels = draw(st.lists(rates, min_size=1, max_size=3))
        rules.append({"code": "ml", "kind": "MULTI_LEVEL", "levels": levels})
    if draw(st.booleans()):
        base = draw(st.sampled_from(["COST_PRICE", "PAID_AMOUNT"]))
        rules.append({"code": "pct", "kind": "PERCENTAGE", "rate": draw(rates), "base": base})
    if draw(st.booleans()):
        rules.append({"code": "fix", "kind": "FIXED", "amount": draw(amounts)})
    if draw(st.booleans()):
        mode = draw(st.sampled_from(["volume", "graduated"]))
        effect = "RERATE_MONTH" if mode == "volume" and draw(st.booleans()) else "NEXT_COMMISSION"
        rules.append(
            {"code": "tier", "kind": "TIERED", "mode": mode, "effect": effect, "tiers": draw(tiers)}
        )
    return rules or [{"code": "fix", "kind": "FIXED", "amount": "1.00"}]


sales = st.lists(
    st.tuples(
        st.integers(0, 3),  # seller: index in the chain (clamped to its depth)
        st.integers(0, 75),  # day after Feb 1
        st.sampled_from([0, 0, 1, 2]),  # refund: none, none, half, all
    ),
    min_size=1,
    max_size=10,
)


def month_start(at: datetime) -> datetime:
    """The business month's first instant nearest to `at`."""
    local = at.astimezone(BUSINESS)
    month = local.month + (local.day > 15)
    return datetime(local.year + (month > 12), (month - 1) % 12 + 1, 1, tzinfo=BUSINESS)


def scoped(rules: list[dict], package: str) -> list[dict]:
    return [{**rule, "packages": [package]} for rule in rules]


def build_chain(ledger, prefix: str, package: str, depth: int, audit: Audit) -> list[str]:
    ledger.define_package(package, package, "TRAFFIC", 1000, 1, audit)
    codes = [f"{prefix}{i}" for i in range(depth)]
    for i, code in enumerate(codes):
        ledger.register_agent(code, code, codes[i - 1] if i else None, True, audit)
        ledger.set_cost_price(code, package, 5000 + 500 * i, audit)
        ledger.set_retail_price(code, package, 9000 + 500 * i, audit)
    return codes


def lines(fenrun, codes: list[str], prefix: str) -> dict[tuple, int]:
    """(agent index, order, rule) -> amount left, over every line of those agents."""
    at = fenrun.read.caught_up()
    found: dict[tuple, int] = defaultdict(int)
    for index, code in enumerate(codes):
        page = fenrun.read.commissions(at, code, None, None, 10_000, None)
        for row in page.rows:
            order = row["order_id"].removeprefix(prefix)
            found[(index, order, row["rule_code"])] += row["amount_fen"]
    return {key: amount for key, amount in found.items() if amount}


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    old=rule_sets(),
    new=rule_sets(),
    depth=st.integers(1, 4),
    orders=sales,
    start_day=st.integers(0, 40),
    length=st.one_of(st.none(), st.integers(1, 60)),
    release=st.booleans(),
)
def test_simulate_then_apply_equals_a_fresh_run(
    fenrun, old, new, depth, orders, start_day, length, release
) -> None:
    n = next(EXAMPLE)
    ledger = fenrun.ledger
    admin = Audit("admin", JAN)
    start = MAR - timedelta(days=28) + timedelta(days=start_day)
    end = start + timedelta(days=length) if length else None
    if any(rule.get("effect") == "RERATE_MONTH" for rule in old + new):
        # A re-rated month is corrected whole: a period cutting a month in two would re-rate
        # the month's earlier sales in the fresh run but not in the correction.
        start, end = month_start(start), end and month_start(end)
        if end is not None and end <= start:
            end = month_start(start + timedelta(days=31))  # at least the one month
    x_codes = build_chain(ledger, f"x{n}-", f"PX{n}", depth, admin)
    y_codes = build_chain(ledger, f"y{n}-", f"PY{n}", depth, admin)
    ledger.define_commission_plan(f"x{n}", JAN, scoped(old, f"PX{n}"), admin)
    ledger.define_commission_plan(f"y{n}", JAN, scoped(old, f"PY{n}"), admin)
    ledger.define_commission_plan(f"y{n}", start, scoped(new, f"PY{n}"), admin)
    if end is not None:
        ledger.define_commission_plan(f"y{n}", end, scoped(old, f"PY{n}"), admin)

    for j, (seller, day, refund) in enumerate(orders):
        at = Audit("shop", datetime(2026, 2, 1, 12, tzinfo=UTC) + timedelta(days=day))
        for prefix, codes, package in (("x", x_codes, f"PX{n}"), ("y", y_codes, f"PY{n}")):
            order_id = f"{prefix}{n}-O{j}"
            agent = codes[min(seller, depth - 1)]
            ledger.place_order(order_id, package, agent, None, "cust", "CUSTOMER_PAYS", at)
            ledger.complete_order(order_id, at)
            if refund:
                paid = 9000 + 500 * min(seller, depth - 1)
                ledger.refund_order(order_id, paid // refund, Audit("ops", at.effective_at, "r"))
    fenrun.catch_up()
    if release:  # released and approved money must be clawed back or topped up correctly
        now = Audit("finance", datetime(2026, 6, 1, tzinfo=UTC))
        requests = ledger.release_due_commissions(now).request_ids
        fenrun.catch_up()  # finance finds a request's wallet through the read side
        if requests:
            ledger.approve_unfreeze_requests(requests, now)
        fenrun.catch_up()

    candidate = ledger.correction_candidate(f"x{n}", scoped(new, f"PX{n}"), start, end)
    predicted = simulate(ledger, candidate, fenrun.policy.position(), fenrun.settings.zone)
    before = lines(fenrun, x_codes, f"x{n}-")
    ledger.correct_commission_plan(
        f"x{n}", scoped(new, f"PX{n}"), start, end, Audit("admin", MAR, "property")
    )
    fenrun.catch_up()

    after = lines(fenrun, x_codes, f"x{n}-")
    assert after == lines(fenrun, y_codes, f"y{n}-")
    changed = {
        (
            x_codes.index(d.agent_code),
            d.line.order_id.removeprefix(f"x{n}-"),
            d.line.rule_code,
        ): d.difference_fen
        for d in predicted.commissions
    }
    for key in before.keys() | after.keys():
        assert after.get(key, 0) - before.get(key, 0) == changed.get(key, 0), key
    wallets = [ledger.wallet(code).balances for code in x_codes]
    assert all(all(v >= 0 for v in b.values()) for b in wallets)
