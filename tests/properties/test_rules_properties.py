"""Hypothesis properties of the pure commission engine (domain/rules/), no database.

Random agent chains (platform -> up to 6 agents, each cost within 1-2x the one above), agent
grades, plan documents built from the real rule kinds (fixed, percentage, multi-level, tiered in
both modes, level difference, peer level, price difference; package and level scopes; time-window
multipliers) and sales in both flows, self-purchases included. The properties:

1. determinism: the same facts and the same plan give the same lines, also after a dump/parse
   round trip of the plan and with the grades given in another order;
2. every line is a positive integer number of fen, and nobody is paid on their own purchase;
3. per sale and rule, nobody is paid more than the plan allows (each kind against its own bound,
   computed here with exact fractions from the plan *document*, not from the parsed rules), and
   the price differences add up to exactly the chain's spread minus a self-purchase gap;
4. multi-level pays at most MAX_LEVELS uplines (level difference and peer level stay within
   their depth too);
5. a carrier settlement is either refused (only when a REFUSE rule would overpay and the caller
   does not cap) or split so that the platform's share is total - lines >= 0;
6. money.allocate adds up exactly and never moves a part by a whole fen from its exact share;
and the parser accepts a document or refuses it with one of the refusals docs/rules.md names
(PLAN_REFUSED, INVALID_MONEY, INVALID_RATE), never with another exception.

Explicit examples pin the boundaries random data seldom hits (an inclusive tier bound, a window
opening and closing at the sale's instant, a three-grade level-difference ladder, and two ways
lines of one sale could once share a commission id).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from math import floor
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, note, settings
from hypothesis import strategies as st

from domain.common import derived_id
from domain.errors import InvalidMoney, InvalidRate, LedgerError, PlanRefused
from domain.money import allocate, format_money
from domain.plan import CommissionPlan
from domain.rules import (
    MAX_LEVELS,
    PRICE_MENU_PLAN,
    PlanVersion,
    SaleFacts,
    SettlementFacts,
    dump_rules,
    lines_for_sale,
    lines_for_settlement,
    parse_rules,
)

PROPERTIES = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
# The refusals docs/rules.md lists for a plan document.
REFUSALS = (PlanRefused, InvalidMoney, InvalidRate)

GRADES = ("G1", "G2", "G3")
PACKAGES = ("P1", "P2")
SHANGHAI = timezone(timedelta(hours=8))
BEFORE_ALL = datetime(2025, 12, 1, tzinfo=UTC)  # plans in force before every sale
EDGES = (
    datetime(2026, 3, 1, tzinfo=SHANGHAI),
    datetime(2026, 5, 1, tzinfo=SHANGHAI),
    datetime(2026, 5, 6, tzinfo=UTC),
    datetime(2026, 10, 1, tzinfo=SHANGHAI),
)
FLOWS = ("CUSTOMER_PAYS", "AGENT_PREPAID")
SALE_KINDS = (
    "FIXED",
    "PERCENTAGE",
    "MULTI_LEVEL",
    "TIERED",
    "LEVEL_DIFFERENCE",
    "PEER_LEVEL",
    "PRICE_DIFFERENCE",
    "OTHER",
)


# ---- exact arithmetic of the reference (from the documents' strings) ---------------------------


def fen(text: str) -> int:
    return int(Decimal(text) * 100)


def rate_of(text: str) -> Fraction:
    return Fraction(Decimal(text[:-1])) / 100 if text.endswith("%") else Fraction(Decimal(text))


def half_up(value: Fraction) -> int:
    return floor(value + Fraction(1, 2))


def factor_of(doc: dict[str, Any], at: datetime) -> Fraction:
    """The window multiplier at `at`: from <= at < to (either bound may be missing)."""
    if "multiplier" not in doc:
        return Fraction(1)
    if "from" in doc and at < datetime.fromisoformat(doc["from"]):
        return Fraction(1)
    if "to" in doc and at >= datetime.fromisoformat(doc["to"]):
        return Fraction(1)
    return Fraction(Decimal(doc["multiplier"]))


def in_scope(doc: dict[str, Any], package: str | None, grade: str | None) -> bool:
    if doc.get("packages") and package not in doc["packages"]:
        return False
    return not doc.get("agentLevels") or grade in doc["agentLevels"]


# ---- strategies ----------------------------------------------------------------------------------

percent = st.integers(1, 3000).map(lambda n: f"{n // 100}.{n % 100:02d}%")  # 0.01% - 30.00%
fraction = st.integers(1, 3000).map(lambda n: format(Decimal(n).scaleb(-4), "f"))  # to 0.3
rates = st.one_of(percent, fraction, st.sampled_from(["0", "5%", "100%", "0.5", "1"]))
amounts = st.one_of(st.integers(0, 100_000).map(format_money), st.integers(0, 1000).map(str))
bases = st.sampled_from([None, "COST_PRICE", "PAID_AMOUNT"])
depths = st.sampled_from([None, 1, 2, 3])


def iso(at: datetime) -> str:
    return at.isoformat()


@st.composite
def scopes(draw: Any, levels: bool = True) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    if draw(st.integers(0, 3)) == 0:
        doc["packages"] = draw(
            st.lists(st.sampled_from((*PACKAGES, "P9")), min_size=1, max_size=2, unique=True)
        )
    if levels and draw(st.integers(0, 3)) == 0:
        doc["agentLevels"] = draw(st.lists(st.sampled_from(GRADES), min_size=1, max_size=2))
    if draw(st.integers(0, 3)) == 0:
        doc["holdDays"] = draw(st.integers(0, 30))
    return doc


@st.composite
def windows(draw: Any) -> dict[str, Any]:
    if draw(st.booleans()):
        return {}
    doc: dict[str, Any] = {"multiplier": draw(st.sampled_from(["1", "1.2", "1.5", "2", "0.5"]))}
    edges = sorted(draw(st.lists(st.sampled_from(EDGES), max_size=2, unique=True)))
    if len(edges) == 2:
        doc["from"], doc["to"] = iso(edges[0]), iso(edges[1])
    elif edges:
        doc[draw(st.sampled_from(["from", "to"]))] = iso(edges[0])
    return doc


def optional(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


@st.composite
def sales_tiers(draw: Any) -> list[dict[str, Any]]:
    bounds = sorted(draw(st.lists(st.integers(1, 500_000), max_size=3, unique=True)))
    uppers: list[str | None] = [format_money(b) for b in bounds]
    return [{"upTo": upper, "rate": draw(rates)} for upper in [*uppers, None]]


@st.composite
def count_tiers(draw: Any) -> list[dict[str, Any]]:
    bounds = sorted(draw(st.lists(st.integers(1, 200), max_size=2, unique=True)))
    return [{"upTo": upper, "amount": draw(amounts)} for upper in [*bounds, None]]


@st.composite
def sale_rules(draw: Any, kind: str | None = None) -> dict[str, Any]:
    """One rule of a kind that pays on sales (OTHER: one that never does, ONE_TIME/LONG_TERM)."""
    if kind is None:
        kind = draw(st.sampled_from(SALE_KINDS))
    if kind == "PRICE_DIFFERENCE":
        return {"kind": kind, **draw(scopes(levels=False))}
    common = {**draw(scopes()), **draw(windows())}
    if kind == "FIXED":
        return {"kind": kind, "amount": draw(amounts), **common}
    if kind == "PERCENTAGE":
        return {"kind": kind, "rate": draw(rates), **optional(base=draw(bases)), **common}
    if kind == "MULTI_LEVEL":
        levels = draw(st.lists(rates, min_size=1, max_size=MAX_LEVELS))
        return {"kind": kind, "levels": levels, **optional(base=draw(bases)), **common}
    if kind == "TIERED":
        if draw(st.integers(0, 4)) == 0:  # count tiers: they never pay on a sale
            metric = draw(st.sampled_from(["PICKUP_COUNT", "ACTIVATION_COUNT"]))
            return {"kind": kind, "metric": metric, "tiers": draw(count_tiers()), **common}
        mode = draw(st.sampled_from([None, "graduated", "volume"]))
        tiers = draw(sales_tiers())
        metric = draw(st.sampled_from([None, "SALES_AMOUNT"]))
        # RERATE_MONTH (volume mode only) prices each sale as NEXT_COMMISSION does; the policy
        # adds the month's correcting lines later.
        effect = draw(st.sampled_from([None, "NEXT_COMMISSION", "RERATE_MONTH"]))
        if mode == "graduated":
            effect = None
        return {
            "kind": kind,
            "tiers": tiers,
            **optional(mode=mode, metric=metric, effect=effect),
            **common,
        }
    if kind == "LEVEL_DIFFERENCE":
        keys = draw(st.sampled_from([GRADES, GRADES[1:], (*GRADES, "G9")]))
        grade_rates = [draw(rates) for _ in keys]
        if draw(st.booleans()):  # the usual ladder: a higher grade, a higher rate
            grade_rates.sort(key=rate_of)
        return {
            "kind": kind,
            "rates": dict(zip(keys, grade_rates, strict=True)),
            **optional(
                base=draw(bases),
                maxDepth=draw(depths),
                includeSeller=draw(st.sampled_from([None, True, False])),
            ),
            **common,
        }
    if kind == "PEER_LEVEL":
        return {
            "kind": kind,
            "rate": draw(rates),
            **optional(base=draw(bases), maxDepth=draw(depths)),
            **common,
        }
    # Card and settlement rules: present in a plan, they never pay on a sale.
    if draw(st.booleans()):
        return {"kind": "ONE_TIME", "amount": draw(amounts), "rechargeThreshold": "10.00"}
    return {"kind": "LONG_TERM", "rate": draw(rates)}


@st.composite
def documents(draw: Any) -> list[dict[str, Any]]:
    """A few rules of distinct kinds (the ledger refuses two rules of one kind for overlapping
    scopes), so that each kind shows up in about half the plans."""
    kinds = draw(st.lists(st.sampled_from(SALE_KINDS), min_size=1, max_size=6, unique=True))
    return [{"code": f"r{i}", **draw(sale_rules(kind))} for i, kind in enumerate(kinds)]


# Ways to spoil a document; the parser must refuse most of them, and cleanly.
def _spoil(draw: Any, doc: list[dict[str, Any]]) -> object:
    i = draw(st.integers(0, len(doc) - 1))
    rule = dict(doc[i])
    how = draw(st.integers(0, 18))
    if how == 0:
        rule["bogus"] = 1
    elif how == 1:
        rule.pop(draw(st.sampled_from(["code", "kind"])))
    elif how == 2:
        rule["kind"] = draw(st.sampled_from(["ENTRY_FEE", "LEVEL_PURCHASE", "NOPE", 7, None]))
    elif how == 3:
        rule[draw(st.sampled_from(["rate", "amount"]))] = draw(st.sampled_from([0.05, 5, True]))
    elif how == 4:
        rule["kind"] = "MULTI_LEVEL"
        rule["levels"] = draw(st.lists(rates, min_size=MAX_LEVELS + 1, max_size=6))
    elif how == 5:
        return [*doc, {**doc[i]}]  # a duplicate rule code
    elif how == 6:
        rule["multiplier"] = draw(st.sampled_from(["0", "11", "1.2345678", 1.2, "-1", "2"]))
    elif how == 7:
        rule["multiplier"] = "2"
        rule["from"] = draw(st.sampled_from(["2026-05-01T00:00:00", "yesterday", iso(EDGES[2])]))
        rule["to"] = iso(EDGES[1])  # before EDGES[2]: from >= to
    elif how == 8:
        rule["holdDays"] = draw(st.sampled_from([-1, "7", True, 10**6, 7.0]))
    elif how == 9:
        rule["kind"] = "TIERED"
        rule["tiers"] = draw(
            st.sampled_from(
                [
                    [],
                    [{"upTo": "100.00", "rate": "1%"}],
                    [{"upTo": None, "rate": "1%"}, {"upTo": None, "rate": "2%"}],
                    [{"upTo": "200.00", "rate": "1%"}, {"upTo": "100.00", "rate": "2%"}],
                    [{"upTo": 100, "rate": "1%"}, {"upTo": None, "rate": "2%"}],
                    [{"upTo": "1.001", "rate": "1%"}, {"upTo": None, "rate": "2%"}],
                    [{"upTo": None, "rate": "1%", "amount": "1.00"}],
                    [{"upTo": None}],
                    [{"upTo": None, "rate": 0.01}],
                    [{"upTo": True, "rate": "1%"}, {"upTo": None, "rate": "2%"}],
                ]
            )
        )
        rule["effect"] = draw(st.sampled_from(["NEXT_COMMISSION", "RERATE_MONTH"]))
    elif how == 10:
        rule["rate"] = draw(st.sampled_from(["101%", "1.5", "-1%", "5", "1e-2", "", "5 %", "x"]))
    elif how == 11:
        rule["amount"] = draw(st.sampled_from(["1.234", "-5.00", "1e3", "", "5,00", "Infinity"]))
    elif how == 12:
        rule["kind"] = "LEVEL_DIFFERENCE"
        rule["rates"] = draw(st.sampled_from([{}, {"G1": 0.1}, {"G1": "200%"}, ["G1"], "G1"]))
    elif how == 13:
        rule["kind"] = "PERCENTAGE"
        rule["rate"] = "80%"
        rule["multiplier"] = "1.5"  # 120% with the multiplier
    elif how == 14:
        rule["maxDepth"] = draw(st.sampled_from([0, 4, "2", None]))
    elif how == 15:
        rule["base"] = draw(st.sampled_from(["RETAIL", "", 1]))
    elif how == 16:
        rule["agentLevels"] = draw(st.sampled_from(["G1", [1], None]))
    elif how == 17:
        rule["effect"] = draw(st.sampled_from(["RERATE_MONTH", "NEXT_COMMISSION", "LATER"]))
    else:
        return draw(st.sampled_from([[], {}, None, "rules", [1], [[]], [None]]))
    return [*doc[:i], rule, *doc[i + 1 :]]


@st.composite
def spoiled_documents(draw: Any) -> object:
    doc = draw(documents())
    return _spoil(draw, doc) if draw(st.integers(0, 3)) else doc


@dataclass(frozen=True)
class Plan:
    """A parsed plan version with the document it came from (the reference reads the document)."""

    version: PlanVersion
    doc: tuple[dict[str, Any], ...]

    def rule(self, code: str) -> dict[str, Any]:
        return next(r for r in self.doc if r["code"] == code)


def parse_or_reject(doc: object) -> list[Any]:
    try:
        return parse_rules(doc)
    except REFUSALS:
        assume(False)
        raise  # pragma: no cover


@st.composite
def plans(draw: Any) -> list[Plan]:
    """One or two plans, each with one or two versions (effective dates never go back)."""
    chosen = []
    for code in draw(st.sampled_from([["p1"], ["p1", "p2"]])):
        start = draw(st.sampled_from([*[BEFORE_ALL] * 6, *EDGES]))
        for version in range(1, draw(st.integers(1, 2)) + 1):
            doc = draw(documents())
            rules = tuple(parse_or_reject(doc))
            chosen.append(Plan(PlanVersion(code, version, start, rules), tuple(doc)))
            start = draw(st.sampled_from([e for e in (start, *EDGES) if e >= start]))
    return chosen


instants = st.one_of(
    st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
    ),
    st.sampled_from(EDGES),
    st.sampled_from(EDGES).map(lambda e: e - timedelta(microseconds=1)),
)


@st.composite
def sales(draw: Any) -> SaleFacts:
    """A completed order: a chain from the platform's direct agent down to the seller, each cost
    within 1-2x the one above; the seller sells at most at 2x its cost (flow 1) or pays its cost
    from its deposit (flow 2); the buyer may be an agent of the chain (self-purchase)."""
    codes = [f"A{i}" for i in range(draw(st.integers(1, 6)))]
    cost = draw(st.integers(1, 200_000))
    chain = []
    for code in codes:
        chain.append((code, cost))
        cost = draw(st.integers(cost, 2 * cost))
    seller_cost = chain[-1][1]
    flow = draw(st.sampled_from(FLOWS))
    retail = draw(st.integers(seller_cost, 2 * seller_cost)) if flow == FLOWS[0] else None
    if draw(st.booleans()):  # any grades
        ladder = [draw(st.sampled_from((None, *GRADES, "G9"))) for _ in codes]
    else:  # the usual shape: from the seller up, each grade the same as below or one higher
        rank, ladder = draw(st.integers(0, 1)), []
        for _ in codes:
            ladder.insert(0, (None, *GRADES)[rank])
            rank = min(rank + draw(st.integers(0, 1)), len(GRADES))
    grades = {code: g for code, g in zip(codes, ladder, strict=True) if g is not None}
    return SaleFacts(
        order_id=draw(st.sampled_from(["o-1", "o-2"])),
        package_code=draw(st.sampled_from(PACKAGES)),
        seller_code=codes[-1],
        buyer_code=draw(st.one_of(st.none(), st.just("customer"), st.sampled_from(codes))),
        flow=flow,
        chain=tuple(chain),
        retail_fen=retail,
        paid_fen=retail if retail is not None else seller_cost,
        effective_at=draw(instants),
        grades=grades,
        month_sales_before_fen=draw(st.one_of(st.just(0), st.integers(0, 600_000))),
    )


def versions(chosen: list[Plan]) -> list[PlanVersion]:
    return [p.version for p in chosen]


def in_force(chosen: list[Plan], at: datetime) -> dict[str, Plan]:
    """The reference: per plan, the latest version in force at `at`."""
    found: dict[str, Plan] = {}
    for p in chosen:
        v = p.version
        if v.effective_from <= at and (
            v.code not in found or v.version > found[v.code].version.version
        ):
            found[v.code] = p
    return found


def commission_id(sale: SaleFacts, line: Any) -> str:
    """The id the commission policy gives a sale's line (application/facts.py, `_accrue`)."""
    return derived_id(
        "commission", "order", sale.order_id, line.beneficiary, line.plan_code, line.rule_code
    )


