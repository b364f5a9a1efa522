"""Maker-checker (domain/approvals.py) and the identity aggregates (domain/identity.py)."""

from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta

import pytest

from domain.approvals import Approval, ApprovalPolicy
from domain.book import CommissionBook
from domain.common import Audit
from domain.errors import InvalidInput, InvalidState, SameApprover, SelfApproval
from domain.identity import ApiKey, User
from domain.wallet import Wallet
from tests.unit.test_book import line

T0 = datetime(2026, 3, 1, tzinfo=UTC)
POLICY = ApprovalPolicy(1_000_000)


def audit(actor: str, agent: str | None = None) -> Audit:
    return Audit(actor, T0, "", True, agent)


def test_two_different_approvers_from_the_threshold_on() -> None:
    assert [POLICY.approvers_needed(f) for f in (999_999, 1_000_000, 5_000_000)] == [1, 2, 2]
    big = Approval("r", "A", 1_000_000)
    first = big.approved_by(audit("f1"), POLICY)
    assert not first.complete(POLICY)
    with pytest.raises(SameApprover):
        first.approved_by(audit("f1"), POLICY)
    assert first.approved_by(audit("f2"), POLICY).complete(POLICY)
    assert Approval("r", "A", 999_999).approved_by(audit("f1"), POLICY).complete(POLICY)


def test_the_beneficiary_never_approves() -> None:
    with pytest.raises(SelfApproval):
        Approval("r", "A", 100).approved_by(audit("someone", agent="A"), POLICY)
    assert Approval("r", "A", 100).approved_by(audit("someone", agent="B"), POLICY)


def test_a_wallet_records_a_first_approval_then_completes() -> None:
    w = Wallet.open("A")
    w.accrue("c1", line(1_500_000), audit("policy"))
    request = w.request_unfreeze("c1", replace(audit("job"), effective_at=T0 + timedelta(days=30)))
    assert w.approve(request, audit("f1"), POLICY) is False
    assert w.book.lines["c1"].approvers == ("f1",)
    assert w.balances["unfreezing"] == 1_500_000
    with pytest.raises(SameApprover):
        w.approve(request, audit("f1"), POLICY)
    assert w.approve(request, audit("f2"), POLICY) is True
    assert w.balances["available"] == 1_500_000
    kinds = [type(e).__name__ for e in w.collect_events()]
    assert kinds[-2:] == ["UnfreezeApprovalRecorded", "CommissionApproved"]


def test_a_snapshot_taken_before_approvers_loads_with_none() -> None:
    w = Wallet.open("A")
    w.accrue("c1", line(100), audit("policy"))
    book = w.book
    old_line = {k: v for k, v in asdict(book.lines["c1"]).items() if k != "approvers"}
    state = {**vars(book), "lines": {"c1": old_line}}  # a line as stored before maker-checker
    assert CommissionBook.from_state(state).lines["c1"].approvers == ()


def test_users_and_keys() -> None:
    user = User.add("a-1", ["agent"], "A", audit("admin"))
    with pytest.raises(InvalidInput, match="agent code"):
        User.add("a-2", ["agent"], None, audit("admin"))
    with pytest.raises(InvalidInput, match="unknown role"):
        User.add("a-3", ["root"], None, audit("admin"))
    user.disable(audit("admin"))
    with pytest.raises(InvalidState):
        user.disable(audit("admin"))
    user.enable(audit("admin"))
    user.set_roles(["finance"], None, audit("admin"))
    assert (user.roles, user.agent_code, user.enabled) == (["finance"], None, True)
    key = ApiKey.issue(
        "fk_1", "carrier", ["settlements"], "v1:x:y", audit("admin"), speaks_for="CMCC"
    )
    key.revoke(audit("admin"))
    assert key.revoked
    with pytest.raises(InvalidInput, match="unknown scope"):
        ApiKey.issue("fk_2", "carrier", ["everything"], "v1:x:y", audit("admin"))


def test_an_agents_actor_is_recorded_with_its_agent() -> None:
    assert audit("li", agent="A").fields()["actor"] == "li (agent A)"
    assert audit("li").fields()["actor"] == "li"
