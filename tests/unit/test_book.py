"""The commission book: refund shares, newest-first take-backs, corrections and re-ratings,
closed ids; the line effects the lifecycle events declare; the simulation's shadow wallet on the
same book."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from application.simulation import ShadowWallet
from domain.approvals import ApprovalPolicy
from domain.book import ENDED, CommissionBook, CommissionStatus, LineEffect, adjustment, hold_until
from domain.common import Audit
from domain.errors import InvalidState, LedgerError
from domain.rules import CommissionLine
from domain.wallet import BUCKETS, Wallet
from tests.unit.test_aggregates import line as order_line

T0 = datetime(2026, 3, 1, 10, tzinfo=UTC)
DAY = timedelta(days=1)
FROZEN, REQUESTED, APPROVED = (
    CommissionStatus.FROZEN,
    CommissionStatus.UNFREEZE_REQUESTED,
    CommissionStatus.APPROVED,
)


def audit(at: datetime = T0, reason: str = "r") -> Audit:
    return Audit("ops", at, reason)


def line(amount: int, order_id: str | None = "o-1", corrects: str | None = None) -> CommissionLine:
    """A 5% line of an order (or of a card when order_id is None), correcting another if told."""
    return replace(order_line(amount, order_id), facts={"corrects": corrects} if corrects else {})


def released(w: Wallet, cid: str) -> None:
    request = w.request_unfreeze(cid, audit(T0 + 7 * DAY))
    w.approve(request, audit(T0 + 8 * DAY))


def test_hold_until_counts_whole_days_from_the_given_time() -> None:
    assert hold_until(T0, 7) == T0 + 7 * DAY
    assert hold_until(T0, 0) == T0


def test_refund_shares_are_a_share_of_what_is_left_of_line_and_sale() -> None:
    w = Wallet.open("A")
    w.accrue("c1", line(1000), audit())
    w.accrue("c2", line(333), audit())
    w.accrue("other", line(500, order_id="o-2"), audit())
    # paid 100.00, nothing refunded before: 30.00 back is 30% of each line, half-up
    assert w.book.refund_shares("o-1", 3000, 10000) == [("c1", 300), ("c2", 100)]
    w.refund("o-1", 3000, 10000, audit())
    assert (w.book.lines["c1"].amount_fen, w.book.lines["c2"].amount_fen) == (700, 233)
    # 50.00 more of the 70.00 left: 5/7 of what is left (700 -> 500, 233 -> 166.4 -> 166)
    assert w.book.refund_shares("o-1", 5000, 7000) == [("c1", 500), ("c2", 166)]
    w.refund("o-1", 5000, 7000, audit())
    # the last 20.00 of 20.00 left empties every line exactly
    w.refund("o-1", 2000, 2000, audit())
    assert w.book.lines_for_order("o-1") == []
    assert w.book.lines["other"].amount_fen == 500
    assert w.balances["frozen"] == 500


def test_a_corrected_line_gives_back_a_share_of_what_it_is_now() -> None:
    w = Wallet.open("A")
    w.accrue("c1", line(1000), audit())
    w.take_back("c1", 400, audit())  # a correction lowered it to 6.00
    assert w.book.refund_shares("o-1", 5000, 10000) == [("c1", 300)]


def test_take_back_plan_is_newest_first_over_the_line_and_its_adjustments() -> None:
    book = Wallet.open("A")
    book.accrue("line", line(1000), audit())
    book.accrue("adj1", line(300, corrects="line"), audit())
    book.accrue("adj2", line(200, corrects="line"), audit())
    assert book.book.parts_of("line") == ["line", "adj1", "adj2"]
    assert book.book.current_fen("line") == 1500
    assert book.book.take_back_plan("line", 400) == [("adj2", 200), ("adj1", 200)]
    assert book.book.take_back_plan("line", 9999) == [("adj2", 200), ("adj1", 300), ("line", 1000)]
    assert book.take_back("line", 600, audit()) == 600
    assert book.book.parts_of("line") == ["line"]  # both adjustments voided whole
    assert book.book.lines["line"].amount_fen == 900
    with pytest.raises(LedgerError):
        book.take_back("line", 0, audit())


def test_corrections_take_back_the_excess_or_pay_the_shortfall_unless_rejected() -> None:
    w = Wallet.open("A")
    w.accrue("c1", line(1000), audit())
    w.accrue("adj", line(200, corrects="c1"), audit())
    too_much = w.book.rerating("c1", 900)
    assert (too_much.recorded_fen, too_much.take_back_fen, too_much.pay_fen) == (1200, 300, 0)
    too_little = w.book.rerating("c1", 1500)
    assert (too_little.take_back_fen, too_little.pay_fen) == (0, 300)
    paid = adjustment(line(1000), too_little)
    assert paid.amount_fen == 300
    assert paid.facts == {"corrects": "c1", "recorded": "12.00", "corrected": "15.00"}
    assert w.correct(too_little, line(1000), "adj2", audit())
    assert w.book.current_fen("c1") == 1500
    assert not w.correct(w.book.rerating("c1", 1500), line(1000), "adj3", audit())
    assert w.correct(w.book.correction("c1", 1500, 1200), line(1000), "adj4", audit())
    assert w.book.parts_of("c1") == ["c1", "adj"]  # adj2 taken back whole, newest first
    # finance voids the adjustment on rejection: no correction pays the line's shortfall again
    request = w.request_unfreeze("adj", audit(T0 + 7 * DAY))
    w.reject(request, True, audit(T0 + 8 * DAY, "no"))
    assert w.book.was_rejected("c1")
    assert w.book.rerating("c1", 5000).pay_fen == 0
    assert not w.correct(w.book.rerating("c1", 5000), line(1000), "adj5", audit())
    assert w.book.rerating("c1", 400).take_back_fen == 600  # taking back still works


def test_closed_ids_remember_card_lines_only() -> None:
    w = Wallet.open("A")
    w.accrue("card-line", line(800, order_id=None), audit())
    w.accrue("order-line", line(800), audit())
    assert not w.book.accepts("card-line")  # open: the same fact pays nothing twice
    w.reduce("card-line", 800, audit())
    w.reduce("order-line", 800, audit())
    assert w.book.closed == {"card-line"}
    assert not w.accrue("card-line", line(800, order_id=None), audit())
    assert w.book.accepts("order-line")  # an order completes once: no memory needed


def test_reductions_void_while_unreleased_and_claw_back_once_released() -> None:
    w = Wallet.open("A")
    w.accrue("c1", line(1000), audit())
    w.accrue("c2", line(1000), audit())
    request = w.request_unfreeze("c1", audit(T0 + 7 * DAY))
    released(w, "c2")
    partial = w.book.reduction("c1", 400)
    assert partial == LineEffect(
        "c1", 400, REQUESTED, CommissionStatus.VOIDED, REQUESTED, 600, None, None, None, None
    )
    whole = w.book.reduction("c1", 5000)
    assert whole is not None
    assert (whole.moved_fen, whole.status, whole.closes_request, whole.decision) == (
        1000,
        CommissionStatus.VOIDED,
        request,
        "VOIDED",
    )
    claw = w.book.reduction("c2", 300)
    assert claw is not None
    assert (claw.to_status, claw.status, claw.remaining_fen) == (
        CommissionStatus.CLAWED_BACK,
        APPROVED,
        700,
    )
    assert w.book.reduction("c2", 0) is None
    with pytest.raises(InvalidState):
        w.book.reduction("nope", 1)


def test_the_book_survives_a_snapshot_as_plain_data() -> None:
    w = Wallet.open("A")
    w.accrue("c1", line(1000), audit())
    w.accrue("c2", line(500, order_id=None), audit())
    w.request_unfreeze("c1", audit(T0 + 7 * DAY))
    w.reduce("c2", 500, audit())
    plain = orjson.loads(orjson.dumps(w.book, default=sorted))
    plain["lines"]["c1"]["releasable_at"] = datetime.fromisoformat(
        plain["lines"]["c1"]["releasable_at"]
    )
    plain = {k: set(v) if k in ("closed", "rejected") else v for k, v in plain.items()}
    assert CommissionBook.from_state(plain) == w.book


def test_the_shadow_wallet_keeps_the_same_book() -> None:
    """The simulation's shadow wallet: same decisions, same amounts, no events or statuses."""
    real, shadow = Wallet.open("A"), ShadowWallet("A")
    for w in (real, shadow):
        w.accrue("c1", line(1000), audit())
        w.accrue("c2", line(333), audit())
        w.accrue("adj", line(250, corrects="c1"), audit())
        w.refund("o-1", 2500, 10000, audit())
        w.take_back("c1", 400, audit())
        w.correct(w.book.rerating("c2", 400), line(333), "adj2", audit())
    amounts = {cid: ln.amount_fen for cid, ln in real.book.lines.items()}
    assert amounts == {cid: ln.amount_fen for cid, ln in shadow.book.lines.items()}
    # refund 25%: c1 1000 -> 750, c2 333 -> 250, adj 250 -> 187; take back 4.00 newest first:
    # adj 187 -> 0, c1 750 -> 537; c2 re-rated to 4.00: an adjustment of 1.50
    assert amounts == {"c1": 537, "c2": 250, "adj2": 150}
    assert {cid: s.amount_fen for cid, s in shadow.lines.items()} == {**amounts, "adj": 0}
    assert shadow.book.by_order == real.book.by_order
    assert shadow.book.adjustments == real.book.adjustments