def show(lines: list[Any]) -> list[tuple[Any, ...]]:
    return [
        (ln.beneficiary, str(ln.kind), ln.amount_fen, ln.plan_code, ln.rule_code) for ln in lines
    ]


# ---- 1. determinism, and one commission id per line ----------------------------------------------


@PROPERTIES
@given(sale=sales(), chosen=plans())
def test_same_facts_and_plan_give_the_same_lines_with_distinct_ids(
    sale: SaleFacts, chosen: list[Plan]
) -> None:
    """Re-processing a sale computes the same lines; the policy accrues each under an id derived
    from the fact, beneficiary, plan and rule and skips an id it has seen, so re-processing adds
    nothing, and two lines of one sale must never share an id (the second would be dropped)."""
    lines = lines_for_sale(sale, versions(chosen))
    note(f"lines: {show(lines)}")
    assert lines_for_sale(sale, versions(chosen)) == lines
    # The plan as stored (dump) and read back (parse) pays the same.
    stored = [
        replace(p.version, rules=tuple(parse_rules(dump_rules(list(p.version.rules)))))
        for p in chosen
    ]
    assert lines_for_sale(sale, stored) == lines
    # The grades given in another order: still the same.
    shuffled = dict(reversed(list(sale.grades.items())))
    assert lines_for_sale(replace(sale, grades=shuffled), versions(chosen)) == lines
    ids = [commission_id(sale, ln) for ln in lines]
    assert len(set(ids)) == len(ids)


