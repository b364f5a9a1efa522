"""Card management: carriers' reports (state, conditions, usage), package quotas, enterprise
customers and their pools, and calling off a placed order."""

from datetime import date

import strawberry
from starlette.concurrency import run_in_threadpool

from api.graphql.mutations.base import Outcome, audit_of, mutate, user_error
from api.graphql.scalars import DateTime, Money
from api.graphql.types import UserError
from application.results import (
    CardStateRecorded,
    EnterpriseRecorded,
    OrderCancelled,
    PackageQuotaSet,
)
from application.usage import UsageReport
from application.use_cases.card_management import (
    AssignEnterpriseCards,
    CreateEnterprise,
    RecordCardConditions,
    RecordCarrierCardState,
    SetPackageQuota,
    TopUpEnterprisePool,
)
from application.use_cases.orders import CancelOrder
from domain.errors import InvalidInput, LedgerError


@strawberry.input
class RecordCarrierCardStateInput:
    iccid: str
    carrier: str = strawberry.field(description="CMCC, CUCC or CTCC.")
    raw_state: str = strawberry.field(description="The carrier's own state code.")
    reported_at: DateTime
    report_id: str
    idempotency_key: str | None = None


@strawberry.input
class RecordCardConditionsInput:
    iccid: str
    carrier: str
    arrears: bool
    complaint: bool
    reported_at: DateTime
    report_id: str
    idempotency_key: str | None = None


@strawberry.type
class CardStatePayload:
    iccid: str | None
    state: str | None
    outcome: str | None = strawberry.field(
        description="APPLIED, UNCHANGED, OLDER (a newer report stands), REFUSED (our lifecycle"
        " does not allow the move; kept) or DUPLICATE (report id seen)."
    )
    carrier_state: str | None
    user_errors: list[UserError]

    @classmethod
    def of(cls, done: Outcome[CardStateRecorded]) -> "CardStatePayload":
        return cls(
            iccid=done.get(lambda r: r.iccid),
            state=done.get(lambda r: r.state),
            outcome=done.get(lambda r: r.outcome),
            carrier_state=done.get(lambda r: r.carrier_state),
            user_errors=done.errors,
        )


@strawberry.input
class UsageReportInput:
    iccid: str
    report_id: str
    bytes_used: str = strawberry.field(
        description="Bytes used in the period, in decimal digits (beyond GraphQL's 32-bit Int)."
    )
    reported_at: DateTime
    day: str | None = strawberry.field(default=None, description="YYYY-MM-DD (business day).")
    period_start: DateTime | None = None
    period_end: DateTime | None = None


@strawberry.input
class RecordUsageReportsInput:
    reports: list[UsageReportInput]


@strawberry.type
class UsageReportsPayload:
    accepted: int | None
    duplicates: int | None
    commands_decided: int | None
    user_errors: list[UserError]


@strawberry.input
class SetPackageQuotaInput:
    package_code: str
    quota_mb: int
    occurred_at: DateTime | None = None
    idempotency_key: str | None = None


@strawberry.type
class PackageQuotaPayload:
    package_code: str | None
    quota_mb: int | None
    user_errors: list[UserError]

    @classmethod
    def of(cls, done: Outcome[PackageQuotaSet]) -> "PackageQuotaPayload":
        return cls(
            package_code=done.get(lambda r: r.package_code),
            quota_mb=done.get(lambda r: r.quota_mb),
            user_errors=done.errors,
        )


@strawberry.input
class CreateEnterpriseInput:
    code: str
    name: str
    pool_quota_mb: int
    stop_mode: str = strawberry.field(description="STOP_ALL or STOP_OVER_LIMIT.")
    card_limit_mb: int | None = None
    occurred_at: DateTime | None = None
    idempotency_key: str | None = None


@strawberry.input
class AssignEnterpriseCardsInput:
    enterprise_code: str
    iccids: list[str]
    occurred_at: DateTime | None = None
    idempotency_key: str | None = None


@strawberry.input
class TopUpEnterprisePoolInput:
    enterprise_code: str
    amount_mb: int
    occurred_at: DateTime | None = None
    idempotency_key: str | None = None


@strawberry.type
class EnterprisePayload:
    enterprise_code: str | None
    pool_quota_mb: int | None
    commands_decided: int | None
    user_errors: list[UserError]

    @classmethod
    def of(cls, done: Outcome[EnterpriseRecorded]) -> "EnterprisePayload":
        return cls(
            enterprise_code=done.get(lambda r: r.enterprise_code),
            pool_quota_mb=done.get(lambda r: r.pool_quota_mb),
            commands_decided=done.get(lambda r: r.commands_decided),
            user_errors=done.errors,
        )


@strawberry.input
class CancelOrderInput:
    order_id: str
    reason: str
    occurred_at: DateTime | None = None
    idempotency_key: str | None = None


@strawberry.type
class CancelOrderPayload:
    order_id: str | None
    deposit_returned: Money | None
    user_errors: list[UserError]

    @classmethod
    def of(cls, done: Outcome[OrderCancelled]) -> "CancelOrderPayload":
        return cls(
            order_id=done.get(lambda r: r.order_id),
            deposit_returned=done.get(lambda r: r.deposit_returned_fen),
            user_errors=done.errors,
        )


