"""The event-sourced aggregates, in memory: commands, refusals, replay equality, wallet deltas."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.agent import Agent
from domain.card import Card, CardStatus
from domain.common import Audit, aggregate_id, derived_id
from domain.errors import (
    BeforeSubjectExisted,
    IdempotencyKeyReused,
    InsufficientDeposit,
    InvalidInput,
    InvalidMoney,
    InvalidState,
    PlanRefused,
    PriceAboveLimit,
    PriceRefused,
    UplineAlreadyBound,
)
from domain.idempotency import IdempotencyKey
from domain.order import Order, OrderStatus
from domain.package import Package
from domain.plan import CommissionPlan
from domain.rules import CommissionLine, lines_for_card, lines_for_sale
from domain.wallet import BUCKETS, CommissionStatus, Wallet

T0 = datetime(2024, 1, 1, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def audit(at: datetime = T0, actor: str = "admin", reason: str = "") -> Audit:
    return Audit(actor, at, reason)


def replay(events: list[Any]) -> Any:
    aggregate = None
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


def state(aggregate: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


def assert_replays(aggregate: Any) -> list[Any]:
    """Collects the aggregate's events and checks that replaying them rebuilds the same state."""
    events = aggregate.collect_events()
    assert events, "nothing to replay"
    rebuilt = replay(events)
    assert type(rebuilt) is type(aggregate)
    assert state(rebuilt) == state(aggregate)
    assert rebuilt.version == aggregate.version == len(events)
    return events


def event_names(events: list[Any]) -> list[str]:
    return [type(e).__name__ for e in events]


# ---- Audit -------------------------------------------------------------------------------------


def test_audit_requires_actor_and_aware_time():
    with pytest.raises(InvalidInput, match="actor"):
        Audit("", T0)
    with pytest.raises(InvalidInput, match="UTC offset"):
        Audit("admin", datetime(2024, 1, 1))
    assert audit(reason="why").fields() == {"actor": "admin", "effective_at": T0, "reason": "why"}


def test_ids_are_stable_per_code():
    assert aggregate_id("agent", "A") == aggregate_id("agent", "A")
    assert aggregate_id("agent", "A") != aggregate_id("wallet", "A")
    assert derived_id("x", 1) == derived_id("x", "1")
    assert derived_id("x", 1) != derived_id("x", 2)


# ---- Agent: price menu and upline --------------------------------------------------------------


def agent(code: str = "A", parent: str | None = None) -> Agent:
    return Agent.register(code, f"Agent {code}", parent, True, audit())


def test_agent_register():
    a = agent()
    assert a.id == aggregate_id("agent", "A") == Agent.create_id("A")
    assert (a.code, a.name, a.parent_code, a.real_name_verified) == ("A", "Agent A", None, True)
    assert a.registered_at == T0
    assert_replays(a)


@pytest.mark.parametrize(
    ("code", "name", "field"),
    [("", "x", "code"), (" A", "x", "code"), ("A" * 65, "x", "code"), ("A", " ", "name"),
     ("A", "n" * 201, "name"), (None, "x", "code")],
)  # fmt: skip
def test_agent_register_refusals(code, name, field):
    with pytest.raises(InvalidInput) as info:
        Agent.register(code, name, None, False, audit())
    assert info.value.field == field


def test_seed004_retail_limit_is_twice_the_cost():
    a = agent()
    a.set_cost_price("P", 6000, None, 2, audit())
    a.set_retail_price("P", 12000, 2, audit())  # 120 = 2 x 60: accepted
    assert a.retail_price("P") == 12000
    with pytest.raises(PriceAboveLimit) as info:
        a.set_retail_price("P", 13000, 2, audit())
    assert info.value.field == "retailPrice"
    assert info.value.code == "PRICE_ABOVE_LIMIT"
    assert info.value.message == "130.00 exceeds 2 x the cost price 60.00 (limit 120.00)"
    with pytest.raises(PriceAboveLimit):
        a.set_retail_price("P", 12001, 2, audit())
    assert a.retail_price("P") == 12000  # refusals changed nothing
    a.set_retail_price("P", 9000, 2, audit())
    assert a.retail_prices == {"P": 9000}
    events = assert_replays(a)
    assert event_names(events) == ["Registered", "CostPriceSet", "RetailPriceSet", "RetailPriceSet"]