def _all_subclasses(cls: type) -> list[type]:
    return [c for sub in cls.__subclasses__() for c in (sub, *_all_subclasses(sub))]


def test_every_lifecycle_event_declares_its_line_effect() -> None:
    lifecycle = {c for c in _all_subclasses(Wallet.LineEvent) if c.__module__ == "domain.wallet"}
    assert {c.__name__ for c in lifecycle} == {
        "CommissionAccrued",
        "UnfreezeRequested",
        "CommissionApproved",
        "UnfreezeApprovalRecorded",
        "UnfreezeRejected",
        "CommissionVoided",
        "CommissionClawedBack",
    }
    for cls in lifecycle:
        assert cls.line_effect is not Wallet.LineEvent.line_effect, cls.__name__
    others = {c for c in _all_subclasses(Wallet.BalanceEvent) if c.__module__ == "domain.wallet"}
    for cls in others - lifecycle - {Wallet.LineEvent}:
        assert not hasattr(cls, "line_effect"), cls.__name__  # money moves without a line


_BUCKET = {FROZEN: "frozen", REQUESTED: "unfreezing", APPROVED: "available"}
OPS = st.lists(
    st.tuples(
        st.sampled_from(
            ["accrue", "request", "approve", "approve", "reject", "void", "reduce", "take"]
        ),
        st.integers(0, 4),
        st.integers(1, 1500),
    ),
    max_size=40,
)


