"""What every route that machines call with signed requests shares (decision 0021): the OpenAPI
description of the signature headers, the verification of the request, and user errors as JSON."""

from typing import Any

import structlog
from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.auth.principal import Principal
from api.auth.signatures import KEY, NONCE, SIGNATURE, TIMESTAMP
from domain.errors import LedgerError
from domain.identity import Scope, carrier_spoken_for

log = structlog.get_logger(__name__)


def signed_openapi(body_schema: dict[str, Any], description: str) -> dict[str, Any]:
    """The OpenAPI extras of a signed route: its four headers, its JSON body, what it says."""
    return {
        "parameters": [
            {"name": name, "in": "header", "required": True, "schema": {"type": "string"}}
            for name in (KEY, TIMESTAMP, NONCE, SIGNATURE)
        ],
        "requestBody": {"required": True, "content": {"application/json": {"schema": body_schema}}},
        "description": description,
    }


async def verify_signed(request: Request, scope: Scope) -> tuple[Principal, bytes]:
    """The machine that signed this request for `scope`, and the body it signed (401 raised
    otherwise, before the body is parsed). The principal is kept on the request for the logs."""
    body = await request.body()
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    signed = request.app.state.signed_requests
    machine: Principal = await run_in_threadpool(
        signed.verify, request.method, target, request.headers, body, scope
    )
    request.state.principal = machine
    return machine, body


def user_errors(status: int, errors: list[dict[str, Any]]) -> JSONResponse:
    return JSONResponse({"userErrors": errors}, status_code=status)


def refused(status: int, error: LedgerError) -> JSONResponse:
    return user_errors(
        status, [{"code": error.code, "field": error.field, "message": error.message}]
    )


def invalid(message: str) -> JSONResponse:
    return user_errors(422, [{"code": "INVALID_INPUT", "field": None, "message": message}])


def settling_carrier(principal: Principal) -> str | None:
    """The carrier whose cards a settlements key's rows must be on; None for a person (finance
    importing any carrier's file), auth off, or a key issued before settlement keys had to
    speak for a carrier (still accepted, logged: re-issue it with `--for`)."""
    if principal.via != "key" or principal.unchecked:
        return None
    carrier = carrier_spoken_for(principal.speaks_for)
    if carrier is None:
        log.warning("settlements_key_without_carrier", subject=principal.subject)
    return carrier
