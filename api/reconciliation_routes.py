"""REST for reconciliation (decision 0032): a channel's statement file uploaded, and a run's
report as Excel.

    POST /v1/reconciliations          multipart/form-data: kind (default CHANNEL_STATEMENT),
                                      file, cycle, period, amount, tolerance, dryRun,
                                      idempotencyKey
    GET  /v1/reconciliations/{id}/report.xlsx?asOf=...

People send a bearer token with the roles of `runReconciliation` (running) or
`reconciliation` (the report), from the policy table.
"""

from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from api.exports.reconciliation import write_reconciliation_report
from api.graphql.policy import POLICY
from api.graphql.reconciliation import reconciler_of, run_id_of, run_reconciliation
from api.rest_files import _form, _person, _xlsx
from application.reconciliation import RunReport, find_run
from domain.errors import LedgerError
from domain.money import format_money, parse_money
from projections.reconciliation_reads import VIEWS

router = APIRouter(prefix="/v1", tags=["reconciliation"])


def report_json(report: RunReport) -> dict[str, Any]:
    o = report.outcome
    return {
        "id": report.run_id,
        "kind": report.kind,
        "subject": report.subject,
        "sources": report.sources,
        "dryRun": report.dry_run,
        "throughPosition": str(report.through),
        "recordedPosition": None
        if report.recorded_position is None
        else str(report.recorded_position),
        "matched": o.matched,
        "oursTotal": format_money(o.ours_fen),
        "theirsTotal": format_money(o.theirs_fen),
        "items": [
            {
                "id": i.id,
                "rule": i.rule,
                "key": i.key,
                "difference": i.difference.value,
                "ours": None if i.ours_fen is None else format_money(i.ours_fen),
                "theirs": None if i.theirs_fen is None else format_money(i.theirs_fen),
                "ourStatus": i.ours_status,
                "theirStatus": i.theirs_status,
                "ourSources": list(i.ours_refs),
                "theirSources": list(i.theirs_refs),
            }
            for i in o.items
        ],
    }


@router.post("/reconciliations")
async def run(request: Request) -> JSONResponse:
    """Runs a reconciliation with an uploaded file (a channel's statement); 422 with
    userErrors when it cannot run."""
    principal = await _person(request, frozenset(POLICY[("Mutation", "runReconciliation")].roles))
    body = await request.body()
    form = _form(request.headers.get("content-type", ""), body)
    fenrun = request.app.state.fenrun
    kind = str(form.get("kind") or "CHANNEL_STATEMENT")
    file = form.get("file")
    dry_run = str(form.get("dryRun", "")).lower() in ("true", "1", "yes")
    audit = principal.audit(fenrun.clock.now(), f"reconciliation {kind}", False)
    pinned = await run_in_threadpool(fenrun.read.pin, None, None, VIEWS)

    def work() -> RunReport:
        amount = form.get("amount")
        tolerance = parse_money(form.get("tolerance") or "0", field="tolerance")
        return run_reconciliation(
            fenrun, reconciler_of(fenrun, audit, tolerance), kind, pinned.position,
            cycle=form.get("cycle") or None, period=form.get("period") or None,
            amount_fen=None if not amount else parse_money(amount, field="amount"),
            file=(file[1], file[0]) if isinstance(file, tuple) else None, dry_run=dry_run,
            run_id=run_id_of(form.get("idempotencyKey") or None),
        )  # fmt: skip

    try:
        report = await run_in_threadpool(work)
    except LedgerError as exc:
        return JSONResponse(
            {"userErrors": [{"code": exc.code, "field": exc.field, "message": exc.message}]},
            status_code=422,
        )
    return JSONResponse(report_json(report))


@router.get("/reconciliations/{run_id}/report.xlsx")
async def report(request: Request, run_id: str, asOf: datetime | None = None) -> Response:
    """A run's report as Excel, as of asOf; the file names its log position."""
    if asOf is not None and asOf.utcoffset() is None:
        raise HTTPException(422, "asOf needs a UTC offset")
    principal = await _person(request, frozenset(POLICY[("Query", "reconciliation")].roles))
    fenrun = request.app.state.fenrun
    pinned = await run_in_threadpool(fenrun.read.pin, asOf, None, ())
    found = await run_in_threadpool(find_run, fenrun.ledger, run_id, pinned.position)
    if found is None:
        raise HTTPException(404, "no reconciliation run with that id (as of then)")
    return await run_in_threadpool(
        _xlsx,
        lambda out: write_reconciliation_report(found, pinned.position, principal.actor, out),
        f"reconciliation-{run_id}-{pinned.position}.xlsx",
    )
