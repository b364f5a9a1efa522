"""A Hypothesis state machine that drives the real Ledger on real PostgreSQL against a reference model.

Each example gets a database of its own (cloned from the session's migrated template, dropped in
teardown). The rules issue ledger commands, valid and invalid: agents in a random tree, packages,
cost and retail prices, commission plans (fixed / percentage / one-time / price-difference rules,
effective-dated versions, malformed documents), deposits (with idempotency keys and retries),
orders in both flows, completion, partial and full refunds, card activations and recharges,
the carrier's conditions of a card (a failed one voids its unreleased lines),
withdrawals paid or failed, the release job as business time advances, finance approving and
rejecting (voiding or not), catch-ups. The model predicts for each command whether it is accepted
(and then what it does) or refused (and with which error); a refused command must leave the log
head where it was.

The model computes commissions independently of domain/rules/: price differences per chain
level, fixed amounts, percentages rounded half-up with Fractions, one-time card commissions,
refund shares of what is left, half-up, the release/approval lifecycle, clawbacks into
debt, debt repaid first by later approvals. Whenever the policy and the views have caught up with
the log, the invariants compare:

(a) money: each wallet's buckets, platform income, refunds, credits and payouts equal the model's;
    credits - paid out == sum over wallets of (frozen + unfreezing + available - debt +
    withdrawing); deposits == top-ups - prepaid order costs + prepaid refunds; per wallet,
    frozen / unfreezing / available - debt + withdrawing + paid out equal the sums of its
    FROZEN / UNFREEZE_REQUESTED / APPROVED lines;
(b) no bucket is negative, and a wallet never has both available money and debt;
(c) no commission is accrued twice for one fact (one accrual event per commission id, one line per
    (source, beneficiary, plan, rule)); running the policy again adds nothing; re-processing a
    completion whose lines are all open, or a card fact, with the plans known at its position,
    would record nothing (decision 0003 makes the policy exactly-once by its tracking position
    only, so re-processing refunds or completions with closed lines is not asked of it);
(d) at the head and at random past positions P, every read model as of P equals the replay of the
    events recorded up to P (wallet balances, commission statuses, pending requests, platform
    totals).

Actors and roles (decisions 0021, 0022): a rule has a caller of a random role (an agent's user
acting as a random agent, registered or not) try fields through the real GraphQL schema, with
the policy extension and its confinement to the tree as the views know it now; the model says
which must be FORBIDDEN, the rest reach the ledger with inputs it refuses, and the log never
moves. Another rule has a finance user acting as a line's own agent approve it (refused,
SELF_APPROVAL), and an invariant finds no approval, first or final, recorded by a beneficiary.

The tests at the end of the file pin down the bugs the machine found (fixed in f7f754e).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from itertools import pairwise
from math import floor
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from eventsourcing.persistence import StoredEvent
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from api.auth.principal import Principal
from api.bootstrap import bootstrap
from api.graphql.context import Context
from api.graphql.schema import schema
from application.clock import SetClock
from application.policy import CommissionPolicy
from application.results import (
    AgentRegistered,
    DepositToppedUp,
    OrderCancelled,
    OrderPlaced,
    OrderRefunded,
    PlanVersionRecorded,
    UnfreezeRequestsDecided,
    WithdrawalRecorded,
    WithdrawalsDecided,
)
from application.settings import Settings
from application.usage import UsageReport
from domain.common import Audit, aggregate_id, derived_id
from domain.errors import (
    AccountFrozen,
    AgentNotFound,
    AlreadyExists,
    CardNotFound,
    CycleInAgentTree,
    FeeExceedsAmount,
    IdempotencyKeyReused,
    InsufficientDeposit,
    InsufficientFunds,
    InvalidInput,
    InvalidMoney,
    InvalidState,
    LedgerError,
    OrderNotFound,
    PackageNotFound,
    PlanRefused,
    PriceAboveLimit,
    PriceRefused,
    SelfApproval,
    UnfreezeRequestNotFound,
)
from domain.identity import Role
from domain.tax import TaxMethod, withholding
from domain.wallet import BUCKETS, Wallet
from projections.cards import CardReads
from tests.conftest import create_database, drop_database

AGENTS = ("A", "B", "C", "D", "E", "F")
MIB = 1 << 20
# The carriers' published card states, read independently of domain/carriers/card_states.toml.
CARRIER_STATES = {
    "CMCC": {"1": "IN_STOCK", "2": "ACTIVATED", "4": "SUSPENDED", "6": "TEST", "7": "IN_STOCK",
             "8": "SUSPENDED", "9": "CANCELLED"},
    "CUCC": {"TEST_READY": "TEST", "INVENTORY": "IN_STOCK", "TRIAL": "TEST",
             "ACTIVATION_READY": "IN_STOCK", "ACTIVATED": "ACTIVATED", "DEACTIVATED": "SUSPENDED",
             "RETIRED": "CANCELLED", "PURGED": "CANCELLED"},
    "CTCC": {"1": "IN_STOCK", "2": "TEST", "3": "IN_STOCK", "4": "ACTIVATED", "5": "SUSPENDED",
             "6": "SUSPENDED", "7": "CANCELLED"},
}  # fmt: skip
_ANY = {"IN_STOCK", "ASSIGNED", "TEST", "ACTIVATED", "SUSPENDED", "CANCELLED"}
MOVES = {
    "IN_STOCK": _ANY - {"IN_STOCK"},
    "ASSIGNED": _ANY - {"ASSIGNED"},
    "TEST": {"IN_STOCK", "ACTIVATED", "SUSPENDED", "CANCELLED"},
    "ACTIVATED": {"SUSPENDED", "CANCELLED"},
    "SUSPENDED": {"ACTIVATED", "CANCELLED"},
    "CANCELLED": set(),
}
NOT_IN_SERVICE = ("IN_STOCK", "ASSIGNED", "TEST")
PACKAGES = ("P1", "P2", "P3")
PLANS = ("plan-a", "plan-b")
CARDS = ("ICC1", "ICC2", "ICC3", "ICC4")
FACTOR = 2
DEFAULT_HOLD = 7
OPEN = ("FROZEN", "UNFREEZE_REQUESTED", "APPROVED")
START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def money(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def fen_of(text: str) -> int:
    return int((Decimal(text) * 100).to_integral_value())


def half_up(value: Fraction) -> int:
    assert value >= 0
    return floor(value + Fraction(1, 2))


def rate_of(text: str) -> Fraction:
    if text.endswith("%"):
        return Fraction(Decimal(text[:-1])) / 100
    return Fraction(Decimal(text))


# ---- the reference model ---------------------------------------------------------------------


@dataclass
class MAgent:
    parent: str | None
    verified: bool = True
    cost: dict[str, int] = field(default_factory=dict)
    retail: dict[str, int] = field(default_factory=dict)
    company: bool = False  # a company payee: no 劳务报酬 tax withheld
    frozen: bool = False  # risk control: the account cannot withdraw


@dataclass
class MOrder:
    order_id: str
    package: str
    seller: str
    buyer: str | None
    flow: str
    chain: list[tuple[str, int]]
    retail: int | None
    paid: int
    placed_at: datetime
    status: str = "PLACED"
    refunded: int = 0
    iccid: str | None = None


@dataclass
class MCard:
    agent: str
    package: str
    kind: str
    activated: bool = False
    first_recharge: int | None = None
    total_recharge: int = 0
    last_fact_at: datetime = START
    # Card management (decision 0030): our lifecycle state, the newest carrier report applied,
    # the report ids seen, the last carrier command decided, usage per business month (bytes).
    state: str = "ASSIGNED"
    reported_at: datetime | None = None
    reports: set[str] = field(default_factory=set)
    carrier: str | None = None  # the carrier reporting on it: no other may (decision 0031)
    command: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    assigned_at: datetime = START
    failed: tuple[str, ...] = ()  # the commission conditions it fails (decision 0029)


@dataclass
class MEnterprise:
    quota_mb: int
    limit_mb: int | None
    mode: str
    cards: list[str] = field(default_factory=list)
    stopped: set[str] = field(default_factory=set)

    def changes(self, usage: dict[str, int]) -> list[tuple[str, str]]:
        """(card, STOP | RESUME) the pool rules decide now, by the model's own reading."""
        over = sum(usage.get(c, 0) for c in self.cards) > self.quota_mb * MIB
        wanted = {
            c
            for c in self.cards
            if (self.limit_mb is not None and usage.get(c, 0) > self.limit_mb * MIB)
            or (over and self.mode == "STOP_ALL")
        }
        return [(c, "STOP") for c in self.cards if c in wanted and c not in self.stopped] + [
            (c, "RESUME") for c in sorted(self.stopped) if c not in wanted
        ]


@dataclass
class MLine:
    cid: str
    agent: str
    kind: str
    source: str
    plan_code: str
    rule_code: str
    original: int
    amount: int
    hold_days: int
    releasable_at: datetime
    order_id: str | None
    status: str = "FROZEN"
    request_id: str | None = None
    requests: int = 0


@dataclass
class MPlanVersion:
    version: int
    effective_from: datetime
    rules: list[dict[str, Any]]


# What leaves a wallet when a withdrawal is paid: the net, the fee and the tax.
PAID_OUT = (Wallet.WithdrawalPaid, Wallet.WithdrawalFeeCharged, Wallet.WithdrawalTaxWithheld)


