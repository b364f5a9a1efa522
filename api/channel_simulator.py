"""The simulated payment channel as a small HTTP service (`fenrun channel-simulator`), and the
HTTP adapter Fenrun talks to it with (and to any channel that speaks the same API).

The service: POST /payments {outRequestId, payeeAccount, amountFen} -> {accepted, channelTxnId}
or {accepted: false, reason}; GET /payments/{outRequestId} -> {state, channelTxnId, reason};
control endpoints for tests and demos: GET /control/payments (its own books: how often each
out-request id was paid), POST /control/behaviours {outRequestId, behaviour},
POST /control/callbacks/release (delivers held LATE_CALLBACK callbacks). Behaviours by amount:
application/simulated_channel.py. Callbacks are POSTed to
`{callback_url}/v1/payment-callbacks/{name}`, signed with an API key Fenrun issued
(`fenrun keys add <name> --scope payment-callbacks --for <name>`), each from a thread of its own.
"""

import asyncio
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

import orjson
import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from api.auth.signatures import sign
from application.payouts import Accepted, ChannelStatus, Refused, withdrawal_of
from application.simulated_channel import ChannelTimeout, SimulatedChannel
from application.use_cases.payouts import RecordPayoutOutcome
from domain.common import Audit

log = structlog.get_logger(__name__)


class SignedCallbacks:
    """Delivers the simulator's callbacks to Fenrun, signed (decision 0021's scheme)."""

    def __init__(self, base_url: str, channel: str, key_id: str, secret: str) -> None:
        self.url = base_url.rstrip("/")
        self.path = f"/v1/payment-callbacks/{channel}"
        self.key_id, self.secret = key_id, secret
        self.answers: list[int] = []  # status codes, for tests and the log
        self.bodies: list[bytes] = []

    def __call__(self, body: dict[str, Any]) -> None:
        threading.Thread(target=self.post, args=(body,), daemon=True).start()

    def post(self, body: dict[str, Any]) -> int:
        content = orjson.dumps(body)
        stamp, nonce = str(int(time.time())), secrets.token_hex(12)
        headers = {
            "content-type": "application/json",
            "x-fenrun-key": self.key_id,
            "x-fenrun-timestamp": stamp,
            "x-fenrun-nonce": nonce,
            "x-fenrun-signature": sign(self.secret, "POST", self.path, stamp, nonce, content),
        }
        try:
            status, answer = _http("POST", self.url + self.path, content, headers, 10.0)
            self.bodies.append(answer)
        except OSError as exc:
            log.warning("channel_simulator.callback_failed", error=str(exc))
            status = 0
        self.answers.append(status)
        return status


def in_process_callbacks(ledger: Any, channel: str) -> Callable[[dict[str, Any]], None]:
    """The in-process simulator's callbacks: recorded through the same use case as the signed
    endpoint, as the channel's machine."""

    def notify(body: dict[str, Any]) -> None:
        paid = body["status"] == "PAID"
        reason = body.get("reason") or ("paid" if paid else "failed")
        ledger.execute(
            RecordPayoutOutcome(
                withdrawal_id=withdrawal_of(body["outRequestId"]),
                paid=paid,
                channel_txn_id=body["channelTxnId"],
                audit=Audit(f"channel:{channel}", ledger.clock.now(), reason, time_given=False),
            )
        )

    return notify


def simulator_app(channel: SimulatedChannel, answer_delay_seconds: float = 2.0) -> FastAPI:
    """The HTTP service over a simulated channel. A lost answer (TIMEOUT_FIRST) is an answer
    that takes `answer_delay_seconds` and then is an error: the client has given up by then."""
    app = FastAPI(title="Fenrun simulated payment channel")

    @app.post("/payments")
    async def submit(request: Request) -> JSONResponse:
        body = orjson.loads(await request.body())
        try:
            answer = channel.submit(body["outRequestId"], body["payeeAccount"], body["amountFen"])
        except ChannelTimeout as exc:
            await asyncio.sleep(answer_delay_seconds)
            return JSONResponse({"error": str(exc)}, status_code=504)
        if isinstance(answer, Refused):
            return JSONResponse({"accepted": False, "reason": answer.reason})
        return JSONResponse({"accepted": True, "channelTxnId": answer.channel_txn_id})

    @app.get("/payments/{out_request_id}")
    async def query(out_request_id: str) -> JSONResponse:
        status = channel.query(out_request_id)
        return JSONResponse(
            {"state": status.state, "channelTxnId": status.channel_txn_id, "reason": status.reason}
        )

    @app.get("/control/payments")
    async def books() -> JSONResponse:
        return JSONResponse(channel.record())

    @app.post("/control/behaviours")
    async def behave(request: Request) -> JSONResponse:
        body = orjson.loads(await request.body())
        channel.behave(body["outRequestId"], body["behaviour"])
        return JSONResponse({"ok": True})

    @app.post("/control/callbacks/release")
    async def release() -> JSONResponse:
        return JSONResponse({"released": channel.release_late()})

    return app


def _http(
    method: str, url: str, body: bytes | None, headers: dict[str, str], timeout: float
) -> tuple[int, bytes]:
    """One HTTP request with the standard library (the service needs no HTTP client package):
    the status and the body, an error status included; raises OSError on a timeout or a lost
    connection."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an HTTP URL: {url}")
    request = urllib.request.Request(url, data=body, headers=headers, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class HttpChannel:
    """A payment channel behind HTTP (the simulator's API). Timeouts, lost connections and
    5xx raise: the outbox sends the request again under the same out-request id."""

    def __init__(self, base_url: str, timeout_seconds: float = 10.0) -> None:
        self.url = base_url.rstrip("/")
        self.timeout = timeout_seconds

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        content = None if body is None else orjson.dumps(body)
        headers = {"content-type": "application/json"}
        status, answer = _http(method, self.url + path, content, headers, self.timeout)
        if status != 200:
            raise ConnectionError(f"the channel answered {status} to {method} {path}")
        return orjson.loads(answer)

    def submit(
        self, out_request_id: str, payee_account: str, amount_fen: int
    ) -> Accepted | Refused:
        body = self._call(
            "POST",
            "/payments",
            {
                "outRequestId": out_request_id,
                "payeeAccount": payee_account,
                "amountFen": amount_fen,
            },
        )
        if body["accepted"]:
            return Accepted(body.get("channelTxnId"))
        return Refused(body.get("reason") or "refused by the channel")

    def query(self, out_request_id: str) -> ChannelStatus:
        body = self._call("GET", f"/payments/{urllib.parse.quote(out_request_id)}")
        return ChannelStatus(body["state"], body.get("channelTxnId"), body.get("reason") or "")