def test_retail_below_cost_refused_and_configurable_factor():
    a = agent()
    a.set_cost_price("P", 6000, None, 2, audit())
    with pytest.raises(PriceRefused) as info:
        a.set_retail_price("P", 5999, 2, audit())
    assert not isinstance(info.value, PriceAboveLimit)
    assert info.value.message == "retail price 59.99 is below the cost price 60.00"
    a.set_retail_price("P", 6000, 2, audit())  # selling at cost is allowed
    a.set_retail_price("P", 18000, 3, audit())  # factor 3
    with pytest.raises(PriceAboveLimit):
        a.set_retail_price("P", 18001, 3, audit())
    assert a.retail_prices == {"P": 18000}


def test_retail_needs_a_cost_price_first():
    a = agent()
    with pytest.raises(PriceRefused) as info:
        a.set_retail_price("P", 9000, 2, audit())
    assert info.value.field == "packageCode"
    with pytest.raises(PriceRefused, match="no cost price"):
        a.cost_price("P")
    with pytest.raises(PriceRefused, match="no retail price"):
        a.retail_price("P")


@pytest.mark.parametrize("bad", [0, -100, 60.0, "6000", True])
def test_cost_and_retail_must_be_positive_integer_fen(bad):
    a = agent()
    with pytest.raises(InvalidMoney):
        a.set_cost_price("P", bad, None, 2, audit())
    a.set_cost_price("P", 6000, None, 2, audit())
    with pytest.raises(InvalidMoney):
        a.set_retail_price("P", bad, 2, audit())


def test_sub_agent_cost_between_upline_cost_and_twice_it():
    b = agent("B", parent="A")
    with pytest.raises(PriceRefused) as info:
        b.set_cost_price("P", 5999, 6000, 2, audit())
    assert not isinstance(info.value, PriceAboveLimit)
    assert info.value.message == "cost price 59.99 is below the upline's own cost 60.00"
    with pytest.raises(PriceAboveLimit) as above:
        b.set_cost_price("P", 12001, 6000, 2, audit())
    assert above.value.field == "costPrice"
    b.set_cost_price("P", 6000, 6000, 2, audit())  # no markup is fine
    b.set_cost_price("P", 12000, 6000, 2, audit())
    b.set_cost_price("P", 7000, 6000, 2, audit())
    assert b.cost_price("P") == 7000
    assert_replays(b)


def test_lowering_cost_under_an_existing_retail_limit_is_refused():
    a = agent()
    a.set_cost_price("P", 6000, None, 2, audit())
    a.set_retail_price("P", 12000, 2, audit())
    with pytest.raises(PriceAboveLimit) as info:
        a.set_cost_price("P", 5000, None, 2, audit())
    assert info.value.field == "costPrice"
    assert a.cost_price("P") == 6000
    a.set_cost_price("P", 6000, None, 2, audit())


def test_raising_cost_above_the_existing_retail_is_refused():
    a = agent()
    a.set_cost_price("P", 6000, None, 2, audit())
    a.set_retail_price("P", 9000, 2, audit())
    with pytest.raises(PriceRefused):
        a.set_cost_price("P", 10000, None, 2, audit())


def test_upline_is_bound_once():
    b = agent("B")
    b.bind_upline("A", audit(reason="invite code"))
    assert b.parent_code == "A"
    with pytest.raises(UplineAlreadyBound) as info:
        b.bind_upline("C", audit())
    assert info.value.field == "parentCode"
    assert b.parent_code == "A"
    c = agent("C", parent="A")
    with pytest.raises(UplineAlreadyBound):
        c.bind_upline("B", audit())
    events = assert_replays(b)
    assert event_names(events) == ["Registered", "UplineBound"]
    assert (events[1].parent_code, events[1].reason) == ("A", "invite code")


# ---- Order -------------------------------------------------------------------------------------


def order(
    flow: str = "CUSTOMER_PAYS", retail: int | None = 10000, buyer: str | None = None
) -> Order:
    return Order.place(
        "o-1", "P", "TRAFFIC", "B", buyer, None, flow, [("A", 6000), ("B", 7000)], retail, audit()
    )


def test_order_place_customer_pays():
    o = order()
    assert o.id == aggregate_id("order", "o-1")
    assert (o.status, o.paid_fen, o.retail_fen, o.refunded_fen) == ("PLACED", 10000, 10000, 0)
    assert o.chain == [("A", 6000), ("B", 7000)]
    assert o.beneficiaries == ["A", "B"]
    assert_replays(o)