# ---- 2, 3 and 4. positive, never the buyer's own purchase, never more than the plan allows --------


def price_difference_total(sale: SaleFacts) -> int:
    """What the bottom of the chain paid (the customer in flow 1, the seller in flow 2) minus the
    platform's price to the top agent, less the gap the buyer itself would have earned."""
    costs = [cost for _, cost in sale.chain]
    bottom = sale.retail_fen if sale.flow == "CUSTOMER_PAYS" else costs[-1]
    assert bottom is not None
    sold_at = [*costs[1:], bottom]  # what each level sold at; flow 2's seller sells off-ledger
    gaps = {code: sold_at[i] - cost for i, (code, cost) in enumerate(sale.chain)}
    if sale.flow != "CUSTOMER_PAYS":
        gaps[sale.seller_code] = 0
    return bottom - costs[0] - gaps.get(sale.buyer_code or "", 0)


def check_rule(sale: SaleFacts, doc: dict[str, Any], lines: list[Any]) -> None:
    """The lines one rule paid on one sale, against what its document allows."""
    kind = doc["kind"]
    f = factor_of(doc, sale.effective_at)
    seller_cost = sale.chain[-1][1]
    default_base = "COST_PRICE" if kind == "PERCENTAGE" else "PAID_AMOUNT"
    base = seller_cost if doc.get("base", default_base) == "COST_PRICE" else sale.paid_fen
    uplines = [code for code, _ in reversed(sale.chain[:-1])]
    total = sum(ln.amount_fen for ln in lines)
    slack = Fraction(len(lines), 2)  # half-up rounding: at most half a fen per line
    beneficiaries = [ln.beneficiary for ln in lines]
    assert len(set(beneficiaries)) == len(beneficiaries), "one line per beneficiary and rule"
    for line in lines:
        assert line.kind == kind
        assert in_scope(doc, sale.package_code, sale.grades.get(line.beneficiary))

    def pays(beneficiary: str) -> bool:
        return beneficiary != sale.buyer_code and in_scope(
            doc, sale.package_code, sale.grades.get(beneficiary)
        )

    if kind in ("FIXED", "PERCENTAGE"):
        if kind == "FIXED":
            owed = half_up(fen(doc["amount"]) * f)
        else:
            owed = half_up(rate_of(doc["rate"]) * f * base)
        expected = [owed] if owed > 0 and pays(sale.seller_code) else []
        assert [ln.amount_fen for ln in lines] == expected
        assert set(beneficiaries) <= {sale.seller_code}
    elif kind == "MULTI_LEVEL":
        level_rates = [rate_of(r) for r in doc["levels"]]
        assert len(lines) <= MAX_LEVELS
        assert set(beneficiaries) <= set(uplines[:MAX_LEVELS])
        for line in lines:
            level = line.facts["level"]
            assert uplines[level - 1] == line.beneficiary
            assert line.amount_fen == half_up(level_rates[level - 1] * f * base)
        assert total <= sum(level_rates) * f * base + slack
    elif kind == "TIERED":
        metric = doc.get("metric", "SALES_AMOUNT")
        if metric != "SALES_AMOUNT":
            assert lines == []
            return
        assert set(beneficiaries) <= {sale.seller_code}
        tiers = [
            (None if t["upTo"] is None else fen(t["upTo"]), rate_of(t["rate"]))
            for t in doc["tiers"]
        ]
        top = max(rate for _, rate in tiers)
        assert total <= top * f * sale.paid_fen + slack
        before, after = sale.month_sales_before_fen, sale.month_sales_before_fen + sale.paid_fen
        if doc.get("mode", "volume") == "volume":
            rate = next(r for upper, r in tiers if upper is None or after <= upper)
            exact = rate * sale.paid_fen
        else:
            exact, lower = Fraction(0), 0
            for upper, rate in tiers:
                hi = after if upper is None else min(after, upper)
                exact += rate * max(0, hi - max(before, lower))
                lower = upper if upper is not None else lower
        owed = half_up(exact * f)
        expected = [owed] if owed > 0 and pays(sale.seller_code) else []
        assert [ln.amount_fen for ln in lines] == expected
    elif kind == "LEVEL_DIFFERENCE":
        depth = doc.get("maxDepth", MAX_LEVELS)
        allowed = set(uplines[:depth]) | ({sale.seller_code} if doc.get("includeSeller") else set())
        assert set(beneficiaries) <= allowed

        def grade_rate(code: str) -> Fraction:
            return rate_of(doc["rates"].get(sale.grades.get(code), "0"))

        # The whole ladder pays at most the top grade rate, less what the seller's grade counts
        # as already paid (unless the seller is paid it too).
        below = Fraction(0) if doc.get("includeSeller") else grade_rate(sale.seller_code)
        top = max(grade_rate(c) for c in [sale.seller_code, *uplines[:depth]])
        assert total <= (top - below) * f * base + slack
        # Exactly: each upline above the highest rate below it earns the difference.
        expected, below = {}, grade_rate(sale.seller_code)
        if doc.get("includeSeller") and pays(sale.seller_code):
            expected[sale.seller_code] = half_up(below * f * base)
        for upline in uplines[:depth]:
            if grade_rate(upline) > below:
                if pays(upline):
                    expected[upline] = half_up((grade_rate(upline) - below) * f * base)
                below = grade_rate(upline)
        expected = {code: amount for code, amount in expected.items() if amount > 0}
        assert {ln.beneficiary: ln.amount_fen for ln in lines} == expected
    elif kind == "PEER_LEVEL":
        assert len(lines) <= 1
        depth = doc.get("maxDepth", MAX_LEVELS)
        grade = sale.grades.get(sale.seller_code)
        peers = [u for u in uplines[:depth] if grade is not None and sale.grades.get(u) == grade]
        owed = half_up(rate_of(doc["rate"]) * f * base)
        if lines:  # only the first upline of the seller's own grade
            assert peers
            assert beneficiaries == [peers[0]]
        expected = [owed] if peers and owed > 0 and pays(peers[0]) else []
        assert [ln.amount_fen for ln in lines] == expected
    else:  # card and settlement rules never pay on a sale
        assert lines == []


