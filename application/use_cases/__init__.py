"""The ledger's use cases, by area: one frozen dataclass per command, deciding on the ledger."""

from application.use_cases.agents import (
    BindUpline,
    DefinePackage,
    RegisterAgent,
    SetCostPrice,
    SetRetailPrice,
)
from application.use_cases.card_management import (
    AssignEnterpriseCards,
    CreateEnterprise,
    DecideCardQuota,
    DecideEnterpriseQuota,
    RecordCardConditions,
    RecordCarrierCardState,
    SetPackageQuota,
    TopUpEnterprisePool,
)
from application.use_cases.cards import ActivateCard, AssignCard, RecordRecharge
from application.use_cases.commissions import (
    ApproveUnfreezeRequests,
    RejectUnfreezeRequests,
    ReleaseDueCommissions,
)
from application.use_cases.levels import DefineAgentLevels, SetAgentLevel
from application.use_cases.orders import CancelOrder, CompleteOrder, PlaceOrder, RefundOrder
from application.use_cases.plans import CorrectCommissionPlan, DefineCommissionPlan
from application.use_cases.settlements import RecordCarrierSettlement
from application.use_cases.wallets import RequestWithdrawal, SettleWithdrawal, TopUpDeposit

__all__ = [
    "ActivateCard",
    "ApproveUnfreezeRequests",
    "AssignCard",
    "AssignEnterpriseCards",
    "BindUpline",
    "CancelOrder",
    "CompleteOrder",
    "CorrectCommissionPlan",
    "CreateEnterprise",
    "DecideCardQuota",
    "DecideEnterpriseQuota",
    "DefineAgentLevels",
    "DefineCommissionPlan",
    "DefinePackage",
    "PlaceOrder",
    "RecordCardConditions",
    "RecordCarrierCardState",
    "RecordCarrierSettlement",
    "RecordRecharge",
    "RefundOrder",
    "RegisterAgent",
    "RejectUnfreezeRequests",
    "ReleaseDueCommissions",
    "RequestWithdrawal",
    "SetAgentLevel",
    "SetCostPrice",
    "SetPackageQuota",
    "SetRetailPrice",
    "SettleWithdrawal",
    "TopUpDeposit",
    "TopUpEnterprisePool",
]