def test_order_place_agent_prepaid_pays_the_seller_cost():
    o = order(flow="AGENT_PREPAID", retail=None)
    assert (o.paid_fen, o.retail_fen) == (7000, None)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"flow": "CASH"}, "flow"),
        ({"chain": [("A", 6000)]}, "agentCode"),
        ({"chain": []}, "agentCode"),
        ({"retail": None}, "flow"),
        ({"order_id": ""}, "orderId"),
    ],
)
def test_order_place_refusals(kwargs, field):
    args = {
        "order_id": "o-1",
        "package_code": "P",
        "package_kind": "TRAFFIC",
        "agent_code": "B",
        "buyer_code": None,
        "iccid": None,
        "flow": "CUSTOMER_PAYS",
        "chain": [("A", 6000), ("B", 7000)],
        "retail_fen": 10000,
        "audit": audit(),
    }
    if "retail" in kwargs:
        args["retail_fen"] = kwargs.pop("retail")
    args.update(kwargs)
    with pytest.raises(InvalidInput) as info:
        Order.place(**args)
    assert info.value.field == field


def test_order_complete_then_partial_and_full_refund():
    o = order()
    o.complete(audit(T0 + DAY))
    assert (o.status, o.completed_at) == (OrderStatus.COMPLETED, T0 + DAY)
    with pytest.raises(InvalidState):
        o.complete(audit(T0 + DAY))
    o.refund(3000, audit(T0 + 2 * DAY, reason="damaged"))
    assert (o.status, o.refunded_fen) == (OrderStatus.PARTIALLY_REFUNDED, 3000)
    with pytest.raises(InvalidInput) as info:
        o.refund(7001, audit(T0 + 3 * DAY, reason="more"))
    assert info.value.message == "refund 70.01 exceeds the refundable 70.00"
    assert o.refunded_fen == 3000
    o.refund(7000, audit(T0 + 3 * DAY, reason="rest"))
    assert (o.status, o.refunded_fen) == (OrderStatus.REFUNDED, 10000)
    with pytest.raises(InvalidState, match="only completed orders can be refunded"):
        o.refund(1, audit(T0 + 4 * DAY, reason="again"))
    with pytest.raises(InvalidState):
        o.complete(audit(T0 + 4 * DAY))
    events = assert_replays(o)
    assert event_names(events) == ["Placed", "Completed", "Refunded", "Refunded"]
    assert [(e.amount_fen, e.refunded_total_fen) for e in events[2:]] == [
        (3000, 3000),
        (7000, 10000),
    ]


def test_order_refund_down_to_the_last_fen():
    o = order()
    o.complete(audit(T0))
    o.refund(9999, audit(T0 + DAY, reason="almost all"))
    assert (o.status, o.refunded_fen) == (OrderStatus.PARTIALLY_REFUNDED, 9999)
    o.refund(1, audit(T0 + DAY, reason="last fen"))
    assert (o.status, o.refunded_fen) == (OrderStatus.REFUNDED, 10000)
    assert_replays(o)


def test_order_refund_refusals():
    o = order()
    with pytest.raises(InvalidState, match="PLACED; only completed orders"):
        o.refund(1000, audit(reason="early"))
    with pytest.raises(BeforeSubjectExisted, match=r"before order .* was placed"):
        o.complete(audit(T0 - timedelta(seconds=1)))
    o.complete(audit(T0))
    with pytest.raises(InvalidInput, match="needs a reason"):
        o.refund(1000, audit(T0 + DAY))
    for bad in (0, -1, 10.0):
        with pytest.raises(InvalidMoney):
            o.refund(bad, audit(T0 + DAY, reason="x"))
    with pytest.raises(InvalidInput, match="exceeds"):
        o.refund(10001, audit(T0 + DAY, reason="x"))
    assert (o.status, o.refunded_fen, o.version) == (OrderStatus.COMPLETED, 0, 2)


def test_order_refund_cannot_take_effect_before_completion():
    o = order()
    o.complete(audit(T0 + 2 * DAY))
    with pytest.raises(InvalidInput):
        o.refund(1000, audit(T0 + DAY, reason="back-dated"))


def test_order_sale_facts_feed_the_rules():
    o = order()
    o.complete(audit(T0 + DAY))
    facts = o.sale_facts()
    assert (facts.seller_code, facts.flow, facts.paid_fen, facts.effective_at) == (
        "B",
        "CUSTOMER_PAYS",
        10000,
        T0 + DAY,
    )
    lines = lines_for_sale(facts, [])
    assert [(ln.beneficiary, ln.amount_fen) for ln in lines] == [("A", 1000), ("B", 3000)]


# ---- Card --------------------------------------------------------------------------------------


