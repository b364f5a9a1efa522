"""A carrier simulator: the three carriers' request shapes over one small HTTP service, keeping
cards' states and usage, for tests, benchmarks and trying Fenrun without a carrier contract.

    fenrun carrier-simulator --port 9100        (or: make carrier-simulator ARGS="--port 9100")

Point the adapters at it: FENRUN_CHINA_MOBILE_URL=http://127.0.0.1:9100/cmcc/v5/ec,
FENRUN_CHINA_UNICOM_URL=http://127.0.0.1:9100/cucc/rws/api/v1,
FENRUN_CHINA_TELECOM_URL=http://127.0.0.1:9100/ctcc/m2m_ec (any credentials).

Control endpoints (JSON), for tests and demonstrations:
- POST /_control/cards {carrier, iccid, rawState, usedKb}: a card at a carrier;
- GET /_control/cards/{iccid}: its state, usage, the requests it received and the changes that
  took effect (what "seen once in effect" is checked against);
- POST /_control/faults {delaySeconds, failNext, loseAnswers, down, duplicatePushes,
  reversePushes}: slow answers; 503 before acting (failNext); acting, then 503 as if the answer
  were lost (loseAnswers); 503 to everything (down); pushes sent twice, or newest first;
- POST /_control/usage {iccid, addKb}: traffic on a card (a usage report is queued);
- POST /_control/state {iccid, rawState}: the carrier changes a card itself (a report is queued);
- POST /_control/report {iccid}: queues a report of the card's current state;
- POST /_control/push {url, keyId, secret}: where reports go, signed as Fenrun's REST expects;
- POST /_control/flush: sends the queued reports now (answers what Fenrun answered).
"""

import asyncio
import hashlib
import hmac
import secrets
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from application.carriers import Carrier

ONELINK_CHANGE = {"0": ("2", "4"), "1": ("4", "2"), "2": ("7", "2")}  # operType: (from, to)
CMP_CHANGE = {"19": ("4", "5"), "20": ("5", "4")}
CONTROL_CENTER_STATES = {
    "TEST_READY",
    "INVENTORY",
    "TRIAL",
    "ACTIVATION_READY",
    "ACTIVATED",
    "DEACTIVATED",
    "RETIRED",
    "PURGED",
}


@dataclass
class SimCard:
    carrier: str
    iccid: str
    raw_state: str
    used_kb: int = 0
    requests: int = 0
    changes: list[dict[str, str]] = field(default_factory=list)
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class Faults:
    delay_seconds: float = 0.0
    fail_next: int = 0
    lose_answers: int = 0
    down: bool = False
    duplicate_pushes: bool = False
    reverse_pushes: bool = False


class CarrierSimulator:
    def __init__(self) -> None:
        self.cards: dict[str, SimCard] = {}
        self.faults = Faults()
        self.transids: set[str] = set()
        self.tokens: set[str] = set()
        self.queue: list[dict[str, Any]] = []
        self.push: dict[str, str] | None = None
        self.reports = 0
        self.lock = threading.Lock()

    # -- cards --------------------------------------------------------------------------------
    def change(self, card: SimCard, to: str, request_id: str) -> None:
        if card.raw_state == to:
            return
        now = datetime.now(UTC)
        card.changes.append(
            {"from": card.raw_state, "to": to, "requestId": request_id, "at": time.time()}
        )
        card.raw_state, card.updated_at = to, now
        self.queue_report(card, {"kind": "STATE", "rawState": to})

    def queue_report(self, card: SimCard, fields: dict[str, Any]) -> None:
        self.reports += 1
        self.queue.append(
            {
                "reportId": f"sim-{self.reports}",
                "iccid": card.iccid,
                "reportedAt": datetime.now(UTC).isoformat(),
                **fields,
            }
        )

    def card(self, carrier: Carrier, iccid: str) -> SimCard | None:
        found = self.cards.get(iccid)
        if found is None or found.carrier != carrier:
            return None
        found.requests += 1
        return found

    # -- the push -----------------------------------------------------------------------------
    def take_queue(self) -> list[dict[str, Any]]:
        with self.lock:
            reports, self.queue = self.queue, []
        if self.faults.reverse_pushes:
            reports.reverse()
        return reports

    def flush(self) -> list[dict[str, Any]]:
        """Sends the queued reports, one signed request per carrier (twice with
        duplicatePushes); answers Fenrun's answers. Blocking: call it off the event loop."""
        if self.push is None:
            return []
        by_carrier: dict[str, list[dict[str, Any]]] = {}
        for report in self.take_queue():
            by_carrier.setdefault(self.cards[report["iccid"]].carrier, []).append(report)
        answers = []
        for carrier, batch in by_carrier.items():
            for _ in range(2 if self.faults.duplicate_pushes else 1):
                path = f"/v1/carrier-reports/{carrier}"
                body = orjson.dumps({"reports": batch})
                request = urllib.request.Request(  # noqa: S310 (the test's own URL)
                    self.push["url"] + path, data=body, headers=self.signed(path, body)
                )
                try:
                    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                        status, raw = response.status, response.read()
                except urllib.error.HTTPError as exc:
                    status, raw = exc.code, exc.read()
                answers.append({"status": status, "body": orjson.loads(raw) if raw else None})
        return answers

    def signed(self, path: str, body: bytes) -> dict[str, str]:
        assert self.push is not None
        stamp, nonce = str(int(time.time())), secrets.token_hex(12)
        digest = hashlib.sha256(body).hexdigest()
        text = "\n".join(("POST", path, stamp, nonce, digest)).encode()
        signature = hmac.new(self.push["secret"].encode(), text, hashlib.sha256).hexdigest()
        return {
            "content-type": "application/json",
            "x-fenrun-key": self.push["keyId"],
            "x-fenrun-timestamp": stamp,
            "x-fenrun-nonce": nonce,
            "x-fenrun-signature": signature,
        }


