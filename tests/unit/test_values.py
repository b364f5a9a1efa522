"""Issue 9 (decision 0018): the values the ledger admits, decided once in domain/values.py, and
every command field checked through them before anything is stored."""

import typing
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from application.commands import Command, _checks
from application.use_cases import (
    ApproveUnfreezeRequests,
    CompleteOrder,
    DefineCommissionPlan,
    RecordCarrierSettlement,
    RefundOrder,
    RegisterAgent,
    ReleaseDueCommissions,
    TopUpDeposit,
)
from domain.card import Card
from domain.common import Audit
from domain.errors import (
    AmountTooLarge,
    BalanceLimitExceeded,
    BeforeSubjectExisted,
    FutureTime,
    InvalidInput,
    InvalidText,
    LedgerError,
    PlanRefused,
    TextTooLong,
)
from domain.levels import parse_levels
from domain.money import MAX_AMOUNT_FEN, MAX_BALANCE_FEN, MAX_TOTAL_FEN, require_lifetime_room
from domain.rules import parse_rules
from domain.values import ACTOR, CODE, KEY, NAME, REASON, Text, checker_for
from domain.wallet import Wallet

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
COMMANDS = sorted(Command.__subclasses__(), key=lambda c: c.__name__)
KINDS = [CODE, NAME, REASON, ACTOR, KEY]

# Every C0 control but the newlines, DEL, and the C1 controls.
CONTROLS = [chr(c) for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)] if chr(c) not in "\n\r"]


def audit(at: datetime = T, reason: str = "") -> Audit:
    return Audit("ops", at, reason)


# ---- texts -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS, ids=["code", "name", "reason", "actor", "key"])
@pytest.mark.parametrize("char", CONTROLS, ids=[f"U+{ord(c):04X}" for c in CONTROLS])
def test_no_text_admits_a_control_character(kind: Text, char: str) -> None:
    with pytest.raises(InvalidText, match=f"U\\+{ord(char):04X}") as info:
        kind.check(f"a{char}b", "f")
    assert (info.value.code, info.value.field) == ("INVALID_TEXT", "f")


@pytest.mark.parametrize("kind", KINDS, ids=["code", "name", "reason", "actor", "key"])
@pytest.mark.parametrize("surrogate", [chr(0xD800), chr(0xDFFF), f"a{chr(0xDC00)}b"])
def test_no_text_admits_a_lone_surrogate(kind: Text, surrogate: str) -> None:
    """JSON can carry "\\ud800"; UTF-8 (and so PostgreSQL) cannot."""
    with pytest.raises(InvalidText, match="surrogate"):
        kind.check(surrogate, "f")


def test_only_reasons_keep_their_newlines() -> None:
    assert REASON.check("line one\r\nline two\n", "reason") == "line one\r\nline two\n"
    for kind in (CODE, NAME, ACTOR, KEY):
        with pytest.raises(InvalidText):
            kind.check("a\nb", "f")


def test_codes_are_printable_and_trimmed_names_need_not_be() -> None:
    assert CODE.check("A-1 b/财务", "code") == "A-1 b/财务"
    for refused in ("a\u200bb", "a\u2028b", "a\u00a0b", "a\ue000b"):  # ZWSP, LS, NBSP, private
        with pytest.raises(InvalidText):
            CODE.check(refused, "code")
    with pytest.raises(InvalidInput, match="spaces"):
        CODE.check(" A", "code")
    assert NAME.check("Zoë 👩\u200d👩\u200d👧", "name")  # a joiner inside an emoji is a name's


@pytest.mark.parametrize(("kind", "bound"), [(CODE, 64), (NAME, 200), (REASON, 2000), (KEY, 200)])
def test_every_text_is_bounded(kind: Text, bound: int) -> None:
    assert kind.check("x" * bound, "f")
    with pytest.raises(TextTooLong) as info:
        kind.check("x" * (bound + 1), "f")
    assert info.value.code == "TEXT_TOO_LONG"


def test_a_900000_character_reason_is_refused() -> None:
    """Issue 9, finding 6: a 900,000-character reason was stored as a 900 KB event."""
    with pytest.raises(TextTooLong) as info:
        Audit("ops", T, "r" * 900_000)
    assert info.value.field == "reason"


def test_a_policy_fits_the_text_it_derives_from_stored_facts() -> None:
    """A policy quotes stored facts (a refund's reason) in its own reason: an old event carrying
    a NUL or a huge reason must not stop it, so the derived text is fitted, not refused."""
    derived = Audit.derived("system:policy", T, "order O refunded: " + "a\x00b" * 1000)
    assert len(derived.reason) == 2000
    assert "\x00" not in derived.reason
    assert derived.reason.endswith("…")