def test_card_activation_and_recharges():
    c = Card.assign("8986001", "A", "P", "TRAFFIC", audit())
    assert c.id == aggregate_id("card", "8986001")
    assert (c.status, c.first_recharge_fen, c.total_recharge_fen) == (CardStatus.ASSIGNED, None, 0)
    c.record_recharge(3000, audit(T0 + DAY))  # a recharge may arrive before the activation
    c.activate(audit(T0 + 3 * DAY))
    with pytest.raises(InvalidState, match="already ACTIVATED"):
        c.activate(audit(T0 + 4 * DAY))
    c.record_recharge(5000, audit(T0 + 2 * DAY))  # late-arriving, earlier effective time
    assert (c.status, c.activated_at) == (CardStatus.ACTIVATED, T0 + 3 * DAY)
    assert (c.first_recharge_fen, c.total_recharge_fen) == (3000, 8000)
    assert c.last_fact_at == T0 + 3 * DAY
    for bad in (0, -1, 1.5):
        with pytest.raises(InvalidMoney):
            c.record_recharge(bad, audit())
    facts = c.facts()
    assert (facts.activated, facts.first_recharge_fen, facts.total_recharge_fen) == (
        True,
        3000,
        8000,
    )
    assert facts.effective_at == T0 + 3 * DAY
    events = assert_replays(c)
    assert event_names(events) == ["Assigned", "RechargeRecorded", "Activated", "RechargeRecorded"]


def test_card_last_fact_time_never_goes_back():
    c = Card.assign("8986003", "A", "P", "NUMBER", audit())
    c.record_recharge(1000, audit(T0 + 3 * DAY))
    c.activate(audit(T0 + 2 * DAY))  # reported late, happened earlier
    assert (c.activated_at, c.last_fact_at) == (T0 + 2 * DAY, T0 + 3 * DAY)
    c.record_recharge(1000, audit(T0 + DAY))
    assert c.facts().effective_at == T0 + 3 * DAY
    assert_replays(c)


def test_card_facts_drive_one_time_commission():
    plan = CommissionPlan.start("once")
    plan.define_version(
        T0,
        [{"code": "o", "kind": "ONE_TIME", "amount": "50", "rechargeThreshold": "30",
          "recharge": "CUMULATIVE"}],
        audit(),
    )  # fmt: skip
    c = Card.assign("8986002", "A", "P", "TRAFFIC", audit())
    c.activate(audit(T0 + DAY))
    c.record_recharge(2000, audit(T0 + DAY))
    assert lines_for_card(c.facts(), plan.plan_versions()) == []
    c.record_recharge(2000, audit(T0 + 2 * DAY))
    (line,) = lines_for_card(c.facts(), plan.plan_versions())
    assert (line.beneficiary, line.amount_fen, line.base_fen) == ("A", 4000, 4000)  # capped


def test_card_assign_needs_iccid():
    with pytest.raises(InvalidInput):
        Card.assign("", "A", None, None, audit())


# ---- Wallet ------------------------------------------------------------------------------------


class Withdrawn(Wallet.BalanceEvent):
    """Test-only payout stand-in: moves money out of `available`, independent of any payout API."""

    MOVEMENT = "withdrawal_requested"
    amount_fen: int

    def deltas(self) -> dict[str, int]:
        return {"available": -self.amount_fen, "withdrawing": self.amount_fen}


def line(amount: int, order_id: str | None = "o-1", hold_days: int = 7) -> CommissionLine:
    return CommissionLine(
        beneficiary="A",
        kind="PERCENTAGE",
        amount_fen=amount,
        base_fen=amount * 20,
        rate="0.05",
        plan_code="plan",
        plan_version=1,
        rule_code="pct5",
        hold_days=hold_days,
        source=order_id or "iccid",
        order_id=order_id,
        facts={"base": "COST_PRICE"},
    )


def balances(wallet: Wallet, **nonzero: int) -> dict[str, int]:
    expected = dict.fromkeys(BUCKETS, 0)
    expected.update(nonzero)
    return expected


def assert_wallet_consistent(wallet: Wallet) -> list[Any]:
    """Replay equality, and the events' deltas add up to the balances."""
    events = assert_replays(wallet)
    total = dict.fromkeys(BUCKETS, 0)
    for event in events:
        if isinstance(event, Wallet.BalanceEvent):
            for bucket, delta in event.deltas().items():
                total[bucket] += delta
    assert total == wallet.balances
    return events


def released(wallet: Wallet, cid: str, amount: int, at: datetime = T0) -> str:
    """Accrue, wait out the hold, request and approve."""
    wallet.accrue(cid, line(amount), audit(at))
    request = wallet.request_unfreeze(cid, audit(at + 7 * DAY, actor="system"))
    wallet.approve(request, audit(at + 8 * DAY, actor="finance"))
    return request


