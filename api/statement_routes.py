"""GET /v1/statements/{id}.pdf: the 对账凭证 of one statement, for the callers who may read the
`statement` query (its entry in the policy table: staff, and agents for their own subtree)."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api.auth.web import authenticate
from api.graphql.policy import POLICY, grant
from api.statement_pdf import render
from projections.queries import PositionNotReady
from projections.statement_queries import StatementReads

router = APIRouter(prefix="/v1", tags=["statements"])


@router.get(
    "/statements/{statement_id}.pdf",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}, "description": "The 对账凭证"},
        401: {"description": "Not authenticated"},
        403: {"description": "Not a statement of the caller's subtree, or no role to read it"},
        404: {"description": "No such statement at that position"},
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
    pdf = await run_in_threadpool(render, row, pinned.position, pinned.as_of)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="statement-{statement_id}.pdf"',
            "X-Fenrun-Position": str(pinned.position),
        },
    )