def _json(body: object, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status)


def create_simulator(sim: CarrierSimulator | None = None) -> Starlette:
    sim = sim or CarrierSimulator()

    async def faulty(request: Request, act: Any) -> Response:
        """Delays, failures and lost answers, then the carrier's own answer."""
        faults = sim.faults
        if faults.delay_seconds:
            await asyncio.sleep(faults.delay_seconds)
        if faults.down:
            return _json({"error": "down"}, 503)
        with sim.lock:
            if faults.fail_next > 0:
                faults.fail_next -= 1
                return _json({"error": "busy"}, 503)
            answer = act(request)
            if faults.lose_answers > 0:
                faults.lose_answers -= 1
                return _json({"error": "answer lost"}, 503)
        return answer

    # -- China Mobile OneLink EC v5 ------------------------------------------------------------
    def onelink(request: Request) -> Response:
        path, q = request.path_params["path"], request.query_params
        if path == "get/token":
            token = secrets.token_hex(16)
            sim.tokens.add(token)
            return _json(
                {"status": "0", "message": "正确", "result": [{"token": token, "ttl": "3600"}]}
            )
        if q.get("token") not in sim.tokens:
            return _json({"status": "12021", "message": "token无效", "result": []})
        card = sim.card(Carrier.CHINA_MOBILE, q.get("iccid", ""))
        if card is None:
            return _json({"status": "12006", "message": "物联卡号不存在", "result": []})
        if path == "query/sim-status":
            return _json(
                {"status": "0", "message": "正确", "result": [{"cardStatus": card.raw_state}]}
            )
        if path == "query/sim-data-usage":
            return _json(
                {"status": "0", "message": "正确", "result": [{"dataAmount": str(card.used_kb)}]}
            )
        if path == "change/sim-status":
            transid = q.get("transid", "")
            if transid in sim.transids:  # the same request again: answered, not done again
                return _json({"status": "0", "message": "正确", "result": [{"transid": transid}]})
            source, target = ONELINK_CHANGE.get(q.get("operType", ""), (None, None))
            if target is None or card.raw_state != source:
                return _json({"status": "12109", "message": "状态不允许变更", "result": []})
            sim.transids.add(transid)
            sim.change(card, target, transid)
            return _json({"status": "0", "message": "正确", "result": [{"transid": transid}]})
        return _json({"status": "10000", "message": "unknown API", "result": []}, 404)

    # -- China Unicom Control Center -----------------------------------------------------------
    async def control_center(request: Request) -> Response:
        body = await request.body()

        def act(request: Request) -> Response:
            if not request.headers.get("authorization", "").startswith("Basic "):
                return _json({"errorCode": "10000001", "errorMessage": "Unauthorized"}, 401)
            iccid, rest = request.path_params["iccid"], request.path_params.get("rest", "")
            card = sim.card(Carrier.CHINA_UNICOM, iccid)
            if card is None:
                return _json({"errorCode": "10000003", "errorMessage": "ICCID not found"}, 404)
            if request.method == "PUT":
                status = orjson.loads(body or b"{}").get("status")
                if status not in CONTROL_CENTER_STATES:
                    return _json({"errorCode": "10000024", "errorMessage": "Invalid status"}, 400)
                sim.change(card, status, f"PUT {iccid} {status}")
                return _json({"iccid": iccid})
            if rest == "ctdUsages":
                return _json({"iccid": iccid, "ctdDataUsage": card.used_kb * 1024})
            stamp = card.updated_at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "+0000"
            return _json({"iccid": iccid, "status": card.raw_state, "dateUpdated": stamp})

        return await faulty(request, act)

    # -- China Telecom CMP ---------------------------------------------------------------------
    def cmp(request: Request) -> Response:
        q = request.query_params
        if not (q.get("user_id") and q.get("passWord") and q.get("sign")):
            return _json({"resultCode": "-1", "resultMsg": "签名校验失败"})
        card = sim.card(Carrier.CHINA_TELECOM, q.get("access_number", ""))
        if card is None:
            return _json({"resultCode": "-5", "resultMsg": "号码不存在"})
        method = q.get("method")
        if method == "queryCardMainStatus":
            return _json(
                {
                    "resultCode": "0",
                    "resultMsg": "处理成功",
                    "productMainStatusCd": card.raw_state,
                }
            )
        if method == "queryTraffic":
            return _json(
                {
                    "resultCode": "0",
                    "resultMsg": "处理成功",
                    "TOTAL_BYTES_CNT_KB": str(card.used_kb),
                }
            )
        if method == "disabledNumber":
            source, target = CMP_CHANGE.get(q.get("orderTypeId", ""), (None, None))
            if target is None or card.raw_state != source:
                return _json({"resultCode": "-4", "resultMsg": "当前状态不允许办理"})
            ref = f"ct{sim.reports + 1:010d}"
            sim.change(card, target, ref)
            return _json({"resultCode": "0", "resultMsg": "处理成功", "GROUP_TRANSACTIONID": ref})
        return _json({"resultCode": "-9", "resultMsg": "unknown method"})

    # -- control -------------------------------------------------------------------------------
    async def add_card(request: Request) -> Response:
        body = await request.json()
        card = SimCard(
            Carrier(body["carrier"]), body["iccid"], body["rawState"], body.get("usedKb", 0)
        )
        with sim.lock:
            sim.cards[card.iccid] = card
        return _json({"iccid": card.iccid})

    async def show_card(request: Request) -> Response:
        card = sim.cards.get(request.path_params["iccid"])
        if card is None:
            return _json({"error": "no such card"}, 404)
        return _json(
            {
                "carrier": card.carrier,
                "rawState": card.raw_state,
                "usedKb": card.used_kb,
                "requests": card.requests,
                "changes": card.changes,
            }
        )

    async def set_faults(request: Request) -> Response:
        body = await request.json()
        names = {
            "delaySeconds": "delay_seconds",
            "failNext": "fail_next",
            "loseAnswers": "lose_answers",
            "down": "down",
            "duplicatePushes": "duplicate_pushes",
            "reversePushes": "reverse_pushes",
        }
        with sim.lock:
            for given, value in body.items():
                setattr(sim.faults, names[given], value)
        return _json({"faults": sim.faults.__dict__})

    async def use(request: Request) -> Response:
        body = await request.json()
        with sim.lock:
            card = sim.cards[body["iccid"]]
            card.used_kb += int(body["addKb"])
            sim.queue_report(card, {"kind": "USAGE", "bytesUsed": card.used_kb * 1024})
        return _json({"usedKb": card.used_kb})

    async def set_state(request: Request) -> Response:
        """The carrier changes a card itself (an operator at its portal, its own rules)."""
        body = await request.json()
        with sim.lock:
            card = sim.cards[body["iccid"]]
            sim.change(card, body["rawState"], "carrier")
        return _json({"rawState": card.raw_state})

    async def report(request: Request) -> Response:
        """Queues a report of the card's current state (as a carrier's daily status push)."""
        body = await request.json()
        with sim.lock:
            card = sim.cards[body["iccid"]]
            sim.queue_report(card, {"kind": "STATE", "rawState": card.raw_state})
        return _json({"queued": len(sim.queue)})

    async def set_push(request: Request) -> Response:
        sim.push = await request.json()
        return _json({"push": sim.push["url"]})

    async def flush(request: Request) -> Response:
        return _json({"answers": await asyncio.to_thread(sim.flush)})

    async def onelink_endpoint(request: Request) -> Response:
        return await faulty(request, onelink)

    async def cmp_endpoint(request: Request) -> Response:
        return await faulty(request, cmp)

    app = Starlette(
        routes=[
            Route("/cmcc/v5/ec/{path:path}", onelink_endpoint, methods=["GET", "POST"]),
            Route("/cucc/rws/api/v1/devices/{iccid}", control_center, methods=["GET", "PUT"]),
            Route("/cucc/rws/api/v1/devices/{iccid}/{rest}", control_center, methods=["GET"]),
            Route("/ctcc/m2m_ec/{path:path}", cmp_endpoint, methods=["GET"]),
            Route("/_control/cards", add_card, methods=["POST"]),
            Route("/_control/cards/{iccid}", show_card, methods=["GET"]),
            Route("/_control/faults", set_faults, methods=["POST"]),
            Route("/_control/usage", use, methods=["POST"]),
            Route("/_control/state", set_state, methods=["POST"]),
            Route("/_control/report", report, methods=["POST"]),
            Route("/_control/push", set_push, methods=["POST"]),
            Route("/_control/flush", flush, methods=["POST"]),
        ]
    )
    app.state.simulator = sim
    return app