class Model:
    def __init__(self) -> None:
        self.agents: dict[str, MAgent] = {}
        self.packages: dict[str, str] = {}  # code -> kind
        self.plans: dict[str, list[MPlanVersion]] = {}  # in creation order
        self.orders: dict[str, MOrder] = {}
        self.cards: dict[str, MCard] = {}
        self.lines: dict[str, MLine] = {}
        self.wallets: dict[str, dict[str, int]] = {}
        self.pending: dict[str, str] = {}  # request id -> commission id
        self.closed_requests: set[str] = set()
        self.income = self.refunded = self.credits = 0
        self.top_ups = self.prepaid_debits = self.prepaid_refunds = 0
        self.keys: dict[str, tuple[str, int, Audit, Any]] = {}
        self.paid_out = 0
        self.withdrawals: dict[str, tuple[str, int]] = {}  # in flight: id -> (agent, amount)
        self.settled: dict[str, str] = {}  # settled withdrawal id -> agent
        self.under_review: set[str] = set()  # of the withdrawals in flight
        self.approved: dict[str, tuple[int, int, str]] = {}  # id -> (fee, tax, tax month)
        self.requested_at: dict[str, datetime] = {}
        self.tax: dict[tuple[str, str], list[int]] = {}  # (agent, month) -> [income, withheld]
        self.fees = self.taxes = 0  # charged on paid withdrawals
        self.fee_settings: list[tuple[datetime, Decimal, int, int | None]] = []
        self.transferred = 0  # flow-2: available commission moved into deposits
        self.settlements: dict[str, int] = {}  # carrier settlement row id -> total
        self.enterprise: MEnterprise | None = None  # one enterprise customer, "E"

    def fee(self, amount: int, at: datetime) -> int:
        """The fee in force at `at`: amount x rate half up, at least the minimum, at most the max."""
        rate, low, high = Decimal(0), 0, None
        for effective_at, r, lo, hi in sorted(self.fee_settings, key=lambda f: f[0]):
            if effective_at <= at:
                rate, low, high = r, lo, hi
        fee = max(int((Decimal(amount) * rate).quantize(Decimal(1), ROUND_HALF_UP)), low)
        return fee if high is None else min(fee, high)

    # -- plans ------------------------------------------------------------------------------------
    def in_force(self, at: datetime) -> list[tuple[str, MPlanVersion]]:
        chosen = []
        for code, versions in self.plans.items():
            eligible = [v for v in versions if v.effective_from <= at]
            if eligible:
                chosen.append((code, max(eligible, key=lambda v: (v.effective_from, v.version))))
        return chosen

    @staticmethod
    def applies(rule: dict[str, Any], package: str) -> bool:
        return not rule.get("packages") or package in rule["packages"]

    def overlaps(self, code: str, effective_from: datetime, rules: list[dict[str, Any]]) -> bool:
        """Whether another plan has a rule paying the same kind (and base) for an overlapping
        package scope in force at effective_from or later: such a version is refused."""

        def key(rule: dict[str, Any]) -> tuple[str, str]:
            return rule["kind"], rule.get("base", "COST_PRICE")

        def meet(a: dict[str, Any], b: dict[str, Any]) -> bool:
            x, y = a.get("packages") or [], b.get("packages") or []
            return not x or not y or bool(set(x) & set(y))

        for other, versions in self.plans.items():
            if other == code:
                continue
            for v in versions:
                later = [w.effective_from for w in versions if w.version > v.version]
                ends = min(later) if later else None
                if ends is not None and (ends <= v.effective_from or ends <= effective_from):
                    continue  # never in force, or over before the new version starts
                if any(key(r) == key(o) and meet(r, o) for r in rules for o in v.rules):
                    return True
        return False

    def has_one_time(self, package: str, at: datetime) -> bool:
        return any(
            r["kind"] == "ONE_TIME" and self.applies(r, package)
            for _, v in self.in_force(at)
            for r in v.rules
        )

    def lineage(self, agent: str) -> list[str]:
        """The agent's uplines and itself, from the platform's direct agent down."""
        chain = [agent]
        while (parent := self.agents[chain[-1]].parent) is not None:
            chain.append(parent)
        return chain[::-1]

    def sellable(self, flow: str) -> list[tuple[str, str]]:
        """(agent, package) pairs whose price menu lets the agent sell in this flow."""
        pairs = []
        for agent in sorted(self.agents):
            for package in sorted(self.packages):
                costs = [self.agents[a].cost.get(package) for a in self.lineage(agent)]
                if None in costs or any(
                    not up <= low <= FACTOR * up  # type: ignore[operator]
                    for up, low in pairwise(costs)
                ):
                    continue
                if flow == "CUSTOMER_PAYS" and package not in self.agents[agent].retail:
                    continue
                pairs.append((agent, package))
        return pairs

    # -- commission lines -------------------------------------------------------------------------
    def accrue(self, cid: str, agent: str, kind: str, source: str, plan: str, rule: str,
               amount: int, hold: int, effective: datetime, order_id: str | None) -> None:  # fmt: skip
        if cid in self.lines:
            return
        self.lines[cid] = MLine(cid, agent, kind, source, plan, rule, amount, amount, hold,
                                effective + timedelta(days=hold), order_id)  # fmt: skip
        self.wallets[agent]["frozen"] += amount
        self.credits += amount

    def sale_lines(self, order: MOrder, at: datetime) -> None:
        in_force = self.in_force(at)
        pd = ("price-menu", "price-difference", DEFAULT_HOLD)
        for code, version in in_force:
            found = [
                r
                for r in version.rules
                if r["kind"] == "PRICE_DIFFERENCE" and self.applies(r, order.package)
            ]
            if found:
                pd = (code, found[0]["code"], found[0].get("holdDays", DEFAULT_HOLD))
                break
        sold_at = [cost for _, cost in order.chain[1:]]
        if order.flow == "CUSTOMER_PAYS":
            sold_at.append(order.retail)
        for (agent, cost), price in zip(order.chain, sold_at, strict=False):
            if price - cost > 0 and agent != order.buyer:
                self.accrue(self.order_cid(order, agent, pd[0], pd[1]), agent,
                            "PRICE_DIFFERENCE", order.order_id, pd[0], pd[1], price - cost,
                            pd[2], at, order.order_id)  # fmt: skip
        if order.buyer == order.seller:
            return
        seller_cost = order.chain[-1][1]
        for code, version in in_force:
            for r in version.rules:
                if not self.applies(r, order.package):
                    continue
                if r["kind"] == "FIXED":
                    amount = fen_of(r["amount"])
                elif r["kind"] == "PERCENTAGE":
                    base = (
                        seller_cost if r.get("base", "COST_PRICE") == "COST_PRICE" else order.paid
                    )
                    amount = half_up(base * rate_of(r["rate"]))
                else:
                    continue
                if amount > 0:
                    self.accrue(self.order_cid(order, order.seller, code, r["code"]),
                                order.seller, r["kind"], order.order_id, code, r["code"], amount,
                                r.get("holdDays", DEFAULT_HOLD), at, order.order_id)  # fmt: skip

    @staticmethod
    def order_cid(order: MOrder, agent: str, plan: str, rule: str) -> str:
        return derived_id("commission", "order", order.order_id, agent, plan, rule)

    def card_lines(self, iccid: str, at: datetime) -> None:
        card = self.cards[iccid]
        if not card.activated:
            return
        for code, version in self.in_force(card.last_fact_at):
            for r in version.rules:
                if r["kind"] != "ONE_TIME" or not self.applies(r, card.package):
                    continue
                recharge = (
                    card.first_recharge
                    if r.get("recharge", "FIRST") == "FIRST"
                    else card.total_recharge
                )
                if recharge is None or recharge < fen_of(r["rechargeThreshold"]):
                    continue
                amount = fen_of(r["amount"])
                if card.kind == "TRAFFIC":
                    amount = min(amount, recharge)
                if amount > 0:
                    cid = derived_id("commission", "card", iccid, card.agent, code, r["code"])
                    self.accrue(cid, card.agent, "ONE_TIME", iccid, code, r["code"], amount,
                                r.get("holdDays", DEFAULT_HOLD), at, None)  # fmt: skip

    def settlement_lines(self, row_id: str, iccid: str, total: int, normal: bool,
                         at: datetime) -> list[tuple[str, str, int]] | None:  # fmt: skip
        """The long-term lines a settlement row pays (plan, rule, amount); None when the plan
        refuses the row (agents would get more than the carrier paid)."""
        card = self.cards[iccid]
        lines = []
        for code, version in self.in_force(at):
            for r in version.rules:
                if r["kind"] != "LONG_TERM" or not self.applies(r, card.package):
                    continue
                if not (card.activated and normal):
                    continue
                if card.total_recharge < fen_of(r["rechargeThreshold"]):
                    continue
                amount = half_up(total * rate_of(r["rate"]))
                if amount > 0:
                    lines.append((code, r["code"], amount))
        if sum(amount for _, _, amount in lines) > total:
            return None
        return lines

    def settle(self, row_id: str, iccid: str, lines: list[tuple[str, str, int]],
               total: int, at: datetime) -> None:  # fmt: skip
        """The carrier's total is income; each line accrues and asks at once to be unfrozen."""
        self.income += total
        agent = self.cards[iccid].agent
        for plan, rule_code, amount in lines:
            cid = derived_id("commission", "settlement", row_id, agent, plan, rule_code)
            self.accrue(cid, agent, "LONG_TERM", row_id, plan, rule_code, amount, 0, at, None)
            line = self.lines[cid]
            line.requests += 1
            line.request_id = derived_id("unfreeze", cid, line.requests)
            line.status = "UNFREEZE_REQUESTED"
            self.pending[line.request_id] = cid
            self.wallets[agent]["frozen"] -= amount
            self.wallets[agent]["unfreezing"] += amount

    def void_card_lines(self, iccid: str) -> None:
        """A card that fails its conditions (stopped, cancelled) voids its unreleased lines."""
        for line in self.lines.values():
            if line.order_id is not None or line.source != iccid:
                continue
            if line.status not in ("FROZEN", "UNFREEZE_REQUESTED"):
                continue
            wallet = self.wallets[line.agent]
            wallet["frozen" if line.status == "FROZEN" else "unfreezing"] -= line.amount
            self.credits -= line.amount
            line.amount = 0
            if line.request_id is not None:
                self.pending.pop(line.request_id)
                self.closed_requests.add(line.request_id)
                line.request_id = None
            line.status = "VOIDED"

    def refund_lines(self, order: MOrder, amount: int) -> None:
        before = order.refunded - amount
        for agent, _ in order.chain:
            wallet = self.wallets[agent]
            for line in self.lines.values():
                if line.agent != agent or line.order_id != order.order_id:
                    continue
                if line.status not in OPEN:
                    continue
                share = half_up(Fraction(line.amount * amount, order.paid - before))
                if share <= 0:
                    continue
                line.amount -= share
                self.credits -= share
                if line.status == "APPROVED":
                    from_available = min(share, wallet["available"])
                    wallet["available"] -= from_available
                    wallet["debt"] += share - from_available
                    if line.amount == 0:
                        line.status = "CLAWED_BACK"
                    continue
                wallet["frozen" if line.status == "FROZEN" else "unfreezing"] -= share
                if line.amount == 0:
                    if line.request_id is not None:
                        self.pending.pop(line.request_id)
                        self.closed_requests.add(line.request_id)
                        line.request_id = None
                    line.status = "VOIDED"

    def card_conditions_failed(self, iccid: str) -> None:
        """The carrier's conditions of a card failed (decision 0029): every line the card paid
        that is not released is voided in full; released ones stand (no plan here claws back)."""
        for line in self.lines.values():
            if line.order_id is not None or line.source != iccid:
                continue
            if line.status not in ("FROZEN", "UNFREEZE_REQUESTED"):
                continue
            wallet = self.wallets[line.agent]
            wallet["frozen" if line.status == "FROZEN" else "unfreezing"] -= line.amount
            self.credits -= line.amount
            if line.request_id is not None:
                self.pending.pop(line.request_id)
                self.closed_requests.add(line.request_id)
                line.request_id = None
            line.amount = 0
            line.status = "VOIDED"

    def release(self, now: datetime) -> set[str]:
        requested = set()
        for line in self.lines.values():
            if line.status == "FROZEN" and line.releasable_at <= now:
                line.requests += 1
                line.request_id = derived_id("unfreeze", line.cid, line.requests)
                line.status = "UNFREEZE_REQUESTED"
                self.pending[line.request_id] = line.cid
                wallet = self.wallets[line.agent]
                wallet["frozen"] -= line.amount
                wallet["unfreezing"] += line.amount
                requested.add(line.request_id)
        return requested

    def decide(self, request_id: str, approve: bool, void: bool, now: datetime) -> None:
        line = self.lines[self.pending.pop(request_id)]
        self.closed_requests.add(request_id)
        wallet = self.wallets[line.agent]
        wallet["unfreezing"] -= line.amount
        line.request_id = None
        if approve:
            repaid = min(line.amount, wallet["debt"])
            wallet["available"] += line.amount - repaid
            wallet["debt"] -= repaid
            line.status = "APPROVED"
        elif void:
            self.credits -= line.amount
            line.amount = 0
            line.status = "VOIDED"
        else:
            wallet["frozen"] += line.amount
            line.status = "FROZEN"
            line.releasable_at = now + timedelta(days=line.hold_days)


# ---- strategies --------------------------------------------------------------------------------