def test_wallet_accrue_is_frozen_and_idempotent():
    w = Wallet.open("A")
    assert w.id == aggregate_id("wallet", "A")
    assert w.accrue("c1", line(3000), audit()) is True
    assert w.balances == balances(w, frozen=3000)
    assert w.book.lines["c1"].status == CommissionStatus.FROZEN
    assert w.book.lines["c1"].releasable_at == T0 + 7 * DAY
    pending = len(w.pending_events)
    assert w.accrue("c1", line(3000), audit(T0 + DAY)) is False
    assert w.accrue("c1", line(9999), audit(T0 + DAY)) is False
    assert len(w.pending_events) == pending
    assert w.balances == balances(w, frozen=3000)
    events = assert_wallet_consistent(w)
    accrued = events[1]
    assert (accrued.commission_id, accrued.amount_fen, accrued.kind, accrued.rate) == (
        "c1",
        3000,
        "PERCENTAGE",
        "0.05",
    )
    assert (accrued.plan_code, accrued.plan_version, accrued.rule_code) == ("plan", 1, "pct5")


def test_wallet_unfreeze_only_when_hold_elapsed_then_approve():
    w = Wallet.open("A")
    w.accrue("c1", line(3000), audit())
    assert w.due_for_release(T0 + 7 * DAY - timedelta(seconds=1)) == []
    with pytest.raises(InvalidState, match="held until 2024-01-08T09:00:00"):
        w.request_unfreeze("c1", audit(T0 + 7 * DAY - timedelta(seconds=1)))
    assert w.due_for_release(T0 + 7 * DAY) == ["c1"]
    request = w.request_unfreeze("c1", audit(T0 + 7 * DAY, actor="system"))
    assert request == derived_id("unfreeze", "c1", 1)
    assert w.balances == balances(w, unfreezing=3000)
    assert w.book.requests == {request: "c1"}
    assert w.due_for_release(T0 + 30 * DAY) == []
    with pytest.raises(InvalidState, match="not FROZEN"):
        w.request_unfreeze("c1", audit(T0 + 8 * DAY))
    w.approve(request, audit(T0 + 8 * DAY, actor="finance"))
    assert w.balances == balances(w, available=3000)
    assert w.book.lines["c1"].status == CommissionStatus.APPROVED
    assert w.book.requests == {}
    with pytest.raises(InvalidState, match="not pending"):
        w.approve(request, audit(T0 + 9 * DAY, actor="finance"))
    with pytest.raises(InvalidState, match="not open"):
        w.request_unfreeze("nope", audit(T0 + 9 * DAY))
    events = assert_wallet_consistent(w)
    assert event_names(events) == [
        "Opened",
        "CommissionAccrued",
        "UnfreezeRequested",
        "CommissionApproved",
    ]
    assert events[3].debt_repaid_fen == 0


def test_wallet_zero_hold_is_releasable_at_once():
    w = Wallet.open("A")
    w.accrue("c1", line(100, hold_days=0), audit())
    assert w.due_for_release(T0) == ["c1"]
    w.request_unfreeze("c1", audit())
    assert w.balances == balances(w, unfreezing=100)


def test_wallet_reject_back_to_frozen_with_a_new_hold():
    w = Wallet.open("A")
    w.accrue("c1", line(3000), audit())
    first = w.request_unfreeze("c1", audit(T0 + 7 * DAY))
    with pytest.raises(InvalidInput, match="needs a reason"):
        w.reject(first, False, audit(T0 + 8 * DAY, actor="finance"))
    w.reject(first, False, audit(T0 + 8 * DAY, actor="finance", reason="docs missing"))
    assert w.balances == balances(w, frozen=3000)
    assert w.book.lines["c1"].status == CommissionStatus.FROZEN
    assert w.book.lines["c1"].releasable_at == T0 + 15 * DAY
    assert w.book.requests == {}
    with pytest.raises(InvalidState, match="held until"):
        w.request_unfreeze("c1", audit(T0 + 9 * DAY))
    second = w.request_unfreeze("c1", audit(T0 + 15 * DAY))
    assert second != first
    assert second == derived_id("unfreeze", "c1", 2)
    with pytest.raises(InvalidState):
        w.approve(first, audit(T0 + 16 * DAY, actor="finance"))
    w.approve(second, audit(T0 + 16 * DAY, actor="finance"))
    assert w.balances == balances(w, available=3000)
    events = assert_wallet_consistent(w)
    assert event_names(events)[3] == "UnfreezeRejected"
    assert events[3].reason == "docs missing"


