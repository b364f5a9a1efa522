"""The outbox as operators see it: each command for another system and how its delivery went."""

from enum import Enum

import strawberry
from starlette.concurrency import run_in_threadpool

from api.graphql.scalars import DateTime
from api.graphql.types import Connection, connection, page_size
from application.outbox import OutboxRow
from projections.queries import Page, decode_cursor, encode_cursor


@strawberry.enum
class OutboxStatus(Enum):
    PENDING = "PENDING"  # not delivered yet (waiting for its next attempt, or being sent)
    DELIVERED = "DELIVERED"
    SUPERSEDED = "SUPERSEDED"  # a newer command for the same key replaced it before delivery
    GAVE_UP = "GAVE_UP"  # its attempts ran out: an operator looks at lastError


@strawberry.type(description="A command for another system, written with its decision.")
class OutboxCommand:
    command_id: str = strawberry.field(description="Sent with every attempt: receivers dedupe.")
    kind: str
    key: str = strawberry.field(description="What it is about (a payout, a card).")
    payload: str = strawberry.field(description="What is sent, as JSON text.")
    position: str | None = strawberry.field(description="The log position of its decision.")
    status: OutboxStatus
    attempts: int
    next_attempt_at: DateTime
    last_error: str | None
    answer: str | None = strawberry.field(description="The receiver's answer, as JSON text.")
    superseded_by: str | None
    created_at: DateTime
    delivered_at: DateTime | None

    @classmethod
    def of(cls, row: OutboxRow) -> "OutboxCommand":
        return cls(
            command_id=row.command_id,
            kind=row.kind,
            key=row.key,
            payload=row.payload,
            position=None if row.position is None else str(row.position),
            status=OutboxStatus(row.status),
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at,
            last_error=row.last_error,
            answer=row.answer,
            superseded_by=row.superseded_by,
            created_at=row.created_at,
            delivered_at=row.delivered_at,
        )


@strawberry.type
class OutboxQueries:
    @strawberry.field(description="Commands in the outbox, oldest first (admins, operators).")
    async def outbox_commands(
        self,
        info: strawberry.Info,
        kind: str | None = None,
        status: OutboxStatus | None = None,
        first: int = 20,
        after: str | None = None,
    ) -> Connection[OutboxCommand]:
        size = page_size(info, first)
        start = int(decode_cursor(after, 1)[0]) if after else 0
        rows = await run_in_threadpool(
            info.context.app.outbox.rows,
            kind,
            status.value if status else None,
            None,
            size + 1,
            start,
        )
        page = Page([{"row": r} for r in rows[:size]], len(rows) > size)
        return connection(  # type: ignore[no-any-return]
            page, lambda r: OutboxCommand.of(r["row"]), lambda r: encode_cursor(r["row"].id), after
        )