@given(st.text(max_size=30))
def test_fitting_always_gives_an_admitted_text(text: str) -> None:
    for kind in (REASON, NAME):
        fitted = kind.fit(text)
        if len(fitted) >= kind.min_length:
            assert kind.check(fitted, "f") == fitted


# ---- commands ----------------------------------------------------------------------------------


def test_every_field_of_every_command_has_a_value_type() -> None:
    """No command field can skip validation: its check is derived from its annotation."""
    assert len(COMMANDS) == 63  # every use case (a new one must appear here)
    for command in COMMANDS:
        assert [name for name, _ in _checks(command)] == [f.name for f in fields(command)]


def test_a_field_without_a_value_type_cannot_be_built() -> None:
    @dataclass(frozen=True)
    class Unbounded(Command[Any]):
        note: str
        audit: Audit
        key: str | None = None

    with pytest.raises(TypeError, match="no value type"):
        Unbounded("anything", audit())
    for plain in (str, int, object, float, dict[str, str]):
        with pytest.raises(TypeError):
            checker_for(plain)


@pytest.mark.parametrize(
    ("build", "field", "error"),
    [
        (lambda: RegisterAgent("P", "a\x00b", None, False, audit()), "name", InvalidText),
        (lambda: RegisterAgent("P\ud800", "a", None, False, audit()), "code", InvalidText),
        (lambda: RegisterAgent("P", "a", "Q\x1f", False, audit()), "parentCode", InvalidText),
        (
            lambda: RegisterAgent("P", "a", None, False, audit(), "k\x00"),
            "idempotencyKey",
            InvalidText,
        ),
        (lambda: RegisterAgent("P" * 65, "a", None, False, audit()), "code", TextTooLong),
        (lambda: TopUpDeposit("A", MAX_AMOUNT_FEN + 1, audit()), "amount", AmountTooLarge),
        (lambda: TopUpDeposit("A", True, audit()), "amount", LedgerError),
        (lambda: RefundOrder("O\x85", 100, audit(reason="r")), "orderId", InvalidText),
        (lambda: ApproveUnfreezeRequests(("ok", "x\x00"), audit()), "ids", InvalidText),
        (lambda: ApproveUnfreezeRequests(("id",) * 501, audit()), "ids", InvalidInput),
        (
            lambda: RecordCarrierSettlement(
                "R", "I", "2026-03", 1, "NORMAL", (True,), None, audit()
            ),
            "noArrears",
            InvalidInput,
        ),
        (
            lambda: RecordCarrierSettlement("R", "I", "2026-03", 1, "OK", (1, 1, 1), None, audit()),
            "noArrears",
            InvalidInput,
        ),
        (
            lambda: DefineCommissionPlan("p", T, [{"code": "r\x00", "kind": "FIXED"}], audit()),
            "rules",
            InvalidText,
        ),
    ],
)
def test_commands_refuse_bad_values_when_made(build: Any, field: str, error: type) -> None:
    with pytest.raises(error) as info:
        build()
    assert info.value.field == field


# ---- documents ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "error"),
    [
        ([{"code": "r", "kind": "FIXED", "amount": "5\x00"}], InvalidText),
        ([{"code": "r", "kind": "FIXED", "amount": "5", "packages": ["P\ud800"]}], InvalidText),
        ([{"code": "r", "kind": "FIXED", "amount": "5", "x" * 65: 1}], TextTooLong),
        ([{"code": "r", "kind": "FIXED", "amount": "5", "n": 2**60}], InvalidInput),
        ([{"code": "r", "kind": "FIXED", "amount": "5", "n": float("nan")}], InvalidInput),
        ([{"code": "r", "kind": "FIXED", "amount": "5", "packages": ["P"] * 6000}], InvalidInput),
        ([[[[[[[[[["deep"]]]]]]]]]], InvalidInput),
        ([{"code": f"r{i}", "kind": "FIXED", "amount": "1"} for i in range(101)], PlanRefused),
        ([{"code": "r", "kind": "FIXED", "amount": "10000000000"}], AmountTooLarge),
        ([{"code": " r", "kind": "FIXED", "amount": "5"}], PlanRefused),
    ],
)
def test_rules_documents_are_bounded(document: Any, error: type) -> None:
    with pytest.raises(error):
        parse_rules(document)


