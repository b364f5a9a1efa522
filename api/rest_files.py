"""REST for files (decision 0028): a carrier's settlement file uploaded and its row report, and
the Excel exports.

    POST /v1/carrier-settlements/files            multipart/form-data: file, profile, acceptValid
    GET  /v1/carrier-settlements/files/{sha256}/report.xlsx
    GET  /v1/exports/{what}.xlsx?asOf=...  (statements: &cycle=2026-11)

People send a bearer token (uploads: finance or operator; exports: the roles of the GraphQL
field each mirrors, from the policy table); machines may upload with a signed request (an API
key with the `settlements` scope, as POST /v1/carrier-settlements). The multipart body is read
with the standard library's MIME parser: one file part and two text fields.
"""

import io
from datetime import datetime
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from api.auth.principal import Principal
from api.auth.signatures import SIGNATURE
from api.auth.web import authenticate
from api.exports.reports import EXPORTS, write_export, write_import_report
from api.exports.statements import valid_cycle, write_cycle
from api.graphql.policy import POLICY
from api.signed_routes import settling_carrier
from application.settlement_files import load_profiles
from application.settlement_import import (
    ImportReport,
    SettlementImporter,
    previous_import,
    report_of,
)
from domain.errors import LedgerError
from domain.identity import Role, Scope

router = APIRouter(prefix="/v1", tags=["files"])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
UPLOADERS = frozenset({Role.FINANCE, Role.OPERATOR})
MAX_PROBLEMS_ANSWERED = 10_000  # a file of a million bad rows answers its first ten thousand


def _roles_of(field: str) -> frozenset[Role]:
    """The staff roles the policy table gives a GraphQL query field (agents are not among
    them: an export spans every agent)."""
    return frozenset(POLICY[("Query", field)].roles)


async def _person(request: Request, roles: frozenset[Role]) -> Principal:
    principal = await authenticate(request)
    if not (principal.unchecked or roles & principal.roles):
        raise HTTPException(403, f"needs one of the roles {', '.join(sorted(roles))}")
    return principal


async def _uploader(request: Request, body: bytes) -> Principal:
    if SIGNATURE.lower() in {h.lower() for h in request.headers}:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        signed = request.app.state.signed_requests
        machine: Principal = await run_in_threadpool(
            signed.verify, request.method, target, request.headers, body, Scope.SETTLEMENTS
        )
        request.state.principal = machine
        return machine
    return await _person(request, UPLOADERS)


def _form(content_type: str, body: bytes) -> dict[str, Any]:
    """The parts of a multipart/form-data body: name -> (file name, bytes) or text."""
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    if not message.is_multipart():
        raise HTTPException(415, "send the file as multipart/form-data (field 'file')")
    parts: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if part.get_filename():
            parts[str(name)] = (part.get_filename(), payload)
        else:
            try:
                parts[str(name)] = payload.decode("utf-8").strip()
            except UnicodeDecodeError:
                raise HTTPException(422, f"form field '{name}' is not UTF-8 text") from None
    return parts


def _report_json(report: ImportReport) -> dict[str, Any]:
    return {
        "fileHash": report.file_hash,
        "fileName": report.file_name,
        "profile": report.profile,
        "status": report.status,
        "message": report.message(),
        "rows": report.rows,
        "applied": report.applied,
        "unchanged": report.unchanged,
        "refused": report.refused,
        "position": str(report.position) if report.position is not None else None,
        "problemCount": len(report.problems),
        "problems": [
            {"row": p.row, "column": p.column, "code": p.code, "message": p.message}
            for p in report.problems[:MAX_PROBLEMS_ANSWERED]
        ],
        "report": f"/v1/carrier-settlements/files/{report.file_hash}/report.xlsx",
    }