# Rates whose products with the usual bases (60, 70, 90, 100 yuan) end in half a fen, so that
# half-up rounding shows: 0.125% x 60.00 = 0.075, 0.35% x 70.00 = 0.245.
RATES = ["5%", "0.03", "12.5%", "0.333", "0", "0.125%", "0.35%", "0.00125"]
_optional = {
    "holdDays": st.sampled_from([0, 1, 3, 7]),
    "packages": st.lists(st.sampled_from(PACKAGES), min_size=1, max_size=2, unique=True),
}
RULE = st.one_of(
    st.fixed_dictionaries(
        {"kind": st.just("FIXED"), "amount": st.sampled_from(["5.00", "0.01", "12.34"])},
        optional=_optional,
    ),
    st.fixed_dictionaries(
        {"kind": st.just("PERCENTAGE"), "rate": st.sampled_from(RATES)},
        optional={**_optional, "base": st.sampled_from(["COST_PRICE", "PAID_AMOUNT"])},
    ),
    st.fixed_dictionaries(
        {
            "kind": st.just("ONE_TIME"),
            "amount": st.sampled_from(["20.00", "100.00"]),
            "rechargeThreshold": st.sampled_from(["0.00", "30.00", "50.00"]),
        },
        optional={**_optional, "recharge": st.sampled_from(["FIRST", "CUMULATIVE"])},
    ),
    st.fixed_dictionaries({"kind": st.just("PRICE_DIFFERENCE")}, optional=_optional),
    st.fixed_dictionaries(
        {
            "kind": st.just("LONG_TERM"),
            "rate": st.sampled_from(["40%", "12.5%", "0.35%", "60%"]),
            "rechargeThreshold": st.sampled_from(["0.00", "50.00"]),
        },
        optional={"packages": _optional["packages"]},
    ),
)  # fmt: skip
DOCUMENT = st.lists(RULE, min_size=1, max_size=3).map(
    lambda rules: [{"code": f"{r['kind'].lower()}-{i}", **r} for i, r in enumerate(rules)]
)
BAD_DOCUMENTS = [
    [],
    [{"code": "x", "kind": "ENTRY_FEE", "amount": "5.00"}],
    [{"code": "x", "kind": "PERCENTAGE", "rate": "150%"}],
    [{"code": "x", "kind": "FIXED", "amount": "-5.00"}],
    [{"code": "x", "kind": "FIXED", "amount": 5}],
    [{"code": "x", "kind": "FIXED", "amount": "1.00"}, {"code": "x", "kind": "FIXED", "amount": "2.00"}],
    [{"code": "x", "kind": "PERCENTAGE", "rate": "5%", "levels": ["8%", "3%", "1%", "1%"]}],
]  # fmt: skip
PRICE = st.one_of(
    st.sampled_from([0, -100, 5999, 6000, 7000, 8000, 9000, 12000, 12001, 14000]),
    st.integers(1000, 16000),
)
PICK = st.integers(0, 10**6)
BUYER = st.sampled_from(["none", "customer", "customer", "customer", "seller", "root"])


# Who may try what (the policy table, decision 0021), with inputs the ledger refuses even when
# the caller may: OTHER is an agent code.
ATTEMPTS = {
    "wallet": '{ wallet(agentCode: "OTHER") { frozen } }',
    "commissions": '{ commissions(agentCode: "OTHER") { edges { node { id } } } }',
    "platformTotals": "{ platformTotals { net } }",
    "registerAgent": 'mutation { registerAgent(input: {code: "", name: "x"}) { userErrors { code } } }',
    "setCostPrice": 'mutation { setCostPrice(input: {agentCode: "OTHER", packageCode: "NO-SUCH", costPrice: "1"}) { userErrors { code } } }',
    "setRetailPrice": 'mutation { setRetailPrice(input: {agentCode: "OTHER", packageCode: "NO-SUCH", retailPrice: "1"}) { userErrors { code } } }',
    "placeOrder": 'mutation { placeOrder(input: {orderId: "SM-X", packageCode: "NO-SUCH", agentCode: "OTHER", flow: CUSTOMER_PAYS}) { userErrors { code } } }',
    "requestWithdrawal": 'mutation { requestWithdrawal(input: {agentCode: "OTHER", withdrawalId: "SM-W", amount: "0"}) { userErrors { code } } }',
    "approveUnfreezeRequests": 'mutation { approveUnfreezeRequests(input: {ids: ["no-such"]}) { userErrors { code } } }',
    "recordCarrierSettlement": 'mutation { recordCarrierSettlement(input: {rowId: "SM-R", iccid: "NO-SUCH", period: "2026-03", totalCommission: "1", networkStatus: NORMAL, noArrears: true, noSuspension: true, noComplaint: true}) { userErrors { code } } }',
}  # fmt: skip
ATTEMPT_ROLES = {
    "registerAgent": {"admin"},
    "setCostPrice": {"admin"},
    "setRetailPrice": {"admin"},
    "placeOrder": {"operator"},
    "requestWithdrawal": {"finance"},
    "approveUnfreezeRequests": {"finance"},
    "recordCarrierSettlement": {"operator"},
}


# ---- the machine -------------------------------------------------------------------------------