def plan_of(*doc: dict[str, Any]) -> list[Plan]:
    return [Plan(PlanVersion("p1", 1, BEFORE_ALL, tuple(parse_rules(list(doc)))), doc)]


def sale_of(chain: tuple[tuple[str, int], ...], **changes: Any) -> SaleFacts:
    """An agent-prepaid sale at the bottom of the chain, to a customer."""
    cost = chain[-1][1]
    sale = SaleFacts("o-1", "P1", chain[-1][0], "customer", FLOWS[1], chain, None, cost, EDGES[0])
    return replace(sale, **changes)


# Seed 000's tiers: the sale that brings the month to exactly 100,000.00 is still at 8%.
SEED000 = {
    "code": "r0",
    "kind": "TIERED",
    "tiers": [{"upTo": "100000.00", "rate": "8%"}, {"upTo": None, "rate": "12%"}],
}
# Seed 003's grades, one more on top: each upline earns only the part above the rate below.
LADDER3 = {
    "code": "r0",
    "kind": "LEVEL_DIFFERENCE",
    "rates": {"G1": "0.5%", "G2": "1.0%", "G3": "2%"},
}
CHAIN3 = (("A0", 10000_00), ("A1", 10000_00), ("A2", 10000_00))
# A sale at the very instant one window opens and another closes: from <= t < to.
OPENS = {"code": "r0", "kind": "FIXED", "amount": "5.00", "multiplier": "2", "from": iso(EDGES[2])}
CLOSES = {"code": "r1", "kind": "PERCENTAGE", "rate": "10%", "multiplier": "2", "to": iso(EDGES[2])}


