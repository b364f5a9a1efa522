"""The request digests of idempotency keys recorded before typed commands (scheme 1).

Until decision 0014 each use case wrote its idempotency payload by hand. A key recorded then
keeps its digest; a retry under it is compared by the same payload, rebuilt here from the typed
command, so an old key still answers its first result. Keys recorded since use `digest()` of
the command (every field). Nothing but the ledger's replay of a scheme-1 key reads this module,
and its payloads must never change: they are what was stored.
"""

import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson

from application import use_cases as uc
from application.commands import Command
from domain.money import format_money

Payload = tuple[str, dict[str, Any]]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _occurred(c: Any) -> str | None:
    return c.audit.time_for_key()  # type: ignore[no-any-return]


# One entry per command: the name and payload that command's use case wrote by hand. topUpDeposit
# and assignCard left the time out (the drift decision 0014 fixed); that stays so for old keys.
_PAYLOADS: dict[type[Command[Any]], Callable[[Any], Payload]] = {
    uc.RegisterAgent: lambda c: (
        "registerAgent",
        {
            "code": c.code,
            "name": c.name,
            "parentCode": c.parent_code,
            "realNameVerified": c.real_name_verified,
        },
    ),
    uc.BindUpline: lambda c: ("bindUpline", {"code": c.code, "parentCode": c.parent_code}),
    uc.DefinePackage: lambda c: (
        "definePackage",
        {
            "code": c.code,
            "name": c.name,
            "kind": c.kind,
            "purchasePrice": c.purchase_price_fen,
            "periodMonths": c.period_months,
        },
    ),
    uc.SetCostPrice: lambda c: (
        "setCostPrice",
        {"agentCode": c.agent_code, "packageCode": c.package_code, "costPrice": c.cost_price_fen},
    ),
    uc.SetRetailPrice: lambda c: (
        "setRetailPrice",
        {
            "agentCode": c.agent_code,
            "packageCode": c.package_code,
            "retailPrice": c.retail_price_fen,
        },
    ),
    uc.DefineCommissionPlan: lambda c: (
        "defineCommissionPlan",
        {"code": c.code, "effectiveFrom": _iso(c.effective_from), "rules": c.rules},
    ),
    uc.CorrectCommissionPlan: lambda c: (
        "applyPlanCorrection",
        {
            "code": c.code,
            "from": _iso(c.start),
            "to": _iso(c.end),
            "rules": c.rules,
            "reason": c.audit.reason,
        },
    ),
    uc.PlaceOrder: lambda c: (
        "placeOrder",
        {
            "orderId": c.order_id,
            "packageCode": c.package_code,
            "agentCode": c.agent_code,
            "iccid": c.iccid,
            "buyerCode": c.buyer_code,
            "flow": c.flow,
            "occurredAt": _occurred(c),
        },
    ),
    uc.CompleteOrder: lambda c: (
        "completeOrder",
        {"orderId": c.order_id, "occurredAt": _occurred(c)},
    ),
    uc.RefundOrder: lambda c: (
        "refundOrder",
        {
            "orderId": c.order_id,
            "amount": c.amount_fen,
            "occurredAt": _occurred(c),
            "reason": c.audit.reason,
        },
    ),
    uc.TopUpDeposit: lambda c: (
        "topUpDeposit",
        {"agentCode": c.agent_code, "amount": c.amount_fen},
    ),
    uc.AssignCard: lambda c: (
        "assignCard",
        {"iccid": c.iccid, "agentCode": c.agent_code, "packageCode": c.package_code},
    ),
    uc.ActivateCard: lambda c: ("activateCard", {"iccid": c.iccid, "occurredAt": _occurred(c)}),
    uc.RecordRecharge: lambda c: (
        "recordRecharge",
        {"iccid": c.iccid, "amount": c.amount_fen, "occurredAt": _occurred(c)},
    ),
    uc.ReleaseDueCommissions: lambda c: ("releaseDueCommissions", {"now": _occurred(c)}),
    uc.ApproveUnfreezeRequests: lambda c: (
        "approveUnfreezeRequests",
        {"ids": list(c.request_ids), "void": False, "reason": c.audit.reason},
    ),
    uc.RejectUnfreezeRequests: lambda c: (
        "rejectUnfreezeRequests",
        {"ids": list(c.request_ids), "void": c.void, "reason": c.audit.reason},
    ),
    uc.RequestWithdrawal: lambda c: (
        "requestWithdrawal",
        {"agentCode": c.agent_code, "withdrawalId": c.withdrawal_id, "amount": c.amount_fen},
    ),
    uc.SettleWithdrawal: lambda c: (
        "settleWithdrawal",
        {
            "agentCode": c.agent_code,
            "withdrawalId": c.withdrawal_id,
            "paid": c.paid,
            "reason": c.audit.reason,
        },
    ),
    uc.DefineAgentLevels: lambda c: ("defineAgentLevels", {"levels": c.levels}),
    uc.SetAgentLevel: lambda c: (
        "setAgentLevel",
        {"agentCode": c.agent_code, "levelCode": c.level_code, "reason": c.audit.reason},
    ),
    uc.RecordCarrierSettlement: lambda c: (
        "recordCarrierSettlement",
        {
            "rowId": c.row_id,
            "iccid": c.iccid,
            "period": c.period,
            "totalCommission": (
                format_money(c.total_fen) if type(c.total_fen) is int else c.total_fen
            ),
            "networkStatus": c.network_status,
            "threeNo": list(c.three_no),
            "periodsUsed": c.periods_used,
            "occurredAt": _occurred(c),
        },
    ),
}


def legacy_digest(command: Command[Any]) -> str:
    """The digest scheme 1 computed for this request: sha256 of {op, payload}, keys sorted."""
    if type(command) not in _PAYLOADS:
        return ""  # a command scheme 1 never knew: never the request a scheme-1 key recorded
    name, payload = _PAYLOADS[type(command)](command)
    body = orjson.dumps({"op": name, "payload": payload}, option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.sha256(body).hexdigest()