class LedgerMachine(RuleBasedStateMachine):
    server: str = ""
    template: str = ""

    def __init__(self) -> None:
        super().__init__()
        self.db_name = f"fenrun_sm_{uuid.uuid4().hex[:12]}"
        dsn = create_database(self.server, self.db_name, template=self.template)
        try:
            # The ledger's clock is the machine's business time: advance_time moves it, and
            # no command is ever dated past it.
            self.clock = SetClock(START)
            self.app = bootstrap(Settings(database_url=dsn), run_migrations=False, clock=self.clock)
        except BaseException:
            drop_database(self.server, self.db_name)
            raise
        self.ledger = self.app.ledger
        self.read = self.app.read
        self.m = Model()
        self.order_seq = self.key_seq = self.withdrawal_seq = 0
        self.rng: Any = None

    def teardown(self) -> None:
        try:
            self.app.close()
        finally:
            drop_database(self.server, self.db_name)

    # -- helpers ----------------------------------------------------------------------------------
    @property
    def now(self) -> datetime:
        return self.clock.now()

    @now.setter
    def now(self, at: datetime) -> None:
        self.clock.set(at)

    def audit(self, actor: str = "admin", reason: str = "") -> Audit:
        return Audit(actor, self.now, reason)

    def head(self) -> int:
        return self.read.log_head()

    def refused(self, expected: type[LedgerError], call: Any) -> None:
        """The model says no: the ledger must refuse with `expected` and record nothing."""
        before = self.head()
        with pytest.raises(LedgerError) as info:
            call()
        assert type(info.value) is expected, (
            f"expected {expected.__name__}, got {type(info.value).__name__}: {info.value}"
        )
        assert self.head() == before, "a refused command changed the log"

    def synced(self) -> bool:
        head = self.head()
        return head > 0 and self.app.policy.position() == head == self.read.caught_up()

    def _agent(self, pick: int) -> str:
        """Mostly a registered agent; now and then one that does not exist (yet)."""
        known = sorted(self.m.agents)
        unknown = [a for a in AGENTS if a not in self.m.agents]
        if unknown and pick % 10 == 0:
            return unknown[pick % len(unknown)]
        return known[pick % len(known)]

    # -- setup ------------------------------------------------------------------------------------
    @initialize(
        rng=st.randoms(use_true_random=False),
        plan=st.one_of(st.none(), DOCUMENT),
        prelude=st.integers(0, 4),
    )
    def world(self, rng: Any, plan: list[dict[str, Any]] | None, prelude: int) -> None:
        """Package P1; A (cost 60, retail 90) and its sub-agent B (cost 70, retail 100); B has a
        deposit of 200; maybe a commission plan in force since yesterday. Then, so that examples
        start deep in the lifecycle: prelude >= 1 three sales, >= 2 the release job eight days
        later, >= 3 finance approves every request, >= 4 everything available is paid out and
        then a sale whose commissions were released is refunded (so the wallets start in
        debt)."""
        self.rng = rng
        a = self.audit()
        self.ledger.define_package("P1", "Traffic 50", "TRAFFIC", 5000, 1, a)
        self.m.packages["P1"] = "TRAFFIC"
        for code, parent, cost, retail in (("A", None, 6000, 9000), ("B", "A", 7000, 10000)):
            self.ledger.register_agent(code, f"Agent {code}", parent, True, a)
            self.ledger.set_cost_price(code, "P1", cost, a)
            self.ledger.set_retail_price(code, "P1", retail, a)
            self.m.agents[code] = MAgent(parent, True, {"P1": cost}, {"P1": retail})
            self.m.wallets[code] = dict.fromkeys(BUCKETS, 0)
        self.ledger.top_up_deposit("B", 20000, a)
        self.m.wallets["B"]["deposit"] = self.m.top_ups = 20000
        if plan is not None:
            since = self.now - timedelta(days=1)
            self.ledger.define_commission_plan("plan-a", since, plan, a)
            self.m.plans["plan-a"] = [MPlanVersion(1, since, plan)]
        if prelude >= 1:
            for seller, flow in (
                ("B", "CUSTOMER_PAYS"),
                ("A", "CUSTOMER_PAYS"),
                ("B", "AGENT_PREPAID"),
            ):
                self._sell(seller, "P1", flow, "customer", None, "complete")
        if prelude >= 2:
            self.release_due_commissions(8)
        if prelude >= 3 and self.m.pending:
            self._decide(list(range(len(self.m.pending))), True, False, "", "none")
        if prelude >= 4:
            for code in ("A", "B"):
                if self.m.wallets[code]["available"]:
                    self._withdraw(code, "all", 0)
                    withdrawal = f"W{self.withdrawal_seq}"
                    self.review_withdrawal(sorted(self.m.withdrawals).index(withdrawal), True, "")
                    self._settle(code, withdrawal, True, "")
            self.refund_order(1, "full", 0)  # clawed back into debt

    # -- agents, packages, prices, plans ----------------------------------------------------------
    @rule(
        code=st.sampled_from(AGENTS),
        parent=st.sampled_from((None, *AGENTS)),
        verified=st.integers(0, 3).map(bool),
    )
    def register_agent(self, code: str, parent: str | None, verified: bool) -> None:
        call = lambda: self.ledger.register_agent(  # noqa: E731
            code, f"Agent {code}", parent, verified, self.audit()
        )
        if code in self.m.agents:
            return self.refused(AlreadyExists, call)
        if parent == code:
            return self.refused(CycleInAgentTree, call)
        if parent is not None and parent not in self.m.agents:
            return self.refused(AgentNotFound, call)
        assert call() == AgentRegistered(code)
        self.m.agents[code] = MAgent(parent, verified)
        self.m.wallets[code] = dict.fromkeys(BUCKETS, 0)
        return None

    @rule(
        code=st.sampled_from(PACKAGES),
        kind=st.sampled_from(["TRAFFIC", "NUMBER"]),
        purchase=st.sampled_from([0, 3000, 5000]),
    )
    def define_package(self, code: str, kind: str, purchase: int) -> None:
        call = lambda: self.ledger.define_package(code, code, kind, purchase, 1, self.audit())  # noqa: E731
        if code in self.m.packages:
            return self.refused(AlreadyExists, call)
        call()
        self.m.packages[code] = kind
        return None

    @rule(pick=PICK, package=st.sampled_from(PACKAGES), retail=st.booleans(), price=PRICE)
    def set_price(self, pick: int, package: str, retail: bool, price: int) -> None:
        if retail:
            self._set_retail_price(self._agent(pick), package, price)
        else:
            self._set_cost_price(self._agent(pick), package, price)

    def _set_cost_price(self, agent: str, package: str, cost: int) -> None:
        call = lambda: self.ledger.set_cost_price(agent, package, cost, self.audit())  # noqa: E731
        if cost < 0:  # an input's own value is checked before anything is looked up (0018)
            return self.refused(InvalidMoney, call)
        if agent not in self.m.agents:
            return self.refused(AgentNotFound, call)
        if package not in self.m.packages:
            return self.refused(PackageNotFound, call)
        me = self.m.agents[agent]
        upline = None
        if me.parent is not None:
            upline = self.m.agents[me.parent].cost.get(package)
            if upline is None:
                return self.refused(PriceRefused, call)
        if cost <= 0:
            return self.refused(InvalidMoney, call)
        if upline is not None and cost < upline:
            return self.refused(PriceRefused, call)
        if upline is not None and cost > FACTOR * upline:
            return self.refused(PriceAboveLimit, call)
        if package in me.retail and me.retail[package] < cost:
            return self.refused(PriceRefused, call)
        if package in me.retail and me.retail[package] > FACTOR * cost:
            return self.refused(PriceAboveLimit, call)
        call()
        me.cost[package] = cost
        return None

    def _set_retail_price(self, agent: str, package: str, retail: int) -> None:
        call = lambda: self.ledger.set_retail_price(agent, package, retail, self.audit())  # noqa: E731
        if retail < 0:  # an input's own value is checked before anything is looked up (0018)
            return self.refused(InvalidMoney, call)
        if agent not in self.m.agents:
            return self.refused(AgentNotFound, call)
        if package not in self.m.packages:
            return self.refused(PackageNotFound, call)
        if retail <= 0:
            return self.refused(InvalidMoney, call)
        cost = self.m.agents[agent].cost.get(package)
        if cost is None or retail < cost:
            return self.refused(PriceRefused, call)
        if retail > FACTOR * cost:
            return self.refused(PriceAboveLimit, call)
        call()
        self.m.agents[agent].retail[package] = retail
        return None

    @rule(
        code=st.sampled_from(PLANS),
        offset_days=st.integers(-3, 5),
        document=DOCUMENT,
        bad=st.one_of(st.none(), st.none(), st.sampled_from(BAD_DOCUMENTS)),
    )
    def define_commission_plan(
        self, code: str, offset_days: int, document: list[Any], bad: list[Any] | None
    ) -> None:
        effective_from = self.now + timedelta(days=offset_days)
        doc = bad if bad is not None else document
        call = lambda: self.ledger.define_commission_plan(code, effective_from, doc, self.audit())  # noqa: E731
        versions = self.m.plans.get(code, [])
        if bad is not None:
            before = self.head()
            with pytest.raises(LedgerError):
                call()
            assert self.head() == before
            return
        if versions and effective_from < versions[-1].effective_from:
            self.refused(PlanRefused, call)
            return
        if self.m.overlaps(code, effective_from, document):
            self.refused(PlanRefused, call)
            return
        assert call() == PlanVersionRecorded(code, len(versions) + 1)
        self.m.plans.setdefault(code, []).append(
            MPlanVersion(len(versions) + 1, effective_from, document)
        )

    # -- deposit and idempotency ------------------------------------------------------------------
    @rule(
        pick=PICK,
        amount=st.sampled_from([0, 1000, 6000, 20000]),
        mode=st.sampled_from(["plain", "keyed", "retry", "retry-other", "retry-later"]),
    )
    def top_up(self, pick: int, amount: int, mode: str) -> None:
        if mode.startswith("retry") and self.m.keys:
            key = sorted(self.m.keys)[pick % len(self.m.keys)]
            agent, first_amount, first_audit, first_result = self.m.keys[key]
            if mode == "retry-other":
                call = lambda: self.ledger.top_up_deposit(  # noqa: E731
                    agent, first_amount + 1, first_audit, key=key
                )
                self.refused(IdempotencyKeyReused, call)
                return None
            if mode == "retry-later":  # another occurredAt is another request (decision 0014)
                later = Audit(first_audit.actor, first_audit.effective_at + timedelta(seconds=1))
                call = lambda: self.ledger.top_up_deposit(  # noqa: E731
                    agent, first_amount, later, key=key
                )
                self.refused(IdempotencyKeyReused, call)
                return None
            before = self.head()
            assert self.ledger.top_up_deposit(agent, first_amount, first_audit, key=key) == (
                first_result
            )
            assert self.head() == before, "a retried command was applied twice"
            return None
        agent = self._agent(pick)
        key = None
        if mode != "plain":
            self.key_seq += 1
            key = f"topup-{self.key_seq}"
        audit = self.audit()
        call = lambda: self.ledger.top_up_deposit(agent, amount, audit, key=key)  # noqa: E731
        if agent not in self.m.agents:
            return self.refused(AgentNotFound, call)
        if amount <= 0:
            return self.refused(InvalidMoney, call)
        result = call()
        self.m.wallets[agent]["deposit"] += amount
        self.m.top_ups += amount
        assert result == DepositToppedUp(agent, self.m.wallets[agent]["deposit"])
        if key:
            self.m.keys[key] = (agent, amount, audit, result)
        return None

    # -- orders -----------------------------------------------------------------------------------
    @rule(
        pick=PICK,
        package=st.sampled_from(PACKAGES),
        flow=st.sampled_from(["CUSTOMER_PAYS", "AGENT_PREPAID"]),
        buyer=BUYER,
        iccid=st.sampled_from((None, *CARDS)),
        then=st.sampled_from(["complete", "complete", "complete", "leave", "reuse-id"]),
    )
    def sell(
        self, pick: int, package: str, flow: str, buyer: str, iccid: str | None, then: str
    ) -> None:
        """An order placed and (mostly) completed at once; sometimes under a used order id."""
        self._sell(self._agent(pick), package, flow, buyer, iccid, then)

    def _sell(
        self, seller: str, package: str, flow: str, buyer: str, iccid: str | None, then: str
    ) -> None:
        order_id = self._place(seller, package, flow, buyer, iccid, then == "reuse-id")
        if order_id is not None and then == "complete":
            self._complete(order_id)

    @rule(
        pick=PICK,
        flow=st.sampled_from(["CUSTOMER_PAYS", "AGENT_PREPAID"]),
        buyer=BUYER,
        iccid=st.sampled_from((None, *CARDS)),
    )
    def sell_and_complete(self, pick: int, flow: str, buyer: str, iccid: str | None) -> None:
        """What most steps should do: a sale that the price menu allows, topping up the deposit
        first if the flow needs it, completed at once."""
        sellable = self.m.sellable(flow)
        if not sellable:
            return
        seller, package = sellable[pick % len(sellable)]
        if flow == "AGENT_PREPAID":
            cost = self.m.agents[seller].cost[package]
            short = cost - self.m.wallets[seller]["deposit"]
            if short > 0:
                self.ledger.top_up_deposit(seller, short, self.audit())
                self.m.wallets[seller]["deposit"] += short
                self.m.top_ups += short
        if iccid is not None and iccid in self.m.cards and self.m.cards[iccid].agent != seller:
            iccid = None
        self._sell(seller, package, flow, buyer, iccid, "complete")

    def _place(
        self, seller: str, package: str, flow: str, buyer: str, iccid: str | None, reuse: bool
    ) -> str | None:
        """Places an order if the model says it is valid; returns its id, or None if refused."""
        if reuse and self.m.orders:
            order_id = sorted(self.m.orders)[self.order_seq % len(self.m.orders)]
        else:
            order_id = f"O{self.order_seq + 1}"
        lineage = self.m.lineage(seller) if seller in self.m.agents else []
        buyer_code = {
            "none": None,
            "customer": "cust",
            "seller": seller,
            "root": lineage[0] if lineage else None,
        }[buyer]
        call = lambda: self.ledger.place_order(  # noqa: E731
            order_id, package, seller, iccid, buyer_code, flow, self.audit()
        )
        if order_id in self.m.orders:
            return self.refused(AlreadyExists, call)
        if package not in self.m.packages:
            return self.refused(PackageNotFound, call)
        if seller not in self.m.agents:
            return self.refused(AgentNotFound, call)
        chain: list[tuple[str, int]] = []
        for code in lineage:
            if package not in self.m.agents[code].cost:
                return self.refused(PriceRefused, call)
            chain.append((code, self.m.agents[code].cost[package]))
        if any(not up <= low <= FACTOR * up for (_, up), (_, low) in pairwise(chain)):
            return self.refused(PriceRefused, call)  # an upline's cost moved since
        retail = None
        if flow == "CUSTOMER_PAYS":
            retail = self.m.agents[seller].retail.get(package)
            if retail is None:
                return self.refused(PriceRefused, call)
        first_purchase = iccid is not None and iccid not in self.m.cards
        if first_purchase and flow == "CUSTOMER_PAYS" and self.m.has_one_time(package, self.now):
            return self.refused(InvalidInput, call)
        if iccid is not None and not first_purchase and self.m.cards[iccid].agent != seller:
            return self.refused(InvalidInput, call)
        paid = retail if retail is not None else chain[-1][1]
        wallet = self.m.wallets[seller]
        if flow == "AGENT_PREPAID" and wallet["deposit"] < paid:
            return self.refused(InsufficientDeposit, call)
        assert call() == OrderPlaced(order_id, paid)
        self.order_seq += 1
        self.m.orders[order_id] = MOrder(
            order_id, package, seller, buyer_code, flow, chain, retail, paid, self.now, iccid=iccid
        )
        if first_purchase:
            assert iccid is not None
            kind = self.m.packages[package]
            self.m.cards[iccid] = MCard(
                seller, package, kind, last_fact_at=self.now, assigned_at=self.now
            )
        if flow == "AGENT_PREPAID":
            wallet["deposit"] -= paid
            self.m.prepaid_debits += paid
        return order_id

    def _order(self, pick: int) -> str:
        if not self.m.orders or pick % 12 == 0:
            return "NO-SUCH-ORDER"
        return sorted(self.m.orders)[pick % len(self.m.orders)]

    @precondition(lambda self: bool(self.m.orders))
    @rule(pick=PICK)
    def complete_order(self, pick: int) -> None:
        self._complete(self._order(pick))

    def _complete(self, order_id: str) -> None:
        call = lambda: self.ledger.complete_order(order_id, self.audit("ops"))  # noqa: E731
        order = self.m.orders.get(order_id)
        if order is None:
            return self.refused(OrderNotFound, call)
        if order.status != "PLACED":
            return self.refused(InvalidState, call)
        call()
        order.status = "COMPLETED"
        self.m.income += order.paid
        self.m.sale_lines(order, self.now)
        card = self.m.cards.get(order.iccid) if order.iccid else None
        # A paid order activates its card (once), if it is not in service.
        if card is not None and card.state in NOT_IN_SERVICE and card.command != "ACTIVATE":
            card.command = "ACTIVATE"
        return None

    @precondition(lambda self: bool(self.m.orders))
    @rule(
        pick=PICK,
        how=st.sampled_from(["full", "part", "part", "part", "over", "zero", "no-reason"]),
        part=st.integers(1, 10**6),
    )
    def refund_order(self, pick: int, how: str, part: int) -> None:
        """Mostly refunds an order that can be refunded, preferring one whose commissions were
        already released (clawback, maybe into debt); now and then any order (refusals)."""
        refundable = sorted(
            (
                not any(
                    ln.order_id == o.order_id and ln.status == "APPROVED"
                    for ln in self.m.lines.values()
                ),
                o.order_id,
            )
            for o in self.m.orders.values()
            if o.status in ("COMPLETED", "PARTIALLY_REFUNDED")
        )
        if refundable and pick % 5:
            order_id = refundable[pick % min(len(refundable), 2)][1]
        else:
            order_id = self._order(pick)
        order = self.m.orders.get(order_id)
        refundable = order.paid - order.refunded if order else 0
        amount = {
            "full": refundable,
            "part": 1 + part % max(refundable, 1),
            "over": refundable + 1,
            "zero": 0,
            "no-reason": max(refundable, 1),
        }[how]
        reason = "" if how == "no-reason" else "customer returned it"
        call = lambda: self.ledger.refund_order(order_id, amount, self.audit("ops", reason))  # noqa: E731
        if order is None:
            return self.refused(OrderNotFound, call)
        if amount <= 0:
            return self.refused(InvalidMoney, call)
        if order.status not in ("COMPLETED", "PARTIALLY_REFUNDED"):
            return self.refused(InvalidState, call)
        if amount > refundable or not reason:
            return self.refused(InvalidInput, call)
        result = call()
        order.refunded += amount
        order.status = "REFUNDED" if order.refunded == order.paid else "PARTIALLY_REFUNDED"
        assert result == OrderRefunded(order_id, order.refunded)
        self.m.refunded += amount
        if order.flow == "AGENT_PREPAID":
            self.m.wallets[order.seller]["deposit"] += amount
            self.m.prepaid_refunds += amount
        self.m.refund_lines(order, amount)
        return None

    # -- cards ------------------------------------------------------------------------------------
    @precondition(lambda self: bool(self.m.cards))
    @rule(pick=PICK, recharge=st.sampled_from([None, None, 0, 1000, 3000, 5000, 12000]))
    def card_fact(self, pick: int, recharge: int | None) -> None:
        """The carrier reports a real-name activation (recharge None) or a recharge."""
        cards = sorted(self.m.cards)
        iccid = cards[pick % len(cards)] if pick % 10 else "ICC-UNKNOWN"
        card = self.m.cards.get(iccid)
        audit = self.audit("carrier")
        if recharge is None:
            call = lambda: self.ledger.activate_card(iccid, audit)  # noqa: E731
            if card is None:
                return self.refused(CardNotFound, call)
            if card.activated or card.state in ("SUSPENDED", "CANCELLED"):
                return self.refused(InvalidState, call)
            call()
            card.activated = True
            card.state = "ACTIVATED"
        else:
            call = lambda: self.ledger.record_recharge(iccid, recharge, audit)  # noqa: E731
            if card is None:
                return self.refused(CardNotFound, call)
            if recharge <= 0:
                return self.refused(InvalidMoney, call)
            call()
            if card.first_recharge is None:
                card.first_recharge = recharge
            card.total_recharge += recharge
        card.last_fact_at = max(card.last_fact_at, self.now)
        self.m.card_lines(iccid, self.now)
        return None

    # -- number-card settlements ------------------------------------------------------------------
    @precondition(lambda self: bool(self.m.cards))
    @rule(
        pick=PICK,
        total=st.sampled_from([3000, 1, 8840, 0, 99999]),
        normal=st.booleans(),
        again=st.booleans(),
    )
    def carrier_settlement(self, pick: int, total: int, normal: bool, again: bool) -> None:
        """A carrier's settlement row: its total is the platform's income, the long-term rules
        pay the card's agent part of it (money conservation covers settlements)."""
        if again and self.m.settlements:
            row_id = sorted(self.m.settlements)[pick % len(self.m.settlements)]
        else:
            row_id = f"SM-ROW-{len(self.m.settlements) + 1}"
        iccid = sorted(self.m.cards)[pick % len(self.m.cards)]
        status = "NORMAL" if normal else "SUSPENDED"
        call = lambda: self.ledger.record_carrier_settlement(  # noqa: E731
            row_id, iccid, "2026-03", total, status, (True, True, True), None,
            self.audit("carrier", f"row {row_id}"),
        )  # fmt: skip
        if row_id in self.m.settlements:
            # Idempotent per row id: the same row answers its first result, other data under
            # the id is refused; either way nothing is recorded again.
            before = self.head()
            with contextlib.suppress(AlreadyExists, IdempotencyKeyReused):
                call()
            assert self.head() == before
            return None
        lines = self.m.settlement_lines(row_id, iccid, total, normal, self.now)
        if lines is None:
            return self.refused(PlanRefused, call)
        done = call()
        assert done.agent_share_fen == sum(amount for _, _, amount in lines)
        assert done.platform_share_fen == total - done.agent_share_fen >= 0
        self.m.settlements[row_id] = total
        self.m.settle(row_id, iccid, lines, total, self.now)
        return None

    @precondition(lambda self: bool(self.m.cards))
    @rule(pick=PICK, flags=st.tuples(*[st.sampled_from([False, False, True])] * 4))
    def card_conditions(self, pick: int, flags: tuple[bool, bool, bool, bool]) -> None:
        """The carrier reports a card's conditions (停机 / 欠费 / 销户 / 投诉): a failed one voids
        the card's unreleased commissions once the policy reaches it."""
        # Mostly a card that has a line to void, when there is one.
        open_lines = {
            line.source
            for line in self.m.lines.values()
            if line.order_id is None and line.status in ("FROZEN", "UNFREEZE_REQUESTED")
        }
        cards = sorted(open_lines) if open_lines and pick % 3 else sorted(self.m.cards)
        iccid = cards[pick % len(cards)] if pick % 10 else "ICC-UNKNOWN"
        audit = self.audit("carrier")
        call = lambda: self.ledger.report_card_conditions(iccid, *flags, "carrier", audit)  # noqa: E731
        if iccid not in self.m.cards:
            return self.refused(CardNotFound, call)
        call()
        if any(flags):
            self.m.card_conditions_failed(iccid)
        return None

    # -- card management (decision 0030) ---------------------------------------------------------
    @precondition(lambda self: bool(self.m.cards))
    @rule(
        pick=PICK,
        carrier=st.sampled_from(["CMCC", "CUCC", "CTCC"]),
        which=st.integers(0, 7),
        back=st.sampled_from([0, 0, 1, 5, 30]),
        repeat=st.integers(0, 4),
    )
    def carrier_reports_state(
        self, pick: int, carrier: str, which: int, back: int, repeat: int
    ) -> None:
        """A carrier reports a card's state: mapped by the model's own reading of the carriers'
        published states; a report id counts once; an older report never overrides."""
        cards = sorted(self.m.cards)
        iccid = cards[pick % len(cards)]
        card = self.m.cards[iccid]
        raw = sorted(CARRIER_STATES[carrier])[which % len(CARRIER_STATES[carrier])]
        target = CARRIER_STATES[carrier][raw]
        reported_at = self.now - timedelta(hours=back)
        if card.carrier is not None and carrier != card.carrier:
            # One carrier never moves another's card, not even by repeating a report id.
            call = lambda: self.ledger.record_carrier_card_state(  # noqa: E731
                iccid, carrier, raw, reported_at, f"X{self.key_seq}", self.audit("carrier")
            )
            self.refused(InvalidState, call)
            return
        if repeat == 0 and card.reports:
            report_id = sorted(card.reports)[pick % len(card.reports)]
            result = self.ledger.record_carrier_card_state(
                iccid, carrier, raw, reported_at, report_id, self.audit("carrier")
            )
            assert (result.outcome, result.state) == ("DUPLICATE", card.state)
            return
        self.key_seq += 1
        report_id = f"S{self.key_seq}"
        if card.reported_at is not None and reported_at < card.reported_at:
            outcome = "OLDER"
        elif target == card.state:
            outcome = "UNCHANGED"
        elif target not in MOVES[card.state]:
            outcome = "REFUSED"
        else:
            outcome = "APPLIED"
        result = self.ledger.record_carrier_card_state(
            iccid, carrier, raw, reported_at, report_id, self.audit("carrier")
        )
        card.reports.add(report_id)
        card.carrier = carrier
        if outcome != "OLDER":
            card.reported_at = reported_at
        if outcome == "APPLIED":
            card.state = target
            stopped, cancelled = target == "SUSPENDED", target == "CANCELLED"
            failed = ("stopped",) if stopped else ("cancelled",) if cancelled else ()
            if failed != card.failed and reported_at >= card.assigned_at:
                card.failed = failed  # the commission conditions follow (decision 0029)
                if failed:
                    self.m.void_card_lines(iccid)
        assert (result.outcome, result.state) == (outcome, card.state), (iccid, raw, carrier)

    @precondition(lambda self: bool(self.m.cards) and bool(self.m.packages))
    @rule(pick=PICK, quota=st.sampled_from([1, 10, 100]), used=st.sampled_from([0, 1, 6, 60]))
    def usage_against_quota(self, pick: int, quota: int, used: int) -> None:
        """Every package's quota set to `quota` MB, then a card reports `used` MB more this
        month: over its quota, a personal card in service gets one stop decision."""
        for package in sorted(self.m.packages):
            self.ledger.set_package_quota(package, quota, self.audit())
        self.app.catch_up()  # the rules find their work on the cards view
        cards = sorted(self.m.cards)
        iccid = cards[pick % len(cards)]
        card = self.m.cards[iccid]
        self.key_seq += 1
        start = self.now  # periods told apart by their ends; never across a month
        month = self.app.usage.month_of(start).isoformat()
        report = UsageReport(
            iccid, f"U{self.key_seq}", used * MIB, self.now, period_start=start,
            period_end=start + timedelta(seconds=self.key_seq),
        )  # fmt: skip
        done = self.app.record_usage_reports([report], "carrier")
        card.usage[month] = card.usage.get(month, 0) + used * MIB
        ent = self.m.enterprise
        if ent is not None and iccid in ent.cards:
            decided = self._pool_decisions(month)
        else:
            stop = (
                card.usage[month] > quota * MIB
                and card.state not in ("SUSPENDED", "CANCELLED")
                and card.command != "STOP"
            )
            if stop:
                card.command = "STOP"
            decided = int(stop)
        assert (done.accepted, done.commands_decided) == (1, decided), (iccid, card)

    def _pool_decisions(self, month: str) -> int:
        ent = self.m.enterprise
        assert ent is not None
        usage = {c: self.m.cards[c].usage.get(month, 0) for c in ent.cards}
        changes = ent.changes(usage)
        for iccid, command in changes:
            self.m.cards[iccid].command = command
            (ent.stopped.add if command == "STOP" else ent.stopped.discard)(iccid)
        return len(changes)

    @precondition(lambda self: bool(self.m.cards))
    @rule(
        pick=PICK,
        quota=st.sampled_from([1, 10, 100]),
        limit=st.sampled_from([None, 5]),
        mode=st.sampled_from(["STOP_ALL", "STOP_OVER_LIMIT"]),
        top_up=st.sampled_from([1, 100]),
    )
    def enterprise_pool(
        self, pick: int, quota: int, limit: int | None, mode: str, top_up: int
    ) -> None:
        """An enterprise customer: created once, given cards, its pool topped up (which
        resumes what its rules no longer stop, in the same write)."""
        ent = self.m.enterprise
        if ent is None:
            self.ledger.create_enterprise("E", "Acme", quota, limit, mode, self.audit())
            self.m.enterprise = ent = MEnterprise(quota, limit, mode)
        free = [c for c in sorted(self.m.cards) if c not in ent.cards]
        if free and pick % 3:
            iccid = free[pick % len(free)]
            call = lambda: self.ledger.assign_enterprise_cards("E", (iccid,), self.audit())  # noqa: E731
            if self.m.cards[iccid].state == "CANCELLED":
                return self.refused(InvalidState, call)
            call()
            ent.cards.append(iccid)
            return None
        done = self.ledger.top_up_enterprise_pool("E", top_up, self.audit())
        ent.quota_mb += top_up
        decided = self._pool_decisions(self.app.usage.month_of(self.now).isoformat())
        assert (done.pool_quota_mb, done.commands_decided) == (ent.quota_mb, decided)
        return None

    @precondition(lambda self: bool(self.m.orders))
    @rule(pick=PICK)
    def cancel_order(self, pick: int) -> None:
        """A placed order that never completed is called off; a prepaid one's cost goes back."""
        order_id = self._order(pick)
        call = lambda: self.ledger.cancel_order(order_id, self.audit("ops", "never paid"))  # noqa: E731
        order = self.m.orders.get(order_id)
        if order is None:
            return self.refused(OrderNotFound, call)
        if order.status != "PLACED":
            return self.refused(InvalidState, call)
        returned = order.paid if order.flow == "AGENT_PREPAID" else 0
        assert call() == OrderCancelled(order_id, returned)
        order.status = "CANCELLED"
        self.m.wallets[order.seller]["deposit"] += returned
        self.m.prepaid_refunds += returned
        return None

    def check_cards(self, head: int) -> None:
        """Each card's state and last decision in the view equal the model's."""
        reads = CardReads(self.read)
        for iccid, card in self.m.cards.items():
            row = reads.card(iccid, head)
            assert row is not None, iccid
            assert (row["state"], row["last_command"]) == (card.state, card.command), iccid

    # -- withdrawals ------------------------------------------------------------------------------
    @rule(
        pick=PICK,
        how=st.sampled_from(["all", "all", "part", "over", "zero", "in-flight", "settled-id"]),
        part=st.integers(1, 10**6),
    )
    def request_withdrawal(self, pick: int, how: str, part: int) -> None:
        self._withdraw(self._agent(pick), how, part)

    def _withdraw(self, agent: str, how: str, part: int) -> None:
        # The model claws back at once; the ledger when the policy reaches the refund. Through
        # the API the policy has run before the next request is answered (read-your-writes), so
        # a withdrawal is decided on a caught-up wallet, as here.
        self.app.catch_up()
        wallet = self.m.wallets.get(agent)
        available = wallet["available"] if wallet else 0
        in_flight = sorted(w for w, (a, _) in self.m.withdrawals.items() if a == agent)
        settled = sorted(w for w, a in self.m.settled.items() if a == agent)
        if how == "in-flight" and in_flight:
            withdrawal_id = in_flight[0]
        elif how == "settled-id" and settled:
            withdrawal_id = settled[part % len(settled)]
        else:
            self.withdrawal_seq += 1
            withdrawal_id = f"W{self.withdrawal_seq}"
        amount = {
            "all": available,
            "part": 1 + part % max(available, 1),
            "over": available + 1,
            "zero": 0,
            "in-flight": max(available, 1),
            "settled-id": max(available, 1),
        }[how]
        call = lambda: self.ledger.request_withdrawal(  # noqa: E731
            agent, withdrawal_id, amount, self.audit(agent)
        )
        if agent not in self.m.agents:
            return self.refused(AgentNotFound, call)
        if not self.m.agents[agent].verified:
            return self.refused(InvalidState, call)
        if self.m.agents[agent].frozen:
            return self.refused(AccountFrozen, call)
        if amount <= 0:
            return self.refused(InvalidMoney, call)
        if withdrawal_id in self.m.withdrawals or withdrawal_id in self.m.settled:
            return self.refused(InvalidState, call)  # a withdrawal id names one payout, ever
        if self.m.fee(amount, self.now) >= amount:
            return self.refused(FeeExceedsAmount, call)  # nothing would be left to pay
        if wallet is not None and wallet["debt"] > 0:
            return self.refused(InsufficientFunds, call)  # the debt is repaid first
        if amount > available:
            return self.refused(InsufficientFunds, call)
        assert call() == WithdrawalRecorded(agent, withdrawal_id)
        assert wallet is not None
        wallet["available"] -= amount
        wallet["withdrawing"] += amount
        self.m.withdrawals[withdrawal_id] = (agent, amount)
        self.m.under_review.add(withdrawal_id)
        self.m.requested_at[withdrawal_id] = self.now
        return None

    @rule(
        choice=st.sampled_from(
            [(Decimal(0), 0, None), (Decimal("0.006"), 100, 2500), (Decimal("0.1"), 0, None)]
        )
    )
    def set_withdrawal_limits(self, choice: tuple[Decimal, int, int | None]) -> None:
        """Admins change the fee (rate with minimum and maximum) from now on."""
        rate, low, high = choice
        self.ledger.set_withdrawal_limits(
            1, None, None, None, str(rate), low, high, None, "PER_MONTH",
            self.audit("admin", "fee schedule"),
        )  # fmt: skip
        self.m.fee_settings.append((self.now, rate, low, high))

    @precondition(lambda self: bool(self.m.withdrawals or self.m.settled))
    @rule(pick=PICK, approve=st.integers(0, 3).map(bool), reason=st.sampled_from(["", "no"]))
    def review_withdrawal(self, pick: int, approve: bool, reason: str) -> None:
        """Finance approves (fee and 劳务报酬 tax fixed) or rejects (money back) one withdrawal."""
        ids = sorted(self.m.withdrawals) + sorted(self.m.settled)
        withdrawal_id = ids[pick % len(ids)]
        agent = (self.m.withdrawals.get(withdrawal_id) or (self.m.settled[withdrawal_id],))[0]
        refs = ((agent, withdrawal_id),)
        audit = self.audit("finance", reason)
        if approve:
            call = lambda: self.ledger.approve_withdrawals(refs, audit)  # noqa: E731
        else:
            call = lambda: self.ledger.reject_withdrawals(refs, audit)  # noqa: E731
        if not approve and not reason:  # a rejection's reason is asked for first
            return self.refused(InvalidInput, call)
        if withdrawal_id not in self.m.under_review:
            return self.refused(InvalidState, call)
        _, amount = self.m.withdrawals[withdrawal_id]
        wallet = self.m.wallets[agent]
        if not approve:
            assert call() == WithdrawalsDecided(refs)
            self.m.under_review.discard(withdrawal_id)
            self.m.withdrawals.pop(withdrawal_id)
            self.m.settled[withdrawal_id] = agent
            repaid = min(amount, wallet["debt"])
            wallet["debt"] -= repaid
            wallet["withdrawing"] -= amount
            wallet["available"] += amount - repaid
            return None
        month = self.now.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
        income, withheld = self.m.tax.get((agent, month), [0, 0])
        fee = self.m.fee(amount, self.m.requested_at[withdrawal_id])
        company = self.m.agents[agent].company
        tax = 0 if company else withholding(TaxMethod.PER_MONTH, income, withheld, amount)
        if fee + tax >= amount:
            return self.refused(InvalidState, call)
        assert call() == WithdrawalsDecided(refs)
        self.m.under_review.discard(withdrawal_id)
        self.m.approved[withdrawal_id] = (fee, tax, month)
        if not company:
            self.m.tax[(agent, month)] = [income + amount, withheld + tax]
        return None

    @precondition(lambda self: bool(self.m.agents))
    @rule(pick=PICK, company=st.booleans())
    def set_entity_type(self, pick: int, company: bool) -> None:
        """Individual or company from now on: it decides whether tax is withheld."""
        agent = sorted(self.m.agents)[pick % len(self.m.agents)]
        kind = "COMPANY" if company else "INDIVIDUAL"
        self.ledger.set_payee_entity_type(agent, kind, self.audit("ops", "contract"))
        self.m.agents[agent].company = company

    @precondition(lambda self: bool(self.m.agents))
    @rule(pick=PICK, same_person=st.integers(0, 4).map(lambda n: n == 0))
    def freeze_or_unfreeze_account(self, pick: int, same_person: bool) -> None:
        """An operator asks, an admin (never the one who asked) approves."""
        agent = sorted(self.m.agents)[pick % len(self.m.agents)]
        action = "UNFREEZE" if self.m.agents[agent].frozen else "FREEZE"
        self.ledger.request_account_freeze(agent, action, self.audit("ops", "risk review"))
        decide = lambda actor: self.ledger.decide_account_freeze(  # noqa: E731
            agent, True, self.audit(actor, "")
        )
        if same_person:
            self.refused(SelfApproval, lambda: decide("ops"))
        decide("risk-admin")
        self.m.agents[agent].frozen = not self.m.agents[agent].frozen

    @rule(pick=PICK, how=st.sampled_from(["all", "part", "over"]), part=st.integers(1, 10**6))
    def move_commission_to_deposit(self, pick: int, how: str, part: int) -> None:
        """Flow-2 funding: available commission into the prepaid deposit."""
        agent = self._agent(pick)
        self.app.catch_up()
        wallet = self.m.wallets.get(agent)
        available = wallet["available"] if wallet else 0
        amount = {"all": available, "part": 1 + part % max(available, 1), "over": available + 1}[
            how
        ]
        self.withdrawal_seq += 1
        call = lambda: self.ledger.move_commission_to_deposit(  # noqa: E731
            agent, f"T{self.withdrawal_seq}", amount, self.audit(agent)
        )
        if agent not in self.m.agents:
            return self.refused(AgentNotFound, call)
        if amount <= 0:
            return self.refused(InvalidMoney, call)
        assert wallet is not None
        if wallet["debt"] > 0 or amount > available:
            return self.refused(InsufficientFunds, call)
        call()
        wallet["available"] -= amount
        wallet["deposit"] += amount
        self.m.transferred += amount
        return None

    @precondition(lambda self: bool(self.m.withdrawals or self.m.settled))
    @rule(
        pick=PICK,
        paid=st.booleans(),
        reason=st.sampled_from(["", "bank account closed"]),
        settled=st.integers(0, 5).map(lambda n: n == 0),
    )
    def settle_withdrawal(self, pick: int, paid: bool, reason: str, settled: bool) -> None:
        if settled or not self.m.withdrawals:
            ids = sorted(self.m.settled)
            withdrawal_id = ids[pick % len(ids)] if ids else "W-unknown"
            agent = self.m.settled.get(withdrawal_id, "A")
        else:
            withdrawal_id = sorted(self.m.withdrawals)[pick % len(self.m.withdrawals)]
            agent = self.m.withdrawals[withdrawal_id][0]
        self._settle(agent, withdrawal_id, paid, reason)

    def _settle(self, agent: str, withdrawal_id: str, paid: bool, reason: str) -> None:
        call = lambda: self.ledger.settle_withdrawal(  # noqa: E731
            agent, withdrawal_id, paid, self.audit("payment-channel", reason)
        )
        if withdrawal_id not in self.m.withdrawals or withdrawal_id in self.m.under_review:
            return self.refused(InvalidState, call)  # only approved withdrawals are paid out
        if not paid and not reason:
            return self.refused(InvalidInput, call)
        assert call() == WithdrawalRecorded(agent, withdrawal_id)
        _, amount = self.m.withdrawals.pop(withdrawal_id)
        fee, tax, month = self.m.approved.pop(withdrawal_id)
        self.m.settled[withdrawal_id] = agent
        wallet = self.m.wallets[agent]
        wallet["withdrawing"] -= amount
        if paid:  # net, fee and tax leave the wallet: the gross in all
            self.m.paid_out += amount
            self.m.fees += fee
            self.m.taxes += tax
        else:  # the whole gross comes back, repays any debt first; the tax no longer counts
            self.m.tax[(agent, month)][0] -= amount
            self.m.tax[(agent, month)][1] -= tax
            repaid = min(amount, wallet["debt"])
            wallet["debt"] -= repaid
            wallet["available"] += amount - repaid
        return None

    # -- time, release, approval ------------------------------------------------------------------
    @rule(days=st.integers(0, 9), hours=st.integers(0, 23))
    def advance_time(self, days: int, hours: int) -> None:
        self.now += timedelta(days=days, hours=hours)

    @rule(days=st.sampled_from([0, 1, 3, 8]))
    def release_due_commissions(self, days: int) -> None:
        """The daily job, `days` later. It finds its candidates through the read side, so it runs
        after a catch-up."""
        self.now += timedelta(days=days)
        self.app.catch_up()
        result = self.ledger.release_due_commissions(self.audit("scheduler"))
        assert len(result.request_ids) == len(set(result.request_ids))
        assert set(result.request_ids) == self.m.release(self.now)

    @rule(
        days=st.sampled_from([1, 3, 8]),
        picks=st.lists(PICK, min_size=1, max_size=4),
        decision=st.sampled_from(["approve", "approve", "approve", "reject", "void", "none"]),
    )
    def daily_job_then_finance(self, days: int, picks: list[int], decision: str) -> None:
        """The release job, then finance decides on some of the pending requests: the whole
        lifecycle in one step, so that swarm testing (which switches rules off per example)
        rarely cuts it."""
        self.release_due_commissions(days)
        if self.m.pending and decision != "none":
            self._decide(picks, decision == "approve", decision == "void", "checked", "none")

    @precondition(lambda self: bool(self.m.pending or self.m.closed_requests))
    @rule(
        picks=st.lists(PICK, min_size=0, max_size=4),
        approve=st.sampled_from([True, True, False]),
        void=st.booleans(),
        reason=st.sampled_from(["", "documents missing", "documents missing"]),
        extra=st.sampled_from(["none", "none", "none", "closed", "unknown", "duplicate"]),
    )
    def decide_unfreeze_requests(
        self, picks: list[int], approve: bool, void: bool, reason: str, extra: str
    ) -> None:
        self._decide(picks, approve, void, reason, extra)

    @precondition(lambda self: bool(self.m.pending))
    @rule(picks=st.lists(PICK, min_size=1, max_size=3))
    def approve_some(self, picks: list[int]) -> None:
        """Approvals are what most pending requests get: a second door into the rule above."""
        self._decide(picks, True, False, "", "none")

    def _decide(self, picks: list[int], approve: bool, void: bool, reason: str, extra: str) -> None:
        self.app.catch_up()  # finance works from the projected list of pending requests
        pending = sorted(self.m.pending)
        ids = list(dict.fromkeys(pending[p % len(pending)] for p in picks)) if pending else []
        if extra == "closed" and self.m.closed_requests:
            ids.append(sorted(self.m.closed_requests)[0])
        elif extra == "unknown":
            ids.append("no-such-request")
        elif extra == "duplicate" and ids:
            ids.append(ids[0])
        audit = self.audit("finance", reason)
        if approve:
            call = lambda: self.ledger.approve_unfreeze_requests(ids, audit)  # noqa: E731
        else:
            call = lambda: self.ledger.reject_unfreeze_requests(ids, void, audit)  # noqa: E731
        if not ids or len(set(ids)) != len(ids):
            return self.refused(InvalidInput, call)
        for request_id in ids:
            if request_id not in self.m.pending and request_id not in self.m.closed_requests:
                return self.refused(UnfreezeRequestNotFound, call)
            if not approve and not reason:
                return self.refused(InvalidInput, call)
            if request_id not in self.m.pending:
                return self.refused(InvalidState, call)
        assert call() == UnfreezeRequestsDecided(tuple(ids))
        for request_id in ids:
            self.m.decide(request_id, approve, void, self.now)
        return None

    # -- who may do what (decisions 0021, 0022) ---------------------------------------------------
    def subtree(self, agent: str) -> set[str]:
        """The model's downline of an agent (itself included), as the tree is now."""
        found, grew = {agent}, True
        while grew:
            more = {c for c, a in self.m.agents.items() if a.parent in found} - found
            found |= more
            grew = bool(more)
        return found

    def may(self, role: str, name: str, me: str | None, other: str) -> bool:
        """The table as the model reads it: staff by role, agents inside their downline."""
        if role == "agent":
            assert me is not None
            parent = self.m.agents[other].parent if other in self.m.agents else None
            return {
                "wallet": other in self.subtree(me),
                "commissions": other in self.subtree(me),
                "setCostPrice": parent == me,
                "setRetailPrice": other == me,
                "placeOrder": other == me,
                "requestWithdrawal": other == me,
            }.get(name, False)
        if name in ("wallet", "commissions", "platformTotals"):
            return True  # staff read everything
        return role in ATTEMPT_ROLES[name]

    @precondition(lambda self: bool(self.m.agents))
    @rule(
        role=st.sampled_from(["admin", "operator", "finance", "auditor", "agent"]),
        pick=PICK,
        whom=PICK,
    )
    def someone_attempts(self, role: str, pick: int, whom: int) -> None:
        """A caller with one role tries each field through the real schema (the policy
        extension and its confinement) about one agent. Allowed mutations get inputs the ledger
        refuses, so nothing changes either way: FORBIDDEN must come exactly when the model says."""
        self.app.catch_up()  # confinement reads the tree from the views
        me = self._agent(pick) if role == "agent" else None
        other = self._agent(whom)
        principal = Principal(f"user-{role}", frozenset({Role(role)}), me)
        before = self.head()
        for name, text in ATTEMPTS.items():
            result = asyncio.run(
                schema.execute(
                    text.replace("OTHER", other),
                    context_value=Context(app=self.app, principal=principal),
                )
            )
            codes = [(e.extensions or {}).get("code") for e in result.errors or []]
            assert codes in ([], ["FORBIDDEN"]), (name, result.errors)
            may = self.may(role, name, me, other)
            assert (codes == ["FORBIDDEN"]) != may, (role, name, me, other, result)
        assert self.head() == before, f"{role} changed the log"

    @precondition(lambda self: bool(self.m.pending))
    @rule(pick=PICK)
    def beneficiary_approves(self, pick: int) -> None:
        """Someone in finance who acts as the line's agent approves it: refused, always."""
        self.app.catch_up()
        request_id = sorted(self.m.pending)[pick % len(self.m.pending)]
        agent = self.m.lines[self.m.pending[request_id]].agent
        audit = Audit("finance-and-agent", self.now, "", True, agent)
        self.refused(
            SelfApproval, lambda: self.ledger.approve_unfreeze_requests([request_id], audit)
        )

    def check_no_self_approval(self) -> None:
        """No line was ever approved, even in part, by someone acting as its beneficiary."""
        with self.app.pool.connection() as conn:
            rows = conn.execute(
                "SELECT convert_from(state, 'UTF8')::jsonb FROM ledger_events WHERE topic LIKE"
                " ANY(%s)",
                (["%:Wallet.CommissionApproved", "%:Wallet.UnfreezeApprovalRecorded"],),
            ).fetchall()
        for (state,) in rows:
            assert not state["actor"].endswith(f"(agent {state['agent_code']})"), state

    @rule()
    def catch_up(self) -> None:
        self.app.catch_up()

    # -- invariants -------------------------------------------------------------------------------
    @invariant()
    def ledger_agrees_with_model_and_replay(self) -> None:
        if self.rng is None:
            return
        if self.rng.random() < 0.3:
            self.app.catch_up()
        if not self.synced():
            return
        head = self.head()
        self.check_against_model(head)
        self.check_no_double_commission()
        self.check_no_self_approval()
        positions = sorted({head, self.rng.randint(1, head)})
        for position in positions:
            self.check_as_of(position)

    def check_against_model(self, head: int) -> None:
        m = self.m
        for code in AGENTS:
            if code not in m.agents:
                assert self.read.agent(code, head) is None
                assert self.read.wallet(code, head) is None
        for code in m.agents:
            assert self.read.wallet(code, head) == m.wallets[code], f"wallet {code}"
        assert self.totals_at(head) == {
            "income_fen": m.income,
            "refunded_fen": m.refunded,
            "credits_fen": m.credits,
            "paid_out_fen": m.paid_out,
        }
        rows = self.read.commissions(head, None, None, None, 100_000, None).rows
        got = {r["id"]: (r["agent_code"], r["status"], r["amount_fen"], r["original_fen"])
               for r in rows}  # fmt: skip
        want = {c: (ln.agent, ln.status, ln.amount, ln.original) for c, ln in m.lines.items()}
        assert got == want, "commission lines differ from the model"
        pending = self.read.unfreeze_requests(head, "PENDING", None, 100_000, None).rows
        assert {r["id"] for r in pending} == set(m.pending)
        # (a) conservation, on the model's own books and against the projected totals.
        wallets = m.wallets.values()
        assert m.credits - m.paid_out - m.transferred == sum(
            w["frozen"] + w["unfreezing"] + w["available"] - w["debt"] + w["withdrawing"]
            for w in wallets
        )
        assert sum(w["deposit"] for w in wallets) == (
            m.top_ups - m.prepaid_debits + m.prepaid_refunds + m.transferred
        )
        # (a') fees and tax: exactly what the ledger charged on paid withdrawals, to the fen.
        with self.app.pool.connection() as conn:
            charged = dict(
                conn.execute(
                    "SELECT topic, sum((convert_from(state, 'UTF8')::jsonb ->> 'amount_fen')::bigint)"
                    " FROM ledger_events WHERE topic LIKE ANY(%s) GROUP BY topic",
                    (["%Wallet.WithdrawalFeeCharged", "%Wallet.WithdrawalTaxWithheld"],),
                ).fetchall()
            )
        fees = sum(v for k, v in charged.items() if k.endswith("FeeCharged"))
        taxes = sum(v for k, v in charged.items() if k.endswith("TaxWithheld"))
        assert (fees, taxes) == (m.fees, m.taxes)
        # Income: completed sales (never placed-only or cancelled ones) and carriers' settlements.
        assert m.income == sum(
            o.paid for o in m.orders.values() if o.status not in ("PLACED", "CANCELLED")
        ) + sum(m.settlements.values())
        self.check_cards(head)
        assert m.refunded == sum(o.refunded for o in m.orders.values())

    def check_no_double_commission(self) -> None:
        with self.app.pool.connection() as conn:
            doubled = conn.execute(
                "SELECT convert_from(state, 'UTF8')::jsonb ->> 'commission_id', count(*)"
                " FROM ledger_events WHERE topic LIKE %s GROUP BY 1 HAVING count(*) > 1",
                ("%:Wallet.CommissionAccrued",),
            ).fetchall()
            assert doubled == []
            lines = conn.execute(
                "SELECT source, agent_code, plan_code, rule_code, count(*) FROM commission_lines"
                " GROUP BY 1, 2, 3, 4 HAVING count(*) > 1"
            ).fetchall()
            assert lines == []
            facts = conn.execute(
                "SELECT notification_id, originator_id, topic"
                " FROM ledger_events WHERE topic LIKE ANY(%s) ORDER BY notification_id",
                (["%:Order.Completed", "%:Card.Activated", "%:Card.RechargeRecorded"],),
            ).fetchall()
        head = self.head()
        assert self.app.policy.run_until_idle() == 0
        assert self.head() == head
        # Re-processing a fact, with the plans known at its position, must change nothing.
        # Decision 0003 makes the policy exactly-once by its tracking position and lets a wallet
        # forget the ids of closed order lines, so only completions whose lines are all still
        # open are re-processed here (and refunds never): see the report for the rest.
        closed_orders = {
            aggregate_id("order", line.order_id)
            for line in self.m.lines.values()
            if line.order_id is not None and line.status not in OPEN
        }
        facts = [f for f in facts if f[1] not in closed_orders]
        for notification_id, _, topic in self.rng.sample(facts, min(1, len(facts))):
            again = self.reprocess(notification_id)
            assert again == [], f"re-processing {topic} at {notification_id} accrued {again}"
        assert self.head() == head

    def reprocess(self, notification_id: int) -> list[Any]:
        """What the policy would save if it met the fact at `notification_id` again, with the
        plans known at its position: a throwaway policy's decision on that one notification,
        never saved (a policy's failed save is now handled inside run_once, decision 0019, so
        the probe calls its decision directly). Returns the wallet events it would record."""
        probe = CommissionPolicy(self.ledger, batch_size=1)
        start = notification_id - 1
        found = self.ledger.recorder.select_notifications(start, 1, inclusive_of_start=False)
        assert [n.id for n in found] == [notification_id]
        changed = probe.process(start, found)
        return [e for a in changed if isinstance(a, Wallet) for e in a.pending_events]

    def check_as_of(self, position: int) -> None:
        """Every read model as of `position` equals the replay of the events up to it."""
        zeros = dict.fromkeys(BUCKETS, 0)
        credits = deposits = transferred = 0
        projected_pending: set[str] = set()
        for code in sorted(self.m.agents):
            wallet: Any = None
            closed: dict[str, tuple[str, int]] = {}
            paid_out = 0
            for event in self.ledger.events_of(aggregate_id("wallet", code), position):
                wallet = event.mutate(wallet)
                if isinstance(event, PAID_OUT):
                    paid_out += event.amount_fen
                if isinstance(event, Wallet.CommissionMovedToDeposit):
                    paid_out += event.amount_fen  # out of the commissions, into the deposit
                    transferred += event.amount_fen
                if isinstance(event, Wallet.CommissionVoided) and event.remaining_fen == 0:
                    closed[event.commission_id] = ("VOIDED", 0)
                if isinstance(event, Wallet.CommissionClawedBack) and event.remaining_fen == 0:
                    closed[event.commission_id] = ("CLAWED_BACK", 0)
            projected = self.read.wallet(code, position)
            if wallet is None:
                expected = zeros if self.read.agent(code, position) is not None else None
                assert projected == expected, f"wallet {code} as of {position}"
                continue
            assert projected == wallet.balances, f"wallet {code} as of {position}"
            balances = wallet.balances
            for bucket in BUCKETS:
                assert balances[bucket] >= 0, f"{code}.{bucket} < 0 as of {position}"
            assert not (balances["available"] > 0 and balances["debt"] > 0), (
                f"{code} has money available while in debt as of {position}"
            )
            credits += (
                balances["frozen"] + balances["unfreezing"] + balances["available"]
                - balances["debt"] + balances["withdrawing"]
            )  # fmt: skip
            deposits += balances["deposit"]
            replayed = {
                cid: (str(line.status), line.amount_fen) for cid, line in wallet.book.lines.items()
            }
            replayed.update(closed)
            rows = self.read.commissions(position, code, None, None, 100_000, None).rows
            statuses = {r["id"]: (r["status"], r["amount_fen"]) for r in rows}
            assert statuses == replayed, f"commission statuses of {code} as of {position}"
            by_status: dict[str, int] = {}
            for status, amount in statuses.values():
                by_status[status] = by_status.get(status, 0) + amount
            assert balances["frozen"] == by_status.get("FROZEN", 0)
            assert balances["unfreezing"] == by_status.get("UNFREEZE_REQUESTED", 0)
            assert balances["available"] - balances["debt"] + balances["withdrawing"] + (
                paid_out
            ) == by_status.get("APPROVED", 0)
            projected_pending |= set(wallet.book.requests)
        pending = self.read.unfreeze_requests(position, "PENDING", None, 100_000, None).rows
        assert {r["id"] for r in pending} == projected_pending, f"pending as of {position}"
        totals = self.replay_totals(position)
        assert self.totals_at(position) == {
            "income_fen": totals["income"],
            "refunded_fen": totals["refunded"],
            "credits_fen": totals["credits"],
            "paid_out_fen": totals["paid_out"],
        }, f"platform totals as of {position}"
        assert totals["credits"] - totals["paid_out"] - transferred == credits
        assert deposits == (
            totals["top_ups"] - totals["debits"] + totals["deposit_refunds"] + transferred
        )

    def totals_at(self, position: int) -> dict[str, int]:
        """The projected platform totals this model knows about (the view may carry more)."""
        totals = self.read.platform_totals(position)
        return {k: totals[k] for k in ("income_fen", "refunded_fen", "credits_fen", "paid_out_fen")}

    def replay_totals(self, position: int) -> dict[str, int]:
        with self.app.pool.connection() as conn:
            rows = conn.execute(
                "SELECT originator_id, originator_version, topic, state FROM ledger_events"
                " WHERE notification_id <= %s AND topic LIKE ANY(%s) ORDER BY notification_id",
                (
                    position,
                    [
                        "%:Order.%",
                        "%:Wallet.Commission%",
                        "%:Wallet.Deposit%",
                        "%:Wallet.Withdrawal%",
                        "%:CarrierSettlement.Recorded",
                    ],
                ),
            ).fetchall()
        paid: dict[Any, int] = {}
        totals = dict.fromkeys(
            ("income", "refunded", "credits", "paid_out", "top_ups", "debits", "deposit_refunds"),
            0,
        )
        for oid, version, topic, state in rows:
            event = self.ledger.mapper.to_domain_event(
                StoredEvent(oid, version, topic, bytes(state))
            )
            name = topic.rsplit(".", 1)[-1]
            if name == "Placed":
                paid[oid] = event.paid_fen
            elif name == "Completed":
                totals["income"] += paid[oid]
            elif topic.endswith("CarrierSettlement.Recorded"):
                totals["income"] += event.total_fen
            elif name == "Refunded":
                totals["refunded"] += event.amount_fen
            elif name == "CommissionAccrued":
                totals["credits"] += event.amount_fen
            elif name == "CommissionMovedToDeposit":
                pass  # commission moved into the deposit: counted with the deposits
            elif name in ("CommissionVoided", "CommissionClawedBack"):
                totals["credits"] -= event.amount_fen
            elif name in ("WithdrawalPaid", "WithdrawalFeeCharged", "WithdrawalTaxWithheld"):
                totals["paid_out"] += event.amount_fen
            elif name == "DepositToppedUp":
                totals["top_ups"] += event.amount_fen
            elif name == "DepositDebited":
                totals["debits"] += event.amount_fen
            elif name == "DepositRefunded":
                totals["deposit_refunds"] += event.amount_fen
        return totals


