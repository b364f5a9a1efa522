"""The release of commissions: the release job and finance's decisions on unfreeze requests."""

import strawberry

from api.graphql.mutations.base import Outcome, audit_of, mutate
from api.graphql.scalars import DateTime
from api.graphql.types import UnfreezeRequest, UserError
from application.results import UnfreezeRequested, UnfreezeRequestsDecided
from application.use_cases.commissions import (
    ApproveUnfreezeRequests,
    RejectUnfreezeRequests,
    ReleaseDueCommissions,
)


@strawberry.input
class ReleaseDueCommissionsInput:
    now: DateTime | None = None
    idempotency_key: str | None = None


@strawberry.input
class ApproveUnfreezeRequestsInput:
    ids: list[str]
    note: str | None = None
    idempotency_key: str | None = None


@strawberry.input
class RejectUnfreezeRequestsInput:
    ids: list[str]
    reason: str
    void: bool = False
    idempotency_key: str | None = None


@strawberry.type
class UnfreezeRequestsPayload:
    requests: list[UnfreezeRequest]
    user_errors: list[UserError]

    @classmethod
    def of(
        cls, done: Outcome[UnfreezeRequested] | Outcome[UnfreezeRequestsDecided]
    ) -> "UnfreezeRequestsPayload":
        """The requests the command created or decided, read just after it."""
        if done.result is None or done.at is None:
            return cls(requests=[], user_errors=done.errors)
        ids = list(done.result.request_ids)
        page = done.read.unfreeze_requests(done.at, None, None, len(ids), None, ids=ids)
        return cls(requests=[UnfreezeRequest.of(r, done.at) for r in page.rows], user_errors=[])


@strawberry.type
class CommissionMutations:
    @strawberry.mutation(
        description="Turns frozen commissions whose hold has elapsed at `now` "
        "into unfreeze requests awaiting finance's approval."
    )
    async def release_due_commissions(
        self, info: strawberry.Info, input: ReleaseDueCommissionsInput
    ) -> UnfreezeRequestsPayload:
        return await mutate(
            info,
            lambda: ReleaseDueCommissions(
                audit=audit_of(info, input.now, "hold period elapsed"), key=input.idempotency_key
            ),
            UnfreezeRequestsPayload.of,
        )

    @strawberry.mutation
    async def approve_unfreeze_requests(
        self, info: strawberry.Info, input: ApproveUnfreezeRequestsInput
    ) -> UnfreezeRequestsPayload:
        return await mutate(
            info,
            lambda: ApproveUnfreezeRequests(
                request_ids=tuple(input.ids),
                audit=audit_of(info, None, input.note or "approved"),
                key=input.idempotency_key,
            ),
            UnfreezeRequestsPayload.of,
        )

    @strawberry.mutation
    async def reject_unfreeze_requests(
        self, info: strawberry.Info, input: RejectUnfreezeRequestsInput
    ) -> UnfreezeRequestsPayload:
        return await mutate(
            info,
            lambda: RejectUnfreezeRequests(
                request_ids=tuple(input.ids),
                void=input.void,
                audit=audit_of(info, None, input.reason),
                key=input.idempotency_key,
            ),
            UnfreezeRequestsPayload.of,
        )
