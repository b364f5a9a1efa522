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
from application.use_cases.cards import (
    ActivateCard,
    AssignCard,
    RecordRecharge,
    ReportCardConditions,
)
from application.use_cases.commissions import (
    ApproveUnfreezeRequests,
    RejectUnfreezeRequests,
    ReleaseDueCommissions,
)
from application.use_cases.levels import DefineAgentLevels, SetAgentLevel
from application.use_cases.orders import CancelOrder, CompleteOrder, PlaceOrder, RefundOrder
from application.use_cases.payees import (
    AddPayoutAccount,
    ChangeRealNameVerification,
    RemovePayoutAccount,
    SetPayeeEntityType,
    SetPayeePersonalData,
)
from application.use_cases.payouts import (
    CancelPayout,
    PayApprovedWithdrawals,
    RecordPayoutOutcome,
    RecordPayoutSubmission,
    ResubmitPayout,
)
from application.use_cases.plans import CorrectCommissionPlan, DefineCommissionPlan
from application.use_cases.reconciliation import DecideReconciliationItem, RecordReconciliation
from application.use_cases.settlements import (
    RecordCarrierSettlement,
    RecordSettlementImport,
    RecordSettlementRows,
)
from application.use_cases.wallets import RequestWithdrawal, SettleWithdrawal, TopUpDeposit
from application.use_cases.withdrawals import (
    ApproveWithdrawals,
    DecideAccountFreeze,
    MoveCommissionToDeposit,
    RejectWithdrawals,
    RequestAccountFreeze,
    SetWithdrawalLimits,
)

__all__ = [
    "ActivateCard",
    "AddPayoutAccount",
    "ApproveUnfreezeRequests",
    "ApproveWithdrawals",
    "AssignCard",
    "AssignEnterpriseCards",
    "BindUpline",
    "CancelOrder",
    "CancelPayout",
    "ChangeRealNameVerification",
    "CompleteOrder",
    "CorrectCommissionPlan",
    "CreateEnterprise",
    "DecideAccountFreeze",
    "DecideCardQuota",
    "DecideEnterpriseQuota",
    "DecideReconciliationItem",
    "DefineAgentLevels",
    "DefineCommissionPlan",
    "DefinePackage",
    "MoveCommissionToDeposit",
    "PayApprovedWithdrawals",
    "PlaceOrder",
    "RecordCardConditions",
    "RecordCarrierCardState",
    "RecordCarrierSettlement",
    "RecordPayoutOutcome",
    "RecordPayoutSubmission",
    "RecordRecharge",
    "RecordReconciliation",
    "RecordSettlementImport",
    "RecordSettlementRows",
    "RefundOrder",
    "RegisterAgent",
    "RejectUnfreezeRequests",
    "RejectWithdrawals",
    "ReleaseDueCommissions",
    "RemovePayoutAccount",
    "ReportCardConditions",
    "RequestAccountFreeze",
    "RequestWithdrawal",
    "ResubmitPayout",
    "SetAgentLevel",
    "SetCostPrice",
    "SetPackageQuota",
    "SetPayeeEntityType",
    "SetPayeePersonalData",
    "SetRetailPrice",
    "SetWithdrawalLimits",
    "SettleWithdrawal",
    "TopUpDeposit",
    "TopUpEnterprisePool",
]
