"""Which views each GraphQL field reads, in one table (decision 0019).

A read pins the newest position that the views it reads have all processed, refuses a position
they have not reached (POSITION_NOT_READY, naming them), and reports in the response's
extensions those of them that lag behind the log or have failed. A view that fails therefore
holds back only the fields that read it. Fields that read only the event log (replay,
simulatePlan, auditHead) are not listed.
"""

from typing import Any

import strawberry
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField

from projections.queries import VIEWS

_WALLET = ("directory", "wallet_balances")
READS: dict[str, tuple[str, ...]] = {
    # queries: a root field, and "root.child" where a nested field reads another view
    "agent": ("directory",),
    "agent.wallet": ("wallet_balances",),
    "agent.commissions": ("commissions",),
    "wallet": _WALLET,
    "commissions": ("commissions",),
    "commission": ("commissions",),
    "unfreezeRequests": ("commissions",),
    "platformTotals": ("platform_totals",),
    "commissionPlans": ("directory",),
    "teamPerformance": ("directory", "team_performance"),
    "activationReport": ("activations",),
    "platformMonth": ("platform_months",),
    "ranking": ("team_performance",),
    "withdrawals": ("withdrawals",),
    "withdrawal": ("withdrawals",),
    "payouts": ("payouts",),
    "payout": ("payouts",),
    "walletMovements": ("wallet_movements",),
    "statements": ("statements",),
    "statement": ("statements",),
    "card": ("cards",),
    "cards": ("cards",),
    "enterprise": ("cards",),
    # the runs are read from the log; running one reads these views (decision 0032)
    "runReconciliation": ("payouts", "statements", "wallet_movements", "withdrawals"),
    # mutations whose payload reads a view (the others answer from the command's result)
    "topUpDeposit": _WALLET,
    "requestWithdrawal": _WALLET,
    "settleWithdrawal": _WALLET,
    "releaseDueCommissions": ("commissions",),
    "approveUnfreezeRequests": ("commissions",),
    "rejectUnfreezeRequests": ("commissions",),
    "approveStatement": ("statements",),
    "rejectStatement": ("statements",),
    "voidStatement": ("statements",),
    "proposeCommissionAdjustment": _WALLET,
    "approveCommissionAdjustment": _WALLET,
    "rejectCommissionAdjustment": _WALLET,
}


def views_read(info: strawberry.Info | None) -> tuple[str, ...]:
    """The views the field being resolved reads (with its nested fields); every view when not
    known (a resolver that does not say which field it is)."""
    if info is None:
        return VIEWS
    root = info.field_name
    found = set(READS.get(root, ()))
    for field in info.selected_fields:
        for child in _names(field.selections):
            found.update(READS.get(f"{root}.{child}", ()))
    return tuple(sorted(found))


def _names(selections: list[Any]) -> set[str]:
    """The names of the fields selected, through fragments."""
    names: set[str] = set()
    for selection in selections:
        if isinstance(selection, SelectedField):
            names.add(selection.name)
        elif isinstance(selection, FragmentSpread | InlineFragment):
            names |= _names(selection.selections)
    return names
