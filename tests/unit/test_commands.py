"""Typed commands (decision 0014): the idempotency digest covers every field of every command,
results round-trip through their stored form, and each command is a Ledger use case."""

import typing
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta
from types import NoneType, UnionType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from application.commands import Command
from application.ledger import Ledger
from application.legacy_digests import legacy_digest
from application.results import RESULTS, from_record, to_record
from application.use_cases.cards import AssignCard
from application.use_cases.orders import PlaceOrder
from application.use_cases.wallets import TopUpDeposit
from domain.common import Audit
from domain.idempotency import IdempotencyKey, typed_v1_result
from domain.values import Amount, Document, Text, Whole

COMMANDS = sorted(Command.__subclasses__(), key=lambda c: c.__name__)
T = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

TIMES = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
# Texts every kind admits (no control characters, no lone surrogates), and codes: printable.
TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=6)
CODE = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Cf", "Co", "Cn", "Zl", "Zp", "Zs")),
    min_size=1,
    max_size=6,
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-1000, 1000) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(CODE, inner, max_size=3),
    max_leaves=6,
)
AUDITS = st.builds(
    Audit, actor=TEXT.filter(bool), effective_at=TIMES, reason=TEXT
)  # time_given=True: a defaulted "now" is left out of the digest on purpose (below)


def kind_strategy(kind: object) -> st.SearchStrategy[Any]:
    """Values a field's value type (domain/values.py) admits."""
    if isinstance(kind, Text):
        return CODE if kind.code else TEXT.filter(lambda t: len(t) >= kind.min_length)
    if isinstance(kind, Amount):
        return st.integers(0, 10**9)
    if isinstance(kind, Whole):
        return st.integers(kind.low, kind.high)
    assert isinstance(kind, Document)
    return JSON


def strategy(annotation: Any) -> st.SearchStrategy[Any]:
    """Values of a command field's type."""
    if annotation is Audit:
        return AUDITS
    if typing.get_origin(annotation) is typing.Annotated:
        return kind_strategy(annotation.__metadata__[0])
    if typing.get_origin(annotation) in (typing.Union, UnionType):
        return st.one_of(*(strategy(a) for a in typing.get_args(annotation)))
    if typing.get_origin(annotation) is tuple:
        args = typing.get_args(annotation)
        if args[-1] is Ellipsis:
            return st.lists(strategy(args[0]), max_size=3).map(tuple)
        return st.tuples(*(strategy(a) for a in args))
    simple: dict[Any, st.SearchStrategy[Any]] = {
        bool: st.booleans(),
        datetime: TIMES,
        NoneType: st.none(),
    }
    return simple[annotation]


def field_strategies(cls: type) -> dict[str, st.SearchStrategy[Any]]:
    hints = typing.get_type_hints(cls, include_extras=True)
    return {f.name: strategy(hints[f.name]) for f in fields(cls)}


@st.composite
def command_and_change(draw: st.DrawFn) -> tuple[Command[Any], str, object]:
    cls = draw(st.sampled_from(COMMANDS))
    values = field_strategies(cls)
    command = draw(st.builds(cls, **values))
    name = draw(st.sampled_from([f for f in values if f != "key"]))
    old = getattr(command, name)
    new = draw(values[name].filter(lambda v: v != old))
    return command, name, new


def test_every_command_is_a_ledger_use_case_with_a_legacy_payload() -> None:
    # 57 of the ledger's (payees, withdrawal review, payouts, statements, carrier files, cards, reconciliation), 6 of identity
    assert len(COMMANDS) == 63
    bound = {
        name: getattr(Ledger, name).__name__
        for name in dir(Ledger)
        if getattr(getattr(Ledger, name), "__name__", None) in {c.__name__ for c in COMMANDS}
    }
    assert sorted(bound.values()) == [c.__name__ for c in COMMANDS]
    for cls in COMMANDS:
        names = [f.name for f in fields(cls) if f.name not in cls.added_fields]
        assert names[-2:] in (["audit", "key"], ["key", "expected_version"])
        assert all(f.kw_only for f in fields(cls) if f.name in cls.added_fields)


def test_a_field_added_later_is_left_out_of_the_digest_while_unset() -> None:
    """Requests recorded before RegisterAgent had entity_type keep their digest (0014)."""
    from application.use_cases.agents import RegisterAgent

    old = RegisterAgent("A", "A", None, True, Audit("ops", T))
    assert (
        old.digest()
        == RegisterAgent("A", "A", None, True, Audit("ops", T), entity_type=None).digest()
    )
    assert old.digest() != replace(old, entity_type="COMPANY").digest()