def snapped(sale: SaleFacts, chosen: list[Plan], snap: int) -> SaleFacts:
    """Now and then, the month's volume before the sale such that the sale ends exactly on a tier
    bound (or one fen past it): the bounds are inclusive, as Stripe's `up_to`."""
    bounds = sorted(
        fen(t["upTo"])
        for p in chosen
        for r in p.doc
        if r["kind"] == "TIERED" and r.get("metric", "SALES_AMOUNT") == "SALES_AMOUNT"
        for t in r["tiers"]
        if t["upTo"] is not None
    )
    if not snap or not bounds:
        return sale
    before = bounds[snap % len(bounds)] - sale.paid_fen + snap % 2
    return replace(sale, month_sales_before_fen=before) if before >= 0 else sale


@PROPERTIES
@given(sale=sales(), chosen=plans(), snap=st.integers(0, 5))
@example(sale=sale_of((("A0", 500_00),)), chosen=plan_of(SEED000), snap=2)
@example(
    sale=sale_of(CHAIN3, grades={"A0": "G3", "A1": "G2", "A2": "G1"}),
    chosen=plan_of(LADDER3),
    snap=0,
)
@example(
    sale=sale_of((("A0", 100_00),), effective_at=EDGES[2]), chosen=plan_of(OPENS, CLOSES), snap=0
)
def test_lines_are_positive_never_the_buyers_and_within_the_plan(
    sale: SaleFacts, chosen: list[Plan], snap: int
) -> None:
    sale = snapped(sale, chosen, snap)
    lines = lines_for_sale(sale, versions(chosen))
    note(f"lines: {show(lines)}")
    for line in lines:
        assert type(line.amount_fen) is int
        assert line.amount_fen > 0
        assert line.beneficiary != sale.buyer_code  # never on one's own purchase
        assert line.beneficiary in {code for code, _ in sale.chain}
        assert line.order_id == sale.order_id == line.source
    active = in_force(chosen, sale.effective_at)

    # Price differences: exactly the chain's spread, to whoever the plan names.
    differences = [ln for ln in lines if ln.kind == "PRICE_DIFFERENCE"]
    assert sum(ln.amount_fen for ln in differences) == price_difference_total(sale)
    pd_rules = [
        (code, p.version.version, r["code"], r.get("holdDays", 7))
        for code, p in active.items()
        for r in p.doc
        if r["kind"] == "PRICE_DIFFERENCE" and in_scope(r, sale.package_code, None)
    ]
    named = pd_rules[0] if pd_rules else (PRICE_MENU_PLAN, 1, "price-difference", 7)
    for line in differences:
        assert (line.plan_code, line.plan_version, line.rule_code, line.hold_days) == named

    # Every other line comes from a rule in force, and each rule stays within its bound.
    others = [ln for ln in lines if ln.kind != "PRICE_DIFFERENCE"]
    for line in others:
        assert line.plan_code in active
        assert line.plan_version == active[line.plan_code].version.version
    for code, p in active.items():
        for doc in p.doc:
            paid = [ln for ln in others if ln.plan_code == code and ln.rule_code == doc["code"]]
            if doc.get("packages") and sale.package_code not in doc["packages"]:
                assert paid == []
            check_rule(sale, doc, paid)