def test_a_stored_plan_loads_as_it_was_accepted() -> None:
    """Stored events always load: bounds tightened since apply to new documents only."""
    old = [{"code": " r", "kind": "FIXED", "amount": "99999999999999.00", "packages": ["P\x00"]}]
    [rule] = parse_rules(old, stored=True)
    assert (rule.code, rule.packages, rule.amount_fen) == (" r", ["P\x00"], 9_999_999_999_999_900)


def test_level_documents_are_bounded_and_stored_ladders_load() -> None:
    with pytest.raises(InvalidText):
        parse_levels([{"code": "G1", "name": "Gold\x00", "rank": 1}])
    with pytest.raises(InvalidInput):
        parse_levels([{"code": "G1", "name": "x" * 201, "rank": 1}])
    old = [{"code": "G1", "name": "Gold\x00", "rank": 1}]
    assert parse_levels(old, stored=True)[0].name == "Gold\x00"


# ---- money and balances ------------------------------------------------------------------------


def test_a_deposit_stays_within_the_balance_limit() -> None:
    """Issue 9, finding 2: top-ups crossed the bigint column; now the top-up that would take
    the deposit beyond MAX_BALANCE_FEN is refused, and the balance stays where it was."""
    wallet = Wallet.open("A")
    while wallet.balances["deposit"] + MAX_AMOUNT_FEN <= MAX_BALANCE_FEN:
        wallet.top_up(MAX_AMOUNT_FEN, audit())
    before = wallet.balances["deposit"]
    with pytest.raises(BalanceLimitExceeded) as info:
        wallet.top_up(MAX_AMOUNT_FEN, audit())
    assert (info.value.code, info.value.field) == ("BALANCE_LIMIT_EXCEEDED", "amount")
    assert wallet.balances["deposit"] == before <= MAX_BALANCE_FEN < 2**63
    with pytest.raises(BalanceLimitExceeded):
        wallet.refund_deposit("O", MAX_AMOUNT_FEN, audit())


def test_a_cards_recharges_stay_within_the_balance_limit() -> None:
    card = Card.assign("ICC1", "A", None, None, audit())
    card.total_recharge_fen = MAX_BALANCE_FEN - 100  # as a long history would have left it
    card.record_recharge(100, audit())
    with pytest.raises(BalanceLimitExceeded):
        card.record_recharge(1, audit())


def test_no_fact_counts_once_the_platform_totals_reach_their_limit() -> None:
    require_lifetime_room(MAX_TOTAL_FEN - 1, 0)
    for totals in ((MAX_TOTAL_FEN, 0), (0, MAX_TOTAL_FEN)):
        with pytest.raises(BalanceLimitExceeded):
            require_lifetime_room(*totals)
    assert 2**63 - MAX_TOTAL_FEN > 8_000_000 * MAX_AMOUNT_FEN  # room for facts in flight


# ---- time --------------------------------------------------------------------------------------


def test_an_effective_time_past_the_clock_and_its_tolerance_is_refused() -> None:
    tolerance = timedelta(minutes=5)
    CompleteOrder("O", audit(T + tolerance)).check_time(T, tolerance)
    with pytest.raises(FutureTime) as info:
        CompleteOrder("O", audit(T + timedelta(days=45))).check_time(T, tolerance)
    assert (info.value.code, info.value.field) == ("FUTURE_TIME", "occurredAt")


def test_a_release_is_never_later_than_the_clock() -> None:
    """Issue 9, finding 5: `now: 2099-01-01` released every held line at once."""
    tolerance = timedelta(minutes=5)
    ReleaseDueCommissions(audit(T)).check_time(T, tolerance)
    ReleaseDueCommissions(audit(T - timedelta(days=30))).check_time(T, tolerance)  # catching up
    for later in (T + timedelta(seconds=1), datetime(2099, 1, 1, tzinfo=UTC)):
        with pytest.raises(FutureTime) as info:
            ReleaseDueCommissions(audit(later)).check_time(T, tolerance)
        assert info.value.field == "now"


def test_an_activation_before_the_cards_assignment_is_refused() -> None:
    card = Card.assign("ICC1", "A", None, None, audit(T))
    with pytest.raises(BeforeSubjectExisted) as info:
        card.activate(audit(T - timedelta(days=1)))
    assert (info.value.code, info.value.field) == ("BEFORE_SUBJECT_EXISTED", "occurredAt")
    with pytest.raises(BeforeSubjectExisted):
        card.record_recharge(100, audit(T - timedelta(seconds=1)))
    card.activate(audit(T))


def test_type_hints_of_commands_resolve() -> None:
    for command in COMMANDS:
        assert typing.get_type_hints(command, include_extras=True)
