"""REST for machines, signed with an API key (api/auth/signatures.py): a carrier's settlement
row, the same command as the recordCarrierSettlement mutation."""

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, ValidationError
from pydantic.alias_generators import to_camel
from starlette.concurrency import run_in_threadpool

from api.signed_routes import (
    invalid,
    refused,
    settling_carrier,
    signed_openapi,
    verify_signed,
)
from application.use_cases.settlements import RecordCarrierSettlement
from domain.errors import LedgerError
from domain.identity import Scope
from domain.money import format_money, parse_money

router = APIRouter(prefix="/v1", tags=["machines"])
Text = Annotated[str, Field(min_length=1, max_length=64)]


class CarrierSettlementRow(BaseModel):
    """One row of a carrier's settlement file (money as strings in yuan, like GraphQL's Money)."""

    model_config = ConfigDict(alias_generator=to_camel, extra="forbid", strict=True)

    row_id: Text = Field(description="The row's id in the carrier's file: idempotent.")
    iccid: Text
    period: Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]
    total_commission: Annotated[str, Field(max_length=20, examples=["12.50"])]
    network_status: Annotated[str, Field(pattern="^(NORMAL|SUSPENDED|CANCELLED|UNKNOWN)$")]
    no_arrears: StrictBool
    no_suspension: StrictBool
    no_complaint: StrictBool
    periods_used: int | None = None
    occurred_at: AwareDatetime | None = None
    idempotency_key: Annotated[str, Field(min_length=1, max_length=200)] | None = None


_SIGNED = signed_openapi(
    CarrierSettlementRow.model_json_schema(),
    "Signed with an API key with the `settlements` scope: X-Fenrun-Signature is"
    " the hex HMAC-SHA256, under the key's secret, of METHOD, path with query, timestamp, nonce"
    " and the hex SHA-256 of the body, joined by newlines. The timestamp (Unix seconds) must be"
    " within 5 minutes; a nonce is accepted once. 401 otherwise, with WWW-Authenticate.",
)


@router.post(
    "/carrier-settlements",
    openapi_extra=_SIGNED,
    responses={401: {"description": "Unsigned, badly signed, stale or replayed"}},
)
async def record_carrier_settlement(request: Request) -> JSONResponse:
    """Records one carrier settlement row: the carrier's total commission for a card and
    period, split by the LONG_TERM rules; the platform keeps the rest. Idempotent per rowId."""
    machine, body = await verify_signed(request, Scope.SETTLEMENTS)
    try:
        row = CarrierSettlementRow.model_validate_json(body)
        total = parse_money(row.total_commission, field="totalCommission")
    except ValidationError as exc:
        return invalid(str(exc))
    except LedgerError as exc:
        return refused(422, exc)
    command = RecordCarrierSettlement(
        row_id=row.row_id,
        iccid=row.iccid,
        period=row.period,
        total_fen=total,
        network_status=row.network_status,
        three_no=(row.no_arrears, row.no_suspension, row.no_complaint),
        periods_used=row.periods_used,
        audit=machine.audit(
            row.occurred_at or request.app.state.fenrun.clock.now(),
            f"carrier settlement {row.row_id}",
            row.occurred_at is not None,
        ),
        key=row.idempotency_key,
        carrier=settling_carrier(machine),
    )
    workflows = request.app.state.fenrun.workflows
    try:
        done = await run_in_threadpool(workflows.submit, command)
    except LedgerError as exc:
        return refused(422, exc)
    return JSONResponse(
        {
            "rowId": done.row_id,
            "agentShare": format_money(done.agent_share_fen),
            "platformShare": format_money(done.platform_share_fen),
            "userErrors": [],
        }
    )