def test_closed_card_line_is_never_accrued_again():
    w = Wallet.open("A")
    w.accrue("once", line(1000, order_id=None), audit())
    request = w.request_unfreeze("once", audit(T0 + 7 * DAY))
    w.reject(request, True, audit(T0 + 8 * DAY, actor="finance", reason="fraud"))
    assert "once" in w.book.closed
    assert w.accrue("once", line(1000, order_id=None), audit(T0 + 9 * DAY)) is False
    assert w.balances == balances(w)


def test_wallet_reject_and_void():
    w = Wallet.open("A")
    w.accrue("c1", line(3000), audit())
    w.accrue("c2", line(500, order_id="o-2"), audit())
    request = w.request_unfreeze("c1", audit(T0 + 7 * DAY))
    w.reject(request, True, audit(T0 + 8 * DAY, actor="finance", reason="fraud"))
    assert w.balances == balances(w, frozen=500)
    assert "c1" not in w.book.lines
    assert "c1" not in w.book.closed  # an order completes once: its closed lines need no memory
    assert w.book.requests == {}
    with pytest.raises(InvalidState):
        w.reduce("c1", 100, audit(T0 + 9 * DAY))
    events = assert_wallet_consistent(w)
    voided = events[-1]
    assert type(voided) is Wallet.CommissionVoided
    assert (voided.amount_fen, voided.from_status, voided.remaining_fen) == (
        3000,
        "UNFREEZE_REQUESTED",
        0,
    )
    assert (voided.closes_request, voided.decision) == (request, "REJECTED")


def test_wallet_reduce_voids_before_release():
    w = Wallet.open("A")
    w.accrue("c1", line(3000), audit())
    w.reduce("c1", 1000, audit(T0 + DAY, reason="partial refund"))
    assert w.balances == balances(w, frozen=2000)
    assert (w.book.lines["c1"].amount_fen, w.book.lines["c1"].original_fen) == (2000, 3000)
    w.reduce("c1", 0, audit(T0 + DAY))  # nothing to take: no event
    w.reduce("c1", -5, audit(T0 + DAY))
    assert w.version == 3
    w.reduce("c1", 5000, audit(T0 + 2 * DAY, reason="full refund"))  # capped at what is left
    assert w.balances == balances(w)
    assert "c1" not in w.book.lines
    events = assert_wallet_consistent(w)
    assert [(e.amount_fen, e.from_status, e.remaining_fen) for e in events[2:]] == [
        (1000, "FROZEN", 2000),
        (2000, "FROZEN", 0),
    ]
    assert [(e.closes_request, e.decision) for e in events[2:]] == [(None, None), (None, None)]


def test_wallet_reduce_while_unfreeze_requested():
    w = Wallet.open("A")
    w.accrue("c1", line(3000), audit())
    w.accrue("c2", line(800, order_id="o-2"), audit())
    r1 = w.request_unfreeze("c1", audit(T0 + 7 * DAY))
    r2 = w.request_unfreeze("c2", audit(T0 + 7 * DAY))
    w.reduce("c1", 1000, audit(T0 + 7 * DAY, reason="partial refund"))
    assert w.balances == balances(w, unfreezing=2800)
    assert w.book.requests == {r1: "c1", r2: "c2"}
    w.approve(r1, audit(T0 + 8 * DAY, actor="finance"))
    assert w.balances == balances(w, unfreezing=800, available=2000)
    w.reduce("c2", 800, audit(T0 + 8 * DAY, reason="full refund"))  # closes its request
    assert w.book.requests == {}
    assert w.balances == balances(w, available=2000)
    with pytest.raises(InvalidState):
        w.approve(r2, audit(T0 + 9 * DAY, actor="finance"))
    events = assert_wallet_consistent(w)
    full_void = events[-1]
    assert (full_void.from_status, full_void.closes_request, full_void.decision) == (
        "UNFREEZE_REQUESTED",
        r2,
        "VOIDED",
    )
    partial_void = events[5]
    assert (partial_void.amount_fen, partial_void.closes_request, partial_void.decision) == (
        1000,
        None,
        None,
    )


def test_wallet_reduce_claws_back_after_release():
    w = Wallet.open("A")
    released(w, "c1", 3000)
    w.reduce("c1", 1200, audit(T0 + 9 * DAY, reason="partial refund"))
    assert w.balances == balances(w, available=1800)
    assert w.book.lines["c1"].status == CommissionStatus.APPROVED
    w.reduce("c1", 1800, audit(T0 + 10 * DAY, reason="rest refunded"))
    assert w.balances == balances(w)
    assert "c1" not in w.book.lines
    assert "c1" not in w.book.closed
    events = assert_wallet_consistent(w)
    claws = [e for e in events if type(e) is Wallet.CommissionClawedBack]
    assert [
        (e.amount_fen, e.from_available_fen, e.to_debt_fen, e.remaining_fen) for e in claws
    ] == [
        (1200, 1200, 0, 1800),
        (1800, 1800, 0, 0),
    ]