def _usage_report(item: UsageReportInput) -> UsageReport:
    if not (item.bytes_used.isascii() and item.bytes_used.isdigit()) or len(item.bytes_used) > 16:
        raise InvalidInput("bytesUsed", "bytesUsed must be a whole number of bytes, in digits")
    try:
        day = date.fromisoformat(item.day) if item.day is not None else None
    except ValueError:
        raise InvalidInput("day", "day must be YYYY-MM-DD") from None
    return UsageReport(
        iccid=item.iccid,
        report_id=item.report_id,
        bytes_used=int(item.bytes_used),
        reported_at=item.reported_at,
        day=day,
        period_start=item.period_start,
        period_end=item.period_end,
    )


@strawberry.type
class CardManagementMutations:
    @strawberry.mutation
    async def record_carrier_card_state(
        self, info: strawberry.Info, input: RecordCarrierCardStateInput
    ) -> CardStatePayload:
        return await mutate(
            info,
            lambda: RecordCarrierCardState(
                iccid=input.iccid,
                carrier=input.carrier,
                raw_state=input.raw_state,
                reported_at=input.reported_at,
                report_id=input.report_id,
                audit=audit_of(info, input.reported_at, "carrier report"),
                key=input.idempotency_key,
            ),
            CardStatePayload.of,
        )

    @strawberry.mutation
    async def record_card_conditions(
        self, info: strawberry.Info, input: RecordCardConditionsInput
    ) -> CardStatePayload:
        return await mutate(
            info,
            lambda: RecordCardConditions(
                iccid=input.iccid,
                carrier=input.carrier,
                arrears=input.arrears,
                complaint=input.complaint,
                reported_at=input.reported_at,
                report_id=input.report_id,
                audit=audit_of(info, input.reported_at, "carrier report"),
                key=input.idempotency_key,
            ),
            CardStatePayload.of,
        )

    @strawberry.mutation(description="Usage rows in bulk (idempotent per report id).")
    async def record_usage_reports(
        self, info: strawberry.Info, input: RecordUsageReportsInput
    ) -> UsageReportsPayload:
        app = info.context.app
        actor = info.context.principal.audit(app.clock.now()).recorded_actor

        def work() -> UsageReportsPayload:
            try:
                reports = [_usage_report(item) for item in input.reports]
                done = app.record_usage_reports(
                    reports, actor, app.settings.mutation_catch_up_seconds
                )
            except LedgerError as exc:
                return UsageReportsPayload(
                    accepted=None,
                    duplicates=None,
                    commands_decided=None,
                    user_errors=[user_error(exc)],
                )
            return UsageReportsPayload(
                accepted=done.accepted,
                duplicates=done.duplicates,
                commands_decided=done.commands_decided,
                user_errors=[user_error(exc) for _, exc in done.refused],
            )

        return await run_in_threadpool(work)

    @strawberry.mutation
    async def set_package_quota(
        self, info: strawberry.Info, input: SetPackageQuotaInput
    ) -> PackageQuotaPayload:
        return await mutate(
            info,
            lambda: SetPackageQuota(
                package_code=input.package_code,
                quota_mb=input.quota_mb,
                audit=audit_of(info, input.occurred_at),
                key=input.idempotency_key,
            ),
            PackageQuotaPayload.of,
        )

    @strawberry.mutation
    async def create_enterprise(
        self, info: strawberry.Info, input: CreateEnterpriseInput
    ) -> EnterprisePayload:
        return await mutate(
            info,
            lambda: CreateEnterprise(
                code=input.code,
                name=input.name,
                pool_quota_mb=input.pool_quota_mb,
                card_limit_mb=input.card_limit_mb,
                stop_mode=input.stop_mode,
                audit=audit_of(info, input.occurred_at),
                key=input.idempotency_key,
            ),
            EnterprisePayload.of,
        )

    @strawberry.mutation
    async def assign_enterprise_cards(
        self, info: strawberry.Info, input: AssignEnterpriseCardsInput
    ) -> EnterprisePayload:
        return await mutate(
            info,
            lambda: AssignEnterpriseCards(
                enterprise_code=input.enterprise_code,
                iccids=tuple(input.iccids),
                audit=audit_of(info, input.occurred_at),
                key=input.idempotency_key,
            ),
            EnterprisePayload.of,
        )

    @strawberry.mutation
    async def top_up_enterprise_pool(
        self, info: strawberry.Info, input: TopUpEnterprisePoolInput
    ) -> EnterprisePayload:
        return await mutate(
            info,
            lambda: TopUpEnterprisePool(
                enterprise_code=input.enterprise_code,
                amount_mb=input.amount_mb,
                audit=audit_of(info, input.occurred_at),
                key=input.idempotency_key,
            ),
            EnterprisePayload.of,
        )

    @strawberry.mutation
    async def cancel_order(
        self, info: strawberry.Info, input: CancelOrderInput
    ) -> CancelOrderPayload:
        return await mutate(
            info,
            lambda: CancelOrder(
                order_id=input.order_id,
                audit=audit_of(info, input.occurred_at, input.reason),
                key=input.idempotency_key,
            ),
            CancelOrderPayload.of,
        )
