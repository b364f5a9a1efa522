"""The event log's hash chain head, for a company to notarize elsewhere (decision 0017)."""

import strawberry
from starlette.concurrency import run_in_threadpool

from api.graphql.scalars import DateTime
from projections.chain import chain_head


@strawberry.type(
    description="The last event of the log and its hash, which covers every event before it. "
    "Keep (position, hash) somewhere Fenrun cannot write; `fenrun audit verify-chain "
    "--notarized POSITION:HASH` later proves the history up to it unchanged."
)
class AuditHead:
    position: str = strawberry.field(description="Log position of the last event (0: none).")
    hash: str = strawberry.field(description="SHA-256 of the chain up to it, 64 hex digits.")
    recorded_at: DateTime | None = strawberry.field(description="When that event was stored.")


@strawberry.type
class AuditQueries:
    @strawberry.field(description="The head of the event log's hash chain, now.")
    async def audit_head(self, info: strawberry.Info) -> AuditHead:
        head = await run_in_threadpool(chain_head, info.context.app.pool)
        return AuditHead(
            position=str(head.position),
            hash=head.hash.hex(),
            recorded_at=head.recorded_at,  # type: ignore[arg-type]
        )