# ---- commission ids: two collisions the properties above steer clear of ------------------------
# The strategies name plans p1/p2 and rules r0..r5; these two pin down what other codes do (both
# were real bugs: the policy kept one line of the two and dropped the other).


def sale_a0(flow: str = "CUSTOMER_PAYS") -> SaleFacts:
    """A0 (cost 60.00) sells at 90.00 to a customer (flow 1), or pays its 60.00 (flow 2)."""
    if flow == "CUSTOMER_PAYS":
        return sale_of((("A0", 6000),), flow=flow, retail_fen=9000, paid_fen=9000)
    return sale_of((("A0", 6000),))


def test_no_plan_may_take_the_built_in_price_menu_name() -> None:
    """Its lines would share ids with the built-in price-difference lines."""
    with pytest.raises(PlanRefused, match="built-in"):
        CommissionPlan.start(PRICE_MENU_PLAN)


def test_codes_with_a_bar_keep_their_own_ids() -> None:
    sale = sale_a0("AGENT_PREPAID")
    fixed = parse_rules([{"code": "r", "kind": "FIXED", "amount": "5.00"}])
    pct = parse_rules([{"code": "q|r", "kind": "PERCENTAGE", "rate": "5%"}])
    chosen = [
        PlanVersion("p|q", 1, BEFORE_ALL, tuple(fixed)),
        PlanVersion("p", 1, BEFORE_ALL, tuple(pct)),
    ]
    lines = lines_for_sale(sale, chosen)
    assert [ln.amount_fen for ln in lines] == [500, 300]
    assert len({commission_id(sale, ln) for ln in lines}) == 2


# ---- the parser: accepted, or refused cleanly ----------------------------------------------------