@router.post("/carrier-settlements/files")
async def upload_settlement_file(request: Request) -> JSONResponse:
    """Imports a carrier's settlement file (xlsx, xls, csv): every row checked, all or nothing
    unless acceptValid; idempotent by the file's content. Answers the row report; 422 when
    the file was refused (nothing applied)."""
    body = await request.body()
    principal = await _uploader(request, body)
    form = _form(request.headers.get("content-type", ""), body)
    if not isinstance(form.get("file"), tuple):
        raise HTTPException(422, "no file part named 'file'")
    file_name, content = form["file"]
    fenrun = request.app.state.fenrun
    profiles = load_profiles(fenrun.settings.settlement_profiles_file)
    profile = form.get("profile") or "default"
    if profile not in profiles:
        raise HTTPException(422, f"no profile '{profile}': {', '.join(sorted(profiles))}")
    accept = str(form.get("acceptValid", "")).lower() in ("true", "1", "yes")
    carrier = settling_carrier(principal)
    if carrier is not None and profiles[profile].carrier not in (None, carrier):
        message = (
            f"profile '{profile}' is {profiles[profile].carrier}'s; the key speaks for {carrier}"
        )
        raise HTTPException(403, message)
    audit = principal.audit(fenrun.clock.now(), f"settlement file {file_name}", False)
    importer = SettlementImporter(fenrun.ledger, profiles[profile], audit, accept, carrier=carrier)
    try:
        report = await run_in_threadpool(importer.run, content, file_name)
    except LedgerError as exc:
        return JSONResponse(
            {"userErrors": [{"code": exc.code, "field": exc.field, "message": exc.message}]},
            status_code=422,
        )
    # The import stands whatever catching up does (rule 1): bounded, never raising; a read
    # that must see it sends the report's position (X-Fenrun-Min-Position).
    await run_in_threadpool(fenrun.settle, fenrun.workflows.request_wait)
    return JSONResponse(
        _report_json(report), status_code=422 if report.status == "REFUSED" else 200
    )


def _xlsx(write: Any, name: str) -> Response:
    buffer = io.BytesIO()
    write(buffer)
    return Response(
        buffer.getvalue(),
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/carrier-settlements/files/{file_hash}/report.xlsx")
async def settlement_file_report(request: Request, file_hash: str) -> Response:
    """The row report of an imported file, as Excel."""
    await _person(request, _roles_of("settlementImports"))
    fenrun = request.app.state.fenrun
    found = await run_in_threadpool(previous_import, fenrun.ledger, file_hash)
    if found is None:
        raise HTTPException(404, "no import of a file with that hash")
    report = report_of(found, "RECORDED")
    report.position = await run_in_threadpool(fenrun.ledger.recorder.position_of, found.id)
    return await run_in_threadpool(
        _xlsx, lambda out: write_import_report(report, out), f"import-{file_hash[:12]}.xlsx"
    )


@router.get("/exports/{what}.xlsx")
async def export(
    request: Request, what: str, asOf: datetime | None = None, cycle: str | None = None
) -> Response:
    """An export as Excel, as of asOf (a recorded time); the file names its log position.
    `statements` takes the cycle (2026-11, 2026-W47, 2026-11-30) whose statements it lists."""
    if what not in EXPORTS and what != "statements":
        raise HTTPException(404, f"no export '{what}': {', '.join([*EXPORTS, 'statements'])}")
    if asOf is not None and asOf.utcoffset() is None:
        raise HTTPException(422, "asOf needs a UTC offset")
    if what == "statements":
        return await _statements_export(request, asOf, cycle)
    principal = await _person(request, _roles_of(EXPORTS[what].mirrors))
    fenrun = request.app.state.fenrun
    pinned = await run_in_threadpool(fenrun.read.pin, asOf, None, EXPORTS[what].views)
    return await run_in_threadpool(
        _xlsx,
        lambda out: write_export(what, fenrun.read, pinned.position, asOf, principal.actor, out),
        f"{what}-{pinned.position}.xlsx",
    )


async def _statements_export(
    request: Request, as_of: datetime | None, cycle: str | None
) -> Response:
    try:
        cycle = valid_cycle(cycle)
    except LedgerError as exc:
        raise HTTPException(422, f"?cycle=: {exc.message}") from None
    principal = await _person(request, _roles_of("statements"))
    fenrun = request.app.state.fenrun
    pinned = await run_in_threadpool(fenrun.read.pin, as_of, None, ("statements",))
    return await run_in_threadpool(
        _xlsx,
        lambda out: write_cycle(fenrun.read, pinned.position, cycle, as_of, principal.actor, out),
        f"statements-{cycle}-{pinned.position}.xlsx",
    )