def test_wallet_clawback_into_debt_then_repaid_from_later_commissions():
    w = Wallet.open("A")
    released(w, "c1", 3000)
    # paid out: only 5.00 left available
    w.trigger_event(Withdrawn, amount_fen=2500, agent_code="A", **audit().fields())
    assert w.balances == balances(w, available=500, withdrawing=2500)
    w.reduce("c1", 2000, audit(T0 + 10 * DAY, reason="refund after release"))
    assert w.balances == balances(w, available=0, withdrawing=2500, debt=1500)
    # the next approved commission pays the debt first
    released(w, "c2", 1000, at=T0 + 11 * DAY)
    assert w.balances == balances(w, available=0, withdrawing=2500, debt=500)
    released(w, "c3", 2000, at=T0 + 12 * DAY)
    assert w.balances == balances(w, available=1500, withdrawing=2500, debt=0)
    released(w, "c4", 100, at=T0 + 13 * DAY)
    assert w.balances == balances(w, available=1600, withdrawing=2500, debt=0)
    events = assert_wallet_consistent(w)
    claw = next(e for e in events if type(e) is Wallet.CommissionClawedBack)
    assert (claw.amount_fen, claw.from_available_fen, claw.to_debt_fen) == (2000, 500, 1500)
    approvals = [e for e in events if type(e) is Wallet.CommissionApproved]
    assert [(e.amount_fen, e.debt_repaid_fen) for e in approvals] == [
        (3000, 0),
        (1000, 1000),
        (2000, 500),
        (100, 0),
    ]


def test_wallet_lines_for_order():
    w = Wallet.open("A")
    w.accrue("c1", line(100, order_id="o-1"), audit())
    w.accrue("c2", line(200, order_id="o-2"), audit())
    w.accrue("c3", line(300, order_id="o-1"), audit())
    w.accrue("c4", line(400, order_id=None), audit())
    assert w.book.lines_for_order("o-1") == ["c1", "c3"]
    w.reduce("c1", 100, audit())
    assert w.book.lines_for_order("o-1") == ["c3"]
    assert w.balances == balances(w, frozen=900)
    assert_wallet_consistent(w)


def test_wallet_deposit_top_up_and_debit():
    w = Wallet.open("A")
    w.top_up(10000, audit(reason="bank transfer"))
    w.debit_deposit("o-1", 6000, audit(T0 + DAY))
    assert w.balances == balances(w, deposit=4000)
    with pytest.raises(InsufficientDeposit) as info:
        w.debit_deposit("o-2", 4001, audit(T0 + DAY))
    assert info.value.message == "deposit 40.00 does not cover the cost 40.01"
    assert info.value.field == "flow"
    w.debit_deposit("o-2", 4000, audit(T0 + DAY))
    assert w.balances == balances(w, deposit=0)
    w.refund_deposit("o-1", 1500, audit(T0 + 2 * DAY, reason="refund"))
    assert w.balances == balances(w, deposit=1500)
    for bad in (0, -100, 10.0, "100"):
        with pytest.raises(InvalidMoney):
            w.top_up(bad, audit())
    events = assert_wallet_consistent(w)
    assert event_names(events) == [
        "Opened",
        "DepositToppedUp",
        "DepositDebited",
        "DepositDebited",
        "DepositRefunded",
    ]
    assert [e.deltas() for e in events[1:]] == [
        {"deposit": 10000},
        {"deposit": -6000},
        {"deposit": -4000},
        {"deposit": 1500},
    ]


def test_wallet_debit_deposit_refuses_negative_amounts():
    w = Wallet.open("A")
    with pytest.raises(InvalidMoney):
        w.debit_deposit("o-1", -500, audit())