def test_ledger_state_machine(server_url: str, template_db: str) -> None:
    LedgerMachine.server = server_url
    LedgerMachine.template = template_db
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=20,
            stateful_step_count=60,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


# ---- regressions: bugs the machine found (fixed in f7f754e) -------------------------------------
# Each test states what SPEC/DESIGN require, on the smallest history that showed the bug.

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _at(days: int = 0, reason: str = "", actor: str = "admin") -> Audit:
    return Audit(actor, T0 + timedelta(days=days), reason)


def _seller_with_released_commissions(app: Any, orders: int) -> None:
    """A sells P at 90 (cost 60) `orders` times; the 30.00 differences are approved on day 8."""
    ledger = app.ledger
    ledger.define_package("P", "Traffic 50", "TRAFFIC", 5000, 1, _at())
    ledger.register_agent("A", "Agent A", None, True, _at())
    ledger.set_cost_price("A", "P", 6000, _at())
    ledger.set_retail_price("A", "P", 9000, _at())
    for n in range(1, orders + 1):
        ledger.place_order(f"O{n}", "P", "A", None, "cust", "CUSTOMER_PAYS", _at())
        ledger.complete_order(f"O{n}", _at())
    app.catch_up()
    requested = ledger.release_due_commissions(_at(8, actor="scheduler")).request_ids
    app.catch_up()
    ledger.approve_unfreeze_requests(requested, _at(8, actor="finance"))
    app.catch_up()


