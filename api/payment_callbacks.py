"""The payment channel's callback: POST /v1/payment-callbacks/{channel}, signed like every
machine's request (api/auth/signatures.py, decision 0021) with an API key of scope
`payment-callbacks`. Idempotent per channel transaction id: a repeated or late callback answers
200 with `recorded: false` and changes nothing."""

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel
from starlette.concurrency import run_in_threadpool

from api.signed_routes import invalid, refused, signed_openapi, user_errors, verify_signed
from application.payouts import withdrawal_of
from application.use_cases.payouts import RecordPayoutOutcome, load_payout
from domain.errors import InvalidInput, LedgerError
from domain.identity import Scope

router = APIRouter(prefix="/v1", tags=["machines"])
Text = Annotated[str, Field(min_length=1, max_length=64)]


class PaymentCallback(BaseModel):
    """The channel's word on one out-request: paid, or failed with its reason."""

    model_config = ConfigDict(alias_generator=to_camel, extra="ignore", strict=True)

    out_request_id: Annotated[str, Field(min_length=1, max_length=80)]
    channel_txn_id: Text = Field(description="The channel's transaction id: idempotent by it.")
    status: Annotated[str, Field(pattern="^(PAID|FAILED)$")]
    reason: Annotated[str, Field(max_length=2000)] | None = None
    occurred_at: AwareDatetime | None = None


_SIGNED = signed_openapi(
    PaymentCallback.model_json_schema(),
    "Signed with an API key with the `payment-callbacks` scope issued for this"
    " channel (`fenrun keys add NAME --scope payment-callbacks --for <channel>`; 403 for"
    " another channel's key): X-Fenrun-Signature is the hex HMAC-SHA256, under"
    " the key's secret, of METHOD, path with query, timestamp, nonce and the hex SHA-256 of the"
    " body, joined by newlines; the timestamp within 5 minutes, a nonce accepted once. 401"
    " otherwise. Answers 200 `{recorded, status}`: `recorded: false` for a callback already"
    " recorded (the same channelTxnId), for a payout already settled, or for a failure of an"
    " attempt that is no longer the one in flight.",
)


@router.post(
    "/payment-callbacks/{channel}",
    openapi_extra=_SIGNED,
    responses={
        401: {"description": "Unsigned, badly signed, stale or replayed"},
        403: {"description": "The key speaks for another channel"},
    },
)
async def payment_callback(channel: str, request: Request) -> JSONResponse:
    """Records a payment channel's outcome of a payout (paid or failed)."""
    machine, body = await verify_signed(request, Scope.PAYMENT_CALLBACKS)
    if not machine.unchecked and machine.speaks_for != channel:
        # A channel's key speaks for that channel only: never for another's payouts.
        message = f"the key speaks for '{machine.speaks_for}', not '{channel}'"
        return user_errors(403, [{"code": "FORBIDDEN", "field": "channel", "message": message}])
    try:
        callback = PaymentCallback.model_validate_json(body)
    except ValidationError as exc:
        return invalid(str(exc))
    fenrun = request.app.state.fenrun
    withdrawal_id = withdrawal_of(callback.out_request_id)
    paid = callback.status == "PAID"

    def record() -> object:
        payout = load_payout(fenrun.ledger, withdrawal_id, "outRequestId")
        if payout.channel != channel:
            raise InvalidInput("channel", f"the payout goes through '{payout.channel}'")
        reason = callback.reason or ("paid" if paid else "failed (no reason given)")
        command = RecordPayoutOutcome(
            withdrawal_id=withdrawal_id,
            paid=paid,
            channel_txn_id=callback.channel_txn_id,
            audit=machine.audit(
                callback.occurred_at or fenrun.clock.now(),
                f"{channel} callback: {reason}"[:2000],
                callback.occurred_at is not None,
            ),
        )
        return fenrun.workflows.submit(command)

    try:
        done = await run_in_threadpool(record)
    except LedgerError as exc:
        status = 404 if exc.code == "PAYOUT_NOT_FOUND" else 422
        return refused(status, exc)
    return JSONResponse({"recorded": done.recorded, "status": done.status, "userErrors": []})  # type: ignore[attr-defined]