@settings(max_examples=500)
@given(command_and_change())
def test_changing_any_field_of_any_command_changes_its_digest(case: Any) -> None:
    command, name, new = case
    changed = replace(command, **{name: new})
    assert changed.digest() != command.digest(), (type(command).__name__, name)


@given(st.sampled_from(COMMANDS).flatmap(lambda cls: st.builds(cls, **field_strategies(cls))))
def test_equal_commands_give_equal_digests(command: Command[Any]) -> None:
    twin = type(command)(**{f.name: getattr(command, f.name) for f in fields(command)})
    assert twin.digest() == command.digest()
    assert replace(command, key="another key").digest() == command.digest()  # the key is not


def test_a_defaulted_now_stays_out_of_the_digest() -> None:
    """A retry without an explicit time carries another "now": the same request (0006)."""
    now = Audit("ops", T, "", time_given=False)
    later = Audit("ops", T + timedelta(seconds=5), "", time_given=False)
    assert TopUpDeposit("A", 100, now).digest() == TopUpDeposit("A", 100, later).digest()
    given_time = Audit("ops", T, "")
    assert TopUpDeposit("A", 100, now).digest() != TopUpDeposit("A", 100, given_time).digest()


def test_the_time_is_part_of_every_digest_now() -> None:
    """The drift decision 0014 fixed: topUpDeposit and assignCard left occurredAt out."""
    first, other = Audit("ops", T), Audit("ops", T + timedelta(hours=1))
    assert TopUpDeposit("A", 100, first).digest() != TopUpDeposit("A", 100, other).digest()
    card = AssignCard("ICC", "A", None, first)
    assert card.digest() != replace(card, audit=other).digest()


def test_digests_are_stable() -> None:
    """Keys recorded under scheme 2 must keep matching their retries: the canonical form of a
    command may never change (a new form would need scheme 3, like decision 0014's scheme 1).
    The pinned value is sha256 of the compact, key-sorted JSON {"command", "fields"}."""
    order = PlaceOrder("O1", "P", "A", None, "cust", "CUSTOMER_PAYS", Audit("ops", T, "why"))
    assert order.digest() == ("247516bd08c5c1a23a77ba0255e8a8c9f9282c97346179a6742c9f0ef062935e")


def test_legacy_digests_match_what_the_old_code_stored() -> None:
    """Hashes stored by the hand-written payloads (captured from the code before 0014)."""
    at = Audit("ops", T)
    assert legacy_digest(TopUpDeposit("A", 10000, at)) == (
        "8314d8eee7944a2ff7c7140a6e4fa0334f409420229a0806dd012dea0c4c0a69"
    )
    assert legacy_digest(PlaceOrder("O1", "P", "A", None, "c", "CUSTOMER_PAYS", at)) == (
        "c6754a6c991aadf73c1b43064c4226f5e97c0ff1f0a578d2b5007bf4a18ea456"
    )
    now = Audit("ops", T, "", time_given=False)
    assert legacy_digest(AssignCard("ICC1", "A", "P", now)) == (
        "c7a4d900c042ea279d323a1b13c114ee53a55b51f3be007e6dfdc056e2c3a087"
    )


@pytest.mark.parametrize("cls", list(RESULTS.values()), ids=list(RESULTS))
def test_results_round_trip_through_their_stored_form(cls: type) -> None:
    values = {
        f.name: ("a", "b")
        if "ids" in f.name or "codes" in f.name
        else 1
        if f.name.endswith("fen") or f.name == "version"
        else "x"
        for f in fields(cls)
    }
    result = cls(**values)
    record = to_record(result)
    assert record["type"] == cls.__name__
    stored = {k: list(v) if isinstance(v, tuple) else v for k, v in record.items()}
    assert from_record(stored) == result


def test_a_v1_result_becomes_its_typed_record() -> None:
    assert typed_v1_result({"agentCode": "A", "depositFen": 600}) == {
        "type": "DepositToppedUp",
        "agent_code": "A",
        "deposit_fen": 600,
    }
    assert from_record(typed_v1_result({"ids": ["r1"]})) == from_record(
        {"type": "UnfreezeRequestsDecided", "request_ids": ["r1"]}
    )
    with pytest.raises(ValueError, match="unknown shape"):
        typed_v1_result({"somethingElse": 1})


def test_a_v1_event_upcasts_to_scheme_1() -> None:
    state: dict[str, Any] = {"key": "k", "request_hash": "h", "result": {"orderId": "O1"}}
    IdempotencyKey.Used.upcast_v1_v2(state)
    assert state["scheme"] == 1
    assert state["result"] == {"type": "OrderCompleted", "order_id": "O1"}