def test_failed_payout_while_in_debt_does_not_bypass_the_debt(fenrun: Any) -> None:
    """domain/wallet.py: "debt must be repaid before anything is paid out". A payout fails after a
    refund clawed the released commission back into debt: the returned money must repay the debt
    first (or the wallet must refuse to pay out more than available - debt)."""
    ledger = fenrun.ledger
    _seller_with_released_commissions(fenrun, 2)  # A: available 60.00
    ledger.request_withdrawal("A", "W1", 6000, _at(9, actor="A"))  # available 0, withdrawing 60
    ledger.refund_order("O1", 9000, _at(10, "returned", "ops"))
    fenrun.catch_up()  # the 30.00 of O1 is clawed back: available 0, debt 30.00
    ledger.approve_withdrawals((("A", "W1"),), _at(10, actor="finance"))
    ledger.settle_withdrawal("A", "W1", False, _at(11, "bank account closed", "channel"))
    wallet = ledger.wallet("A").balances
    assert wallet["debt"] == 3000 or wallet["available"] - wallet["debt"] == 3000
    with pytest.raises(LedgerError):  # was accepted: 60.00 paid out while 30.00 was owed
        ledger.request_withdrawal("A", "W2", 6000, _at(12, actor="A"))


def test_a_paid_withdrawal_id_cannot_be_paid_again(fenrun: Any) -> None:
    """A withdrawal id names one payout (client-chosen ids for idempotent retries, DESIGN):
    re-requesting an id that was already paid must not pay the agent a second time."""
    ledger = fenrun.ledger
    _seller_with_released_commissions(fenrun, 2)  # A: available 60.00
    ledger.request_withdrawal("A", "W1", 3000, _at(9, actor="A"))
    ledger.approve_withdrawals((("A", "W1"),), _at(9, actor="finance"))
    ledger.settle_withdrawal("A", "W1", True, _at(9, actor="channel"))
    head = fenrun.read.log_head()
    with pytest.raises(LedgerError):  # was accepted: W1 paid twice (60.00 in all)
        ledger.request_withdrawal("A", "W1", 3000, _at(10, actor="A"))
    assert fenrun.read.log_head() == head


