"""Idempotency keys recorded before typed commands (decision 0014) still answer their retries.

tests/data/idempotency_keys_v1.json holds the 22 `IdempotencyKey.Used` states the code before
this change stored for the requests below (one per use case): class_version 1, the API's
camelCase results, digests of the hand-written payloads. Loaded into a fresh log, each retry
gets its first result back as a typed value and changes nothing; another request is refused.
"""

import json
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from eventsourcing.persistence import StoredEvent

from application import use_cases as uc
from application.commands import Command
from application.results import (
    AgentLevelSet,
    AgentRegistered,
    CardRecorded,
    CostPriceSet,
    DepositToppedUp,
    LevelsDefined,
    OrderCompleted,
    OrderPlaced,
    OrderRefunded,
    PackageDefined,
    PlanVersionRecorded,
    RechargeRecorded,
    RetailPriceSet,
    SettlementRecorded,
    UnfreezeRequested,
    UnfreezeRequestsDecided,
    UplineBound,
    WithdrawalRecorded,
)
from application.use_cases import identity, payees, payouts, statements, withdrawals
from application.use_cases.identity import AddUser
from application.use_cases.settlements import RecordSettlementImport, RecordSettlementRows
from domain.common import Audit, aggregate_id
from domain.errors import IdempotencyKeyReused
from domain.idempotency import IdempotencyKey
from tests.conftest import ROOT

IDENTITY = identity.__name__

T = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
RULES = [{"code": "pct", "kind": "PERCENTAGE", "rate": "5%", "holdDays": 0}]
FIX = [{"code": "pct", "kind": "PERCENTAGE", "rate": "6%", "holdDays": 0}]
LEVELS = [
    {"code": "G1", "name": "Silver", "rank": 1},
    {"code": "G2", "name": "Gold", "rank": 2, "conditions": {"ownSales": "100.00"}},
]
R1, R2, R3 = (
    "c529c2e8-6e5b-5be8-b16a-e647e385c9ca",
    "30dabe88-00ab-5d5c-b82c-fecabe301230",
    "83585f0a-3aab-5fc3-b190-d07885a25742",
)


def at(days: int = 0, reason: str = "", given: bool = True) -> Audit:
    return Audit("ops", T + timedelta(days=days), reason, given)


# The requests as first made, and what each answered (then as camelCase dicts).
RETRIES: dict[str, tuple[Command[Any], object]] = {
    "k-register": (
        uc.RegisterAgent("A", "Agent A", None, True, at(), "k-register"),
        AgentRegistered("A"),
    ),
    "k-bind": (uc.BindUpline("B", "A", at(0, "joined"), "k-bind"), UplineBound("B", "A")),
    "k-package": (
        uc.DefinePackage("P", "Traffic", "TRAFFIC", 5000, 1, at(), "k-package"),
        PackageDefined("P"),
    ),
    "k-cost": (uc.SetCostPrice("A", "P", 6000, at(), "k-cost"), CostPriceSet("A", "P", 6000)),
    "k-retail": (
        uc.SetRetailPrice("A", "P", 9000, at(), "k-retail"),
        RetailPriceSet("A", "P", 9000),
    ),
    "k-plan": (
        uc.DefineCommissionPlan(
            "plan", T - timedelta(days=5), RULES, at(0, "first plan"), "k-plan"
        ),
        PlanVersionRecorded("plan", 1),
    ),
    "k-place": (
        uc.PlaceOrder("O1", "P", "A", None, "cust", "CUSTOMER_PAYS", at(1), "k-place"),
        OrderPlaced("O1", 9000),
    ),
    "k-complete": (uc.CompleteOrder("O1", at(1), "k-complete"), OrderCompleted("O1")),
    "k-refund": (
        uc.RefundOrder("O1", 1000, at(2, "partly returned"), "k-refund"),
        OrderRefunded("O1", 1000),
    ),
    "k-topup": (uc.TopUpDeposit("A", 10000, at(2), "k-topup"), DepositToppedUp("A", 10000)),
    "k-assign": (
        uc.AssignCard("ICC1", "A", "N", at(2, "", given=False), "k-assign"),
        CardRecorded("ICC1"),
    ),
    "k-activate": (uc.ActivateCard("ICC1", at(3), "k-activate"), CardRecorded("ICC1")),
    "k-recharge": (
        uc.RecordRecharge("ICC1", 6000, at(3), "k-recharge"),
        RechargeRecorded("ICC1", 6000),
    ),
    "k-release": (
        uc.ReleaseDueCommissions(at(4, "hold period elapsed"), "k-release"),
        UnfreezeRequested((R1, R2, R3)),
    ),
    "k-approve": (
        uc.ApproveUnfreezeRequests((R1,), at(5, "approved"), "k-approve"),
        UnfreezeRequestsDecided((R1,)),
    ),
    "k-reject": (
        uc.RejectUnfreezeRequests((R2,), True, at(5, "documents missing"), "k-reject"),
        UnfreezeRequestsDecided((R2,)),
    ),
    "k-withdraw": (
        uc.RequestWithdrawal("A", "W1", 100, at(6), "k-withdraw"),
        WithdrawalRecorded("A", "W1"),
    ),
    "k-settle": (
        uc.SettleWithdrawal("A", "W1", True, at(6, "paid by bank"), "k-settle"),
        WithdrawalRecorded("A", "W1"),
    ),
    "k-levels": (
        uc.DefineAgentLevels(LEVELS, at(6, "ladder"), "k-levels"),
        LevelsDefined(("G1", "G2")),
    ),
    "k-level": (
        uc.SetAgentLevel("A", "G1", at(6, "promoted"), "k-level"),
        AgentLevelSet("A", "G1"),
    ),
    "k-correct": (
        uc.CorrectCommissionPlan(
            "plan",
            FIX,
            T - timedelta(days=5),
            T + timedelta(days=3),
            at(7, "rate fix"),
            "k-correct",
        ),
        PlanVersionRecorded("plan", 2),
    ),
    "carrier-settlement:R1": (
        uc.RecordCarrierSettlement(
            "R1", "ICC1", "2026-01", 5000, "NORMAL", (True, True, True), 2, at(8)
        ),
        SettlementRecorded("R1", 2000, 3000),
    ),
}