def must_refuse(doc: object) -> bool:
    """Documents docs/rules.md and SPEC §7 say are refused, whatever else they hold."""
    if not isinstance(doc, list) or not doc:
        return True
    if not all(isinstance(r, dict) for r in doc):
        return True
    codes = [r.get("code") for r in doc]
    if len(set(map(repr, codes))) != len(codes):
        return True
    for r in doc:
        if r.get("kind") in ("ENTRY_FEE", "LEVEL_PURCHASE") or "bogus" in r:
            return True
        if isinstance(r.get("levels"), list) and len(r["levels"]) > MAX_LEVELS:
            return True
        if r.get("effect") == "RERATE_MONTH" and (
            r.get("mode", "volume") != "volume" or r.get("metric", "SALES_AMOUNT") != "SALES_AMOUNT"
        ):
            return True  # graduated tiers and unit counts are never re-rated
        if (
            r.get("kind") == "PERCENTAGE"
            and r.get("rate") == "80%"
            and r.get("multiplier") == "1.5"
        ):
            return True
    return False


def parsed_or_refused(doc: object) -> list[Any] | LedgerError:
    """Any exception but the documented refusals escapes and fails the test."""
    try:
        return parse_rules(doc)
    except REFUSALS as exc:
        return exc


@PROPERTIES
@given(doc=spoiled_documents())
def test_the_parser_accepts_or_refuses_cleanly(doc: object) -> None:
    note(f"doc: {doc!r}")
    rules = parsed_or_refused(doc)
    if isinstance(rules, LedgerError):
        assert rules.code in ("PLAN_REFUSED", "INVALID_MONEY", "INVALID_RATE")
        assert rules.message
        return
    assert not must_refuse(doc)
    dumped = dump_rules(rules)
    assert parse_rules(dumped) == rules
    assert dump_rules(parse_rules(dumped)) == dumped


# ---- 5. carrier settlement: the platform's share is never negative -------------------------------


@st.composite
def long_term_rules(draw: Any) -> dict[str, Any]:
    if draw(st.booleans()):
        pay: dict[str, Any] = {"rate": draw(st.one_of(rates, st.sampled_from(["40%", "70%"])))}
    else:
        pay = {"amount": draw(amounts)}
    return {
        "kind": "LONG_TERM",
        **pay,
        **optional(
            rechargeThreshold=draw(st.sampled_from([None, "0.00", "50.00", "100.00"])),
            recharge=draw(st.sampled_from([None, "FIRST", "CUMULATIVE"])),
            startsAt=draw(st.sampled_from([None, iso(EDGES[1])])),
            afterPeriods=draw(st.sampled_from([None, 1, 3])),
            overflow=draw(st.sampled_from([None, "REFUSE", "CAP"])),
        ),
        **(draw(scopes()) if draw(st.booleans()) else {}),
        **draw(windows()),
    }


@st.composite
def settlement_plans(draw: Any) -> list[Plan]:
    chosen = []
    for code in draw(st.sampled_from([["p1"], ["p1", "p2"]])):
        rule = st.one_of(long_term_rules(), long_term_rules(), long_term_rules(), sale_rules())
        rules = draw(st.lists(rule, min_size=1, max_size=4))
        doc = [{"code": f"r{i}", **r} for i, r in enumerate(rules)]
        if "holdDays" in str(doc):  # a long-term rule has no hold
            doc = [{k: v for k, v in r.items() if k != "holdDays"} for r in doc]
        parsed = tuple(parse_or_reject(doc))
        chosen.append(Plan(PlanVersion(code, 1, BEFORE_ALL, parsed), tuple(doc)))
    return chosen


@st.composite
def settlement_rows(draw: Any) -> SettlementFacts:
    """A carrier's row for agent A's card; usually every condition holds, now and then one fails."""
    first = draw(st.one_of(st.none(), st.integers(0, 20_000)))
    conditions = ("activated", "network", "arrears", "suspension", "complaint")
    failing = draw(st.sampled_from(conditions)) if draw(st.integers(0, 3)) == 0 else None
    return SettlementFacts(
        row_id="row-1",
        iccid="ICC1",
        period="2026-03",
        total_fen=draw(st.one_of(st.integers(0, 5_000), st.integers(0, 100_000))),
        agent_code="A",
        package_code=draw(st.sampled_from([*PACKAGES, PACKAGES[0], None])),
        activated=failing != "activated",
        first_recharge_fen=first,
        total_recharge_fen=(first or 0) + draw(st.integers(0, 20_000)),
        network_status="SUSPENDED" if failing == "network" else "NORMAL",
        no_arrears=failing != "arrears",
        no_suspension=failing != "suspension",
        no_complaint=failing != "complaint",
        periods_used=draw(st.one_of(st.none(), st.integers(0, 5))),
        effective_at=draw(instants),
        grades=draw(st.sampled_from([{}, {"A": "G1"}, {"A": "G1"}, {"A": "G2"}])),
    )


def long_term_owed(row: SettlementFacts, doc: dict[str, Any]) -> int:
    """The reference: what one long-term rule would pay on the row before any cap."""
    if doc["kind"] != "LONG_TERM" or not in_scope(doc, row.package_code, row.grades.get("A")):
        return 0
    recharge = row.first_recharge_fen if doc.get("recharge") == "FIRST" else row.total_recharge_fen
    if not row.activated or (recharge or 0) < fen(doc.get("rechargeThreshold", "0")):
        return 0
    if row.network_status != "NORMAL":
        return 0
    if not (row.no_arrears and row.no_suspension and row.no_complaint):
        return 0
    if "startsAt" in doc and row.effective_at < datetime.fromisoformat(doc["startsAt"]):
        return 0
    if "afterPeriods" in doc and (row.periods_used or 0) < doc["afterPeriods"]:
        return 0
    f = factor_of(doc, row.effective_at)
    if "rate" in doc:
        return half_up(rate_of(doc["rate"]) * f * row.total_fen)
    return half_up(fen(doc["amount"]) * f)