def test_lowering_an_upline_cost_keeps_its_sub_agents_within_the_factor(fenrun: Any) -> None:
    """SPEC §2: any price an agent sells at -- retail, or cost to a sub-agent -- is at most 2x
    its own cost. A (cost 60) sells to B at 100; lowering A's cost to 40 would make that 2.5x:
    the change must be refused, or B's orders must be refused until the menu is fixed."""
    ledger = fenrun.ledger
    ledger.define_package("P", "Traffic 50", "TRAFFIC", 5000, 1, _at())
    ledger.register_agent("A", "Agent A", None, True, _at())
    ledger.register_agent("B", "Agent B", "A", True, _at())
    ledger.set_cost_price("A", "P", 6000, _at())
    ledger.set_retail_price("A", "P", 7000, _at())
    ledger.set_cost_price("B", "P", 10000, _at())
    ledger.set_retail_price("B", "P", 12000, _at())
    try:
        ledger.set_cost_price("A", "P", 4000, _at())
    except PriceRefused:
        return
    # was accepted: A then earned 60.00 on a sale of B's, 1.5x its own cost of 40.00
    with pytest.raises(LedgerError):
        ledger.place_order("O1", "P", "B", None, "cust", "CUSTOMER_PAYS", _at())


def test_one_time_rule_is_enforced_before_the_views_catch_up(fenrun: Any) -> None:
    """SPEC §2: a package with a one-time commission must be bought from the wallet the first
    time. The ledger used to learn plan codes from the directory view, so right after a plan was
    defined (before the projections ran) a customer-paid first purchase was accepted."""
    ledger = fenrun.ledger
    ledger.define_package("P", "Traffic 50", "TRAFFIC", 5000, 1, _at())
    ledger.register_agent("A", "Agent A", None, True, _at())
    ledger.set_cost_price("A", "P", 6000, _at())
    ledger.set_retail_price("A", "P", 9000, _at())
    one_time = [{"code": "o", "kind": "ONE_TIME", "amount": "20.00", "rechargeThreshold": "30.00"}]
    ledger.define_commission_plan("plan", T0 - timedelta(days=1), one_time, _at())
    with pytest.raises(InvalidInput):  # was accepted; refused only after a catch-up
        ledger.place_order("O1", "P", "A", "ICC1", "cust", "CUSTOMER_PAYS", _at())
