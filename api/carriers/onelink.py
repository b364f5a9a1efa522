"""China Mobile OneLink EC v5: a token from get/token (appid, password, transid), then
change/sim-status (API 23S03: operType 0 停机, 1 复机, 2 库存→已激活), query/sim-status
(cardStatus 1 待激活, 2 已激活, 4 停机, 6 可测试, 7 库存, 8 预销户, 9 已销户) and
query/sim-data-usage (dataAmount, KB this month). Every answer is {status, message, result[]},
status "0" meaning success.

The transid is the caller's request id (appid + 14-digit time + 8 digits). A change carries one
derived from our command id, so a change sent twice has one transid and OneLink treats the second
as the same request.
"""

import hashlib
import threading
import time
from datetime import UTC, datetime
from typing import Any

from api.carriers.transport import call
from application.carriers import (
    CardAction,
    CardStateReport,
    Carrier,
    CarrierAnswer,
    CarrierRefused,
    CarrierUnavailable,
    MonthToDate,
)

OPER_TYPE = {CardAction.STOP: "0", CardAction.RESUME: "1", CardAction.ACTIVATE: "2"}
TARGET_STATE = {CardAction.STOP: "4", CardAction.RESUME: "2", CardAction.ACTIVATE: "2"}


class OneLink:
    carrier = Carrier.CHINA_MOBILE

    def __init__(self, base_url: str, app_id: str, password: str, timeout: float) -> None:
        self.base_url, self.app_id, self.password, self.timeout = (
            base_url,
            app_id,
            password,
            timeout,
        )
        self._token: tuple[str, float] | None = None
        self._lock = threading.Lock()
        self._sequence = 0

    def transid(self, command_id: str | None = None) -> str:
        """appid + yyyyMMddHHmmss + 8 digits: from the command id when there is one (the same
        command, the same transid), else a sequence."""
        if command_id is not None:
            digest = hashlib.sha256(command_id.encode()).hexdigest()
            return f"{self.app_id}{int(digest[:24], 16) % 10**22:022d}"
        with self._lock:
            self._sequence = (self._sequence + 1) % 10**8
            sequence = self._sequence
        return f"{self.app_id}{datetime.now(UTC).strftime('%Y%m%d%H%M%S')}{sequence:08d}"

    def _get_token(self) -> str:
        with self._lock:
            if self._token is not None and self._token[1] > time.monotonic():
                return self._token[0]
        answer = self._ask(
            "get/token", {"appid": self.app_id, "password": self.password}, token=False
        )
        token, ttl = answer[0]["token"], int(answer[0].get("ttl", "3600"))
        with self._lock:
            self._token = (token, time.monotonic() + max(ttl - 60, 1))
        return str(token)

    def _ask(
        self, path: str, params: dict[str, str], token: bool = True, transid: str | None = None
    ) -> list[dict[str, Any]]:
        query = {**params, "transid": transid or self.transid()}
        if token:
            query["token"] = self._get_token()
        _, body = call("GET", f"{self.base_url}/{path}", query=query, timeout=self.timeout)
        if not isinstance(body, dict) or "status" not in body:
            raise CarrierUnavailable(f"OneLink {path}: an answer without a status")
        if body["status"] != "0":
            raise CarrierRefused(str(body["status"]), str(body.get("message", "")))
        return list(body.get("result") or [])

    def set_state(self, iccid: str, action: CardAction, command_id: str) -> CarrierAnswer:
        transid = self.transid(command_id)
        try:
            self._ask(
                "change/sim-status",
                {"iccid": iccid, "operType": OPER_TYPE[action]},
                transid=transid,
            )
        except CarrierRefused:
            # Refused because the card is already there (an earlier delivery of this command
            # took effect, its answer lost): that is the command done, not failed.
            if self.query_state(iccid).raw_state != TARGET_STATE[action]:
                raise
        return CarrierAnswer(carrier_ref=transid, raw_state=TARGET_STATE[action])

    def query_state(self, iccid: str) -> CardStateReport:
        transid = self.transid()
        result = self._ask("query/sim-status", {"iccid": iccid}, transid=transid)
        state = str(result[0]["cardStatus"])
        return CardStateReport(transid, self.carrier, iccid, state, datetime.now(UTC))

    def query_usage(self, iccid: str) -> MonthToDate:
        transid = self.transid()
        result = self._ask("query/sim-data-usage", {"iccid": iccid}, transid=transid)
        used = round(float(result[0]["dataAmount"]) * 1024)
        return MonthToDate(transid, self.carrier, iccid, used, datetime.now(UTC))