def test_wallet_full_lifecycle_replays_and_deltas_add_up():
    w = Wallet.open("A")
    w.top_up(20000, audit())
    w.debit_deposit("o-9", 6000, audit())
    released(w, "c1", 3000)
    w.accrue("c2", line(700, order_id="o-2"), audit(T0 + DAY))
    r2 = w.request_unfreeze("c2", audit(T0 + 8 * DAY))
    w.reject(r2, False, audit(T0 + 9 * DAY, actor="finance", reason="check"))
    w.accrue("c3", line(400, order_id="o-3"), audit(T0 + DAY))
    w.reduce("c3", 150, audit(T0 + 2 * DAY, reason="partial"))
    w.reduce("c1", 1000, audit(T0 + 10 * DAY, reason="partial after release"))
    assert w.balances == balances(w, frozen=950, available=2000, deposit=14000)
    events = assert_wallet_consistent(w)
    assert len(events) == 12


# ---- CommissionPlan ----------------------------------------------------------------------------


def test_plan_versions_are_effective_dated_and_ordered():
    p = CommissionPlan.start("std")
    assert p.define_version(T0, [{"code": "p", "kind": "PERCENTAGE", "rate": "5%"}], audit()) == 1
    mar = datetime(2024, 3, 1, tzinfo=UTC)
    assert p.define_version(mar, [{"code": "f", "kind": "FIXED", "amount": "5"}], audit()) == 2
    with pytest.raises(PlanRefused, match="must not take effect before version 2"):
        p.define_version(datetime(2024, 2, 1, tzinfo=UTC), [{"code": "f", "kind": "FIXED",
                         "amount": "6"}], audit())  # fmt: skip
    with pytest.raises(PlanRefused, match="UTC offset"):
        p.define_version(
            datetime(2024, 4, 1), [{"code": "f", "kind": "FIXED", "amount": "6"}], audit()
        )
    with pytest.raises(PlanRefused, match="ENTRY_FEE"):
        p.define_version(mar, [{"code": "e", "kind": "ENTRY_FEE", "amount": "6"}], audit())
    assert p.define_version(mar, [{"code": "f", "kind": "FIXED", "amount": "7"}], audit()) == 3
    versions = p.plan_versions()
    assert [(v.code, v.version, v.effective_from) for v in versions] == [
        ("std", 1, T0),
        ("std", 2, mar),
        ("std", 3, mar),
    ]
    assert p.versions[0]["rules"] == [
        {"code": "p", "packages": [], "holdDays": 7, "kind": "PERCENTAGE", "rate": "5%",
         "base": "COST_PRICE"}
    ]  # fmt: skip
    feb, late = (
        Order.place(oid, "P", "TRAFFIC", "B", None, None, "CUSTOMER_PAYS", [("B", 6000)], 9000,
                    audit(T0))
        for oid in ("o-1", "o-2")
    )  # fmt: skip
    feb.complete(audit(datetime(2024, 2, 10, tzinfo=UTC)))
    late.complete(audit(mar))  # version 3 supersedes version 2 from the same date
    assert [ln.amount_fen for ln in lines_for_sale(feb.sale_facts(), versions)] == [3000, 300]
    assert [ln.amount_fen for ln in lines_for_sale(late.sale_facts(), versions)] == [3000, 700]
    events = assert_replays(p)
    assert event_names(events) == ["Created", "VersionDefined", "VersionDefined", "VersionDefined"]


# ---- IdempotencyKey and Package ----------------------------------------------------------------


def test_idempotency_key():
    k = IdempotencyKey.use("k-1", "hash-a", {"orderId": "o-1"})
    assert k.id == aggregate_id("idempotency", "k-1")
    assert k.replay_result("hash-a") == {"orderId": "o-1"}
    with pytest.raises(IdempotencyKeyReused) as info:
        k.replay_result("hash-b")
    assert info.value.field == "idempotencyKey"
    for bad in ("", "k" * 201, None):
        with pytest.raises(InvalidInput):
            IdempotencyKey.use(bad, "h", {})
    assert_replays(k)


def test_package_define():
    p = Package.define("P", "Monthly 10G", "TRAFFIC", 5000, 1, audit())
    assert (p.code, p.kind, p.purchase_price_fen, p.period_months) == ("P", "TRAFFIC", 5000, 1)
    for kwargs, field in [
        ({"kind": "VOICE"}, "kind"),
        ({"purchase_price_fen": -1}, "purchasePrice"),
        ({"purchase_price_fen": 50.0}, "purchasePrice"),
        ({"period_months": 0}, "periodMonths"),
        ({"period_months": 121}, "periodMonths"),
        ({"name": ""}, "name"),
    ]:
        args = {"code": "P", "name": "x", "kind": "NUMBER", "purchase_price_fen": 0,
                "period_months": 12, "audit": audit()}  # fmt: skip
        args.update(kwargs)
        with pytest.raises((InvalidInput, InvalidMoney)) as info:
            Package.define(**args)
        assert info.value.field == field
    assert_replays(p)
