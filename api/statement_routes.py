"""GET /v1/statements/{id}.pdf and .xlsx: the 对账凭证 of one statement (or the same as Excel), for the callers who may read the
`statement` query (its entry in the policy table: staff, and agents for their own subtree)."""

import io
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api.auth.principal import Principal
from api.auth.web import authenticate
from api.exports.statements import write_statement
from api.graphql.policy import POLICY, grant
from api.statement_pdf import render
from projections.queries import Pinned, PositionNotReady
from projections.statement_queries import StatementReads

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
router = APIRouter(prefix="/v1", tags=["statements"])


async def _readable(
    request: Request, statement_id: str, position: int | None, as_of: datetime | None
) -> tuple[Principal, dict[str, Any], Pinned]:
    """The statement at the pinned position, if the caller may read it (the `statement` field's
    entry in the policy table: staff, and agents for their own subtree)."""
    principal = await authenticate(request)
    how = grant(POLICY[("Query", "statement")], principal)
    if how is None:
        raise HTTPException(403, f"{principal.subject} may not read statements")
    fenrun = request.app.state.fenrun
    try:
        pinned = await run_in_threadpool(fenrun.read.pin, as_of, position, ("statements",))
    except PositionNotReady as exc:
        raise HTTPException(409, str(exc)) from None
    row = await run_in_threadpool(
        StatementReads(fenrun.read).statement, statement_id, pinned.position
    )
    if row is None:
        raise HTTPException(404, f"no statement {statement_id} at position {pinned.position}")
    if how == "agent":
        subtree = await run_in_threadpool(fenrun.read.subtree, principal.agent_code)
        if row["agent_code"] not in subtree:
            raise HTTPException(403, "this belongs to an agent outside your downline")
    return principal, row, pinned


RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not authenticated"},
    403: {"description": "Not a statement of the caller's subtree, or no role to read it"},
    404: {"description": "No such statement at that position"},
}


@router.get(
    "/statements/{statement_id}.pdf",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}, "description": "The 对账凭证"},
        **RESPONSES,
    },
)
async def statement_pdf(
    request: Request,
    statement_id: str,
    position: Annotated[int | None, Query(ge=0, description="The log position to read at.")] = None,
    as_of: Annotated[datetime | None, Query(alias="asOf")] = None,
) -> Response:
    """The statement as known at `position` (or `asOf`, default: now), as a PDF that says the
    log position it was made at. Bearer token as for GraphQL."""
    _, row, pinned = await _readable(request, statement_id, position, as_of)
    pdf = await run_in_threadpool(render, row, pinned.position, pinned.as_of)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="statement-{statement_id}.pdf"',
            "X-Fenrun-Position": str(pinned.position),
        },
    )


@router.get(
    "/statements/{statement_id}.xlsx",
    response_class=Response,
    responses={200: {"content": {XLSX: {}}, "description": "The statement as Excel"}, **RESPONSES},
)
async def statement_xlsx(
    request: Request,
    statement_id: str,
    position: Annotated[int | None, Query(ge=0, description="The log position to read at.")] = None,
    as_of: Annotated[datetime | None, Query(alias="asOf")] = None,
) -> Response:
    """The statement as known at `position` (or `asOf`, default: now), as Excel: its header
    (opening/closing per bucket), its lines, and an About sheet naming the log position."""
    principal, row, pinned = await _readable(request, statement_id, position, as_of)
    buffer = io.BytesIO()
    await run_in_threadpool(
        write_statement, row, pinned.position, pinned.as_of, principal.actor, buffer
    )
    return Response(
        buffer.getvalue(),
        media_type=XLSX,
        headers={
            "Content-Disposition": f'attachment; filename="statement-{statement_id}.xlsx"',
            "X-Fenrun-Position": str(pinned.position),
        },
    )