@given(OPS)
def test_line_effects_agree_with_the_wallet_on_a_random_history(ops) -> None:
    """Statuses derived from the declared effects only (as the views derive them) equal the
    wallet's own lines, and each effect starts from the status the line was in."""
    w, at = Wallet.open("A"), T0
    derived: dict[str, tuple[str, int]] = {}
    for op, n, amount in ops:
        at += DAY
        cid = f"c{n}"
        try:
            if op == "accrue":
                w.accrue(cid, line(amount, order_id=None if n % 2 else "o-1"), audit(at))
            elif op == "request":
                w.request_unfreeze(cid, audit(at + 30 * DAY))
            elif op in ("approve", "reject", "void"):
                request = w.book.line(cid).request_id or "none"
                if op == "approve":
                    # Two approvers from 7.00 on (maker-checker): first approvals are line
                    # events too, which move nothing.
                    approver = replace(audit(at), actor=f"finance-{amount % 2}")
                    w.approve(request, approver, ApprovalPolicy(700))
                else:
                    w.reject(request, op == "void", audit(at, "no"))
            elif op == "reduce":
                w.reduce(cid, amount, audit(at))
            else:
                w.take_back(cid, amount, audit(at))
        except LedgerError:
            continue
        for event in w.collect_events():
            if not isinstance(event, Wallet.LineEvent):
                continue
            effect = event.line_effect()
            before = derived.get(effect.commission_id)
            if effect.from_status is None:  # an order's id may open again once ended
                assert before is None or before[0] in ENDED
            else:
                assert before is not None
                assert before[0] == effect.from_status
            derived[effect.commission_id] = (effect.status, effect.remaining_fen)
    open_lines = {cid: (ln.status, ln.amount_fen) for cid, ln in w.book.lines.items()}
    assert {c: s for c, s in derived.items() if s[0] not in ENDED} == open_lines
    assert all(amount == 0 for status, amount in derived.values() if status in ENDED)
    for status, bucket in _BUCKET.items():
        in_status = sum(a for s, a in derived.values() if s == status)
        held = w.balances[bucket] - (w.balances["debt"] if bucket == "available" else 0)
        assert in_status == held, bucket
    assert set(BUCKETS) == set(w.balances)
