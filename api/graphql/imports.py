"""`settlementImports`: the carrier files imported, as known at asOf (read from the log)."""

import strawberry
from starlette.concurrency import run_in_threadpool

from api.graphql.reports import AsOf
from api.graphql.scalars import DateTime
from application.settlement_import import recorded_imports


@strawberry.type(description="A row of a carrier file that was not applied, and why.")
class ImportProblem:
    row: int = strawberry.field(description="The row's number in the file (the header is 1).")
    column: str | None = strawberry.field(description="The column as the file names it.")
    code: str
    message: str


@strawberry.type(description="A carrier settlement file as imported (by its content hash).")
class SettlementImport:
    file_hash: str
    file_name: str
    profile: str
    recorded_by: str
    effective_at: DateTime
    position: str = strawberry.field(description="The log position of the import's record.")
    rows: int
    applied: int
    unchanged: int = strawberry.field(description="Rows recorded before with the same data.")
    refused: int
    problems: list[ImportProblem] = strawberry.field(
        description="The refused rows' problems (the first 500; `refused` counts them all)."
    )


@strawberry.type
class ImportQueries:
    @strawberry.field(description="Carrier settlement files imported, newest first, as of asOf.")
    async def settlement_imports(
        self, info: strawberry.Info, as_of: AsOf = None, first: int = 10
    ) -> list[SettlementImport]:
        if not 1 <= first <= 100:
            raise ValueError("first must be between 1 and 100")
        pinned = await info.context.pin(as_of, None, info)
        found = await run_in_threadpool(recorded_imports, info.context.app.ledger, pinned.position)
        return [
            SettlementImport(
                file_hash=e.file_hash,
                file_name=e.file_name,
                profile=e.profile,
                recorded_by=e.actor,
                effective_at=e.effective_at,  # type: ignore[arg-type]
                position=str(position),
                rows=e.rows,
                applied=e.applied,
                unchanged=e.unchanged,
                refused=e.refused,
                problems=[
                    ImportProblem(row=p[0], column=p[1], code=p[2], message=p[3])
                    for p in e.problems
                ],
            )
            for position, e in found[:first]
        ]