def stored_v1() -> dict[str, dict[str, Any]]:
    path = ROOT / "tests" / "data" / "idempotency_keys_v1.json"
    return json.loads(path.read_text())["states"]


def load_v1(ledger: Any) -> None:
    ledger.recorder.insert_events(
        [
            StoredEvent(
                aggregate_id("idempotency", key),
                1,
                "domain.idempotency:IdempotencyKey.Used",
                orjson.dumps(state),
            )
            for key, state in stored_v1().items()
        ]
    )


def another(command: Command[Any]) -> Command[Any]:
    """The same command with its first field changed (a field every old payload carried)."""
    first = fields(command)[0]  # type: ignore[arg-type]
    value = getattr(command, first.name)
    if isinstance(value, Audit):
        changed: object = replace(value, effective_at=value.effective_at + timedelta(hours=1))
    elif isinstance(value, tuple):
        changed = (*value, "other")
    elif isinstance(value, list):
        changed = [*value, {"code": "other"}]
    else:
        changed = f"{value}-other"
    return replace(command, **{first.name: changed}, key=command.idempotency_key)  # type: ignore[type-var]


# Commands added after scheme 2 (scheme 1 never knew them: no v1 key can name them).
AFTER_SCHEME_2 = {
    "ReportCardConditions",
    "RecordCarrierAnswer",
    "RecordReconciliation",
    "DecideReconciliationItem",
    "CancelOrder",
    "RecordCarrierCardState",
    "RecordCardConditions",
    "SetPackageQuota",
    "CreateEnterprise",
    "AssignEnterpriseCards",
    "TopUpEnterprisePool",
    "DecideCardQuota",
    "DecideEnterpriseQuota",
}


def test_every_use_case_has_a_stored_v1_key() -> None:
    assert set(stored_v1()) == set(RETRIES)
    # Every command that existed when scheme 1 was recorded; identity's, withdrawal review's,
    # payees', payouts' and statements' came after it, and carrier files' (issue 13).
    later = {IDENTITY, *(m.__name__ for m in (withdrawals, payees, payouts, statements))}
    files = {RecordSettlementRows, RecordSettlementImport}
    before_scheme_2 = {
        c
        for c in Command.__subclasses__()
        if c.__module__ not in later and c not in files and c.__name__ not in AFTER_SCHEME_2
    }
    assert {type(c) for c, _ in RETRIES.values()} == before_scheme_2
    assert len(before_scheme_2) == 22


def test_a_v1_key_reused_by_a_later_command_is_refused(fenrun) -> None:
    """A command that has no scheme-1 payload cannot be the request a v1 key recorded."""
    load_v1(fenrun.ledger)
    later = AddUser("u", ("auditor",), None, Audit("ops", T), key="k-release")
    with pytest.raises(IdempotencyKeyReused):
        fenrun.ledger.execute(later)


def test_a_v1_key_loads_typed_and_marked_scheme_1(fenrun) -> None:
    load_v1(fenrun.ledger)
    key = fenrun.ledger.repository.get(aggregate_id("idempotency", "k-release"))
    assert isinstance(key, IdempotencyKey)
    assert key.scheme == 1
    assert key.result == {"type": "UnfreezeRequested", "request_ids": [R1, R2, R3]}


@pytest.mark.parametrize("key", sorted(RETRIES))
def test_a_retry_under_a_v1_key_gets_its_first_result(fenrun, key: str) -> None:
    load_v1(fenrun.ledger)
    head = fenrun.read.log_head()
    command, first = RETRIES[key]
    assert fenrun.ledger.execute(command) == first
    with pytest.raises(IdempotencyKeyReused):
        fenrun.ledger.execute(another(command))
    assert fenrun.read.log_head() == head  # nothing recorded, nothing decided again


def test_v1_keys_keep_the_payload_they_were_recorded_with(fenrun) -> None:
    """topUpDeposit's old payload had no time: an old key still accepts a retry at another
    time (it cannot tell), while a key recorded now refuses it (test_commands.py)."""
    load_v1(fenrun.ledger)
    command, first = RETRIES["k-topup"]
    later = replace(command.audit, effective_at=command.audit.effective_at + timedelta(days=1))
    assert fenrun.ledger.execute(replace(command, audit=later)) == first  # type: ignore[type-var]
