"""Refusals the domain can give. Each has a stable code that APIs return as data (userErrors)."""


class LedgerError(Exception):
    """A command was refused; nothing changed. `code` is stable, `field` names the input at fault."""

    code = "LEDGER_ERROR"

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class InvalidMoney(LedgerError):
    code = "INVALID_MONEY"


class InvalidRate(LedgerError):
    code = "INVALID_RATE"


class InvalidInput(LedgerError):
    code = "INVALID_INPUT"


class NotFound(LedgerError):
    code = "NOT_FOUND"


class AgentNotFound(NotFound):
    code = "AGENT_NOT_FOUND"

    def __init__(self, code: str, field: str = "agentCode") -> None:
        super().__init__(field, f"no agent with code '{code}'")


class PackageNotFound(NotFound):
    code = "PACKAGE_NOT_FOUND"

    def __init__(self, code: str, field: str = "packageCode") -> None:
        super().__init__(field, f"no package with code '{code}'")


class OrderNotFound(NotFound):
    code = "ORDER_NOT_FOUND"

    def __init__(self, code: str, field: str = "orderId") -> None:
        super().__init__(field, f"no order with id '{code}'")


class CardNotFound(NotFound):
    code = "CARD_NOT_FOUND"

    def __init__(self, code: str, field: str = "iccid") -> None:
        super().__init__(field, f"no card with ICCID '{code}'")


class PlanNotFound(NotFound):
    code = "PLAN_NOT_FOUND"

    def __init__(self, code: str, field: str = "code") -> None:
        super().__init__(field, f"no commission plan with code '{code}' (define it first)")


class UnfreezeRequestNotFound(NotFound):
    code = "UNFREEZE_REQUEST_NOT_FOUND"

    def __init__(self, code: str, field: str = "ids") -> None:
        super().__init__(field, f"no pending unfreeze request with id '{code}'")


class AlreadyExists(LedgerError):
    code = "ALREADY_EXISTS"


class CycleInAgentTree(LedgerError):
    code = "CYCLE_IN_AGENT_TREE"


class UplineAlreadyBound(LedgerError):
    code = "UPLINE_ALREADY_BOUND"


class PriceRefused(LedgerError):
    """Covers > factor x cost, below cost, and missing upline prices."""

    code = "PRICE_REFUSED"


class PriceAboveLimit(PriceRefused):
    code = "PRICE_ABOVE_LIMIT"


class InsufficientDeposit(LedgerError):
    code = "INSUFFICIENT_DEPOSIT"


class InsufficientFunds(LedgerError):
    code = "INSUFFICIENT_FUNDS"


class InvalidState(LedgerError):
    """The aggregate is not in a state that allows the command (e.g. completing a refunded order)."""

    code = "INVALID_STATE"


class PlanRefused(LedgerError):
    code = "PLAN_REFUSED"


class SelfApproval(LedgerError):
    """Maker-checker: the beneficiary (or anyone acting as that agent) approving its own money."""

    code = "SELF_APPROVAL"


class SameApprover(LedgerError):
    """Maker-checker: an approval that needs two different approvers, given twice by one."""

    code = "SAME_APPROVER"


class ConflictRetriesExhausted(LedgerError):
    """Others kept changing what the command reads: nothing was saved; sending it again (with
    the same idempotency key) is safe and will likely succeed."""

    code = "CONFLICT_RETRY"

    def __init__(self, attempts: int) -> None:
        super().__init__(
            None,
            f"the ledger changed under this request {attempts} times; nothing was saved:"
            " send it again",
        )


class IdempotencyKeyReused(LedgerError):
    code = "IDEMPOTENCY_KEY_REUSED"

    def __init__(self, key: str) -> None:
        super().__init__(
            "idempotencyKey", f"idempotency key '{key}' was already used with a different request"
        )


class InvalidText(InvalidInput):
    """Text the ledger cannot store faithfully: a control character, a lone surrogate."""

    code = "INVALID_TEXT"


class TextTooLong(InvalidInput):
    code = "TEXT_TOO_LONG"


class AmountTooLarge(InvalidMoney):
    """An amount beyond the largest one a single input may carry (domain/money.py)."""

    code = "AMOUNT_TOO_LARGE"


class BalanceLimitExceeded(LedgerError):
    """A running balance or total would leave the range the ledger keeps it in."""

    code = "BALANCE_LIMIT_EXCEEDED"


class FutureTime(LedgerError):
    """An effective time later than the server's clock allows."""

    code = "FUTURE_TIME"


class BeforeSubjectExisted(InvalidInput):
    """A fact dated before the agent, card or order it is about existed."""

    code = "BEFORE_SUBJECT_EXISTED"


class PayoutNotFound(LedgerError):
    code = "PAYOUT_NOT_FOUND"

    def __init__(self, withdrawal_id: str, field: str = "withdrawalId") -> None:
        super().__init__(field, f"no payout for withdrawal '{withdrawal_id}'")


class WithdrawalLimitExceeded(LedgerError):
    """A withdrawal refused by one of the runtime limits (domain/withdrawal_limits.py): the
    message names the limit and the amounts."""

    code = "WITHDRAWAL_LIMIT"


class BelowMinimum(WithdrawalLimitExceeded):
    code = "BELOW_MINIMUM"


class DailyLimitExceeded(WithdrawalLimitExceeded):
    code = "DAILY_LIMIT_EXCEEDED"


class MonthlyLimitExceeded(WithdrawalLimitExceeded):
    code = "MONTHLY_LIMIT_EXCEEDED"


class DailyCountExceeded(WithdrawalLimitExceeded):
    code = "DAILY_COUNT_EXCEEDED"


class FeeExceedsAmount(WithdrawalLimitExceeded):
    code = "FEE_EXCEEDS_AMOUNT"


class AccountFrozen(LedgerError):
    """Risk control: the agent's account is frozen; it accrues but cannot withdraw."""

    code = "ACCOUNT_FROZEN"


class WithdrawalNotFound(NotFound):
    code = "WITHDRAWAL_NOT_FOUND"

    def __init__(self, code: str, field: str = "ids") -> None:
        super().__init__(field, f"no withdrawal with id '{code}'")


class FileTooLarge(InvalidInput):
    """An uploaded file bigger (packed or unpacked) than a reader may be asked to open."""

    code = "FILE_TOO_LARGE"


class SheetTooLarge(InvalidInput):
    """A spreadsheet whose filled cells span more rows or columns than a settlement file has:
    its reader would size a grid from that span before reading a cell."""

    code = "SHEET_TOO_LARGE"