@PROPERTIES
@given(row=settlement_rows(), chosen=settlement_plans(), cap=st.booleans())
def test_a_settlement_split_never_leaves_the_platform_negative(
    row: SettlementFacts, chosen: list[Plan], cap: bool
) -> None:
    owed = {
        (p.version.code, doc["code"]): amount
        for p in chosen
        for doc in p.doc
        if (amount := long_term_owed(row, doc)) > 0
    }
    refusing = any(
        p.rule(rule).get("overflow", "REFUSE") == "REFUSE"
        for p in chosen
        for code, rule in owed
        if code == p.version.code
    )
    overpaid = sum(owed.values()) > row.total_fen
    note(f"owed {owed}, total {row.total_fen}")
    try:
        lines = lines_for_settlement(row, versions(chosen), cap=cap)
    except PlanRefused:
        assert overpaid
        assert refusing
        assert not cap
        return
    assert not (overpaid and refusing and not cap), "should have been refused"
    paid = {(ln.plan_code, ln.rule_code): ln.amount_fen for ln in lines}
    assert len(paid) == len(lines)
    assert all(type(a) is int and a > 0 for a in paid.values())
    assert all(ln.beneficiary == row.agent_code for ln in lines)
    total_paid = sum(paid.values())
    assert total_paid <= row.total_fen
    for line in lines:
        assert line.facts["platformShare"] == format_money(row.total_fen - total_paid)
    if overpaid:  # capped: the carrier's whole total, each line at most what it would have been
        assert total_paid == row.total_fen
        assert all(amount <= owed[key] for key, amount in paid.items())
    else:
        assert paid == owed


@st.composite
def upline_share_rules(draw: Any) -> dict[str, Any]:
    """MULTI_LEVEL on the settlement base: the card agent's uplines' shares of the row."""
    levels = draw(
        st.lists(st.one_of(rates, st.sampled_from(["10%", "60%"])), min_size=1, max_size=3)
    )
    return {
        "code": "up",
        "kind": "MULTI_LEVEL",
        "base": "SETTLEMENT",
        "levels": levels,
        **optional(overflow=draw(st.sampled_from([None, "REFUSE", "CAP"]))),
    }


def upline_owed(row: SettlementFacts, doc: dict[str, Any]) -> dict[str, int]:
    """The reference: each upline's share before any cap (the carrier's conditions only)."""
    if not row.activated or row.network_status != "NORMAL":
        return {}
    if not (row.no_arrears and row.no_suspension and row.no_complaint):
        return {}
    shares = zip(row.uplines, doc["levels"], strict=False)
    owed = {upline: half_up(rate_of(rate) * row.total_fen) for upline, rate in shares}
    return {upline: amount for upline, amount in owed.items() if amount > 0}


@PROPERTIES
@given(
    row=settlement_rows(),
    long_term=long_term_rules(),
    uplines=upline_share_rules(),
    chain=st.sampled_from([(), ("P",), ("P", "G"), ("P", "G", "T")]),
    cap=st.booleans(),
)
def test_uplines_shares_stay_inside_the_never_negative_split(
    row: SettlementFacts,
    long_term: dict[str, Any],
    uplines: dict[str, Any],
    chain: tuple[str, ...],
    cap: bool,
) -> None:
    row = replace(row, uplines=chain)
    doc = [{"code": "lt", **{k: v for k, v in long_term.items() if k != "holdDays"}}, uplines]
    parsed = tuple(parse_or_reject(doc))
    owed = {("up", who): amount for who, amount in upline_owed(row, uplines).items()}
    if (mine := long_term_owed(row, doc[0])) > 0:
        owed[("lt", "A")] = mine
    refusing = (("lt", "A") in owed and doc[0].get("overflow", "REFUSE") == "REFUSE") or (
        any(key[0] == "up" for key in owed) and uplines.get("overflow", "REFUSE") == "REFUSE"
    )
    overpaid = sum(owed.values()) > row.total_fen
    note(f"owed {owed}, total {row.total_fen}")
    try:
        lines = lines_for_settlement(row, [PlanVersion("p", 1, BEFORE_ALL, parsed)], cap=cap)
    except PlanRefused:
        assert overpaid
        assert refusing
        assert not cap
        return
    assert not (overpaid and refusing and not cap), "should have been refused"
    paid = {(ln.rule_code, ln.beneficiary): ln.amount_fen for ln in lines}
    assert len(paid) == len(lines)
    total_paid = sum(paid.values())
    assert total_paid <= row.total_fen
    if overpaid:
        assert total_paid == row.total_fen
        assert all(amount <= owed[key] for key, amount in paid.items())
    else:
        assert paid == owed


# ---- 6. rounding ---------------------------------------------------------------------------------


@PROPERTIES
@given(
    total=st.integers(0, 10**9),
    weights=st.lists(st.integers(0, 10**7), min_size=1, max_size=10).filter(any),
)
def test_allocate_adds_up_and_stays_within_a_fen_of_the_exact_share(
    total: int, weights: list[int]
) -> None:
    parts = allocate(total, weights)
    assert len(parts) == len(weights)
    assert sum(parts) == total
    whole = sum(weights)
    for part, weight in zip(parts, weights, strict=True):
        assert type(part) is int
        assert abs(part - Fraction(total * weight, whole)) < 1
        if weight == 0:
            assert part == 0
