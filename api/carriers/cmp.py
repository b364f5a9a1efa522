"""China Telecom CMP (自管理平台, m2m_ec): GET requests with a `method` parameter, user_id,
passWord and sign. queryCardMainStatus answers productMainStatusCd (1 可激活, 2 测试激活,
3 测试去激活, 4 在用, 5 停机, 6 运营商管理状态, 7 拆机); disabledNumber with orderTypeId 19
(停机保号) or 20 (复机) stops or resumes a card; queryTraffic answers this month's data used.
Answers carry resultCode "0" on success.

What is left out: CMP encrypts passWord and computes sign with its own DES-based scheme (three
keys); here sign is HMAC-SHA256 over the sorted parameters under the configured key, which the
simulator checks. A deployment against the real CMP replaces `_signed` (decision 0031).
CMP's requests carry no caller's id: a change is made idempotent by asking for the state after a
refusal (a second stop of a stopped card is refused, and is the command done).
"""

import hashlib
import hmac
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

ORDER_TYPE = {CardAction.STOP: "19", CardAction.RESUME: "20"}
TARGET_STATE = {CardAction.STOP: "5", CardAction.RESUME: "4", CardAction.ACTIVATE: "4"}


class Cmp:
    carrier = Carrier.CHINA_TELECOM

    def __init__(self, base_url: str, user_id: str, password: str, key: str, timeout: float):
        self.base_url, self.user_id, self.password, self.key, self.timeout = (
            base_url,
            user_id,
            password,
            key,
            timeout,
        )

    def _signed(self, params: dict[str, str]) -> dict[str, str]:
        query = {**params, "user_id": self.user_id, "passWord": self.password}
        text = "&".join(f"{k}={v}" for k, v in sorted(query.items()))
        return {
            **query,
            "sign": hmac.new(self.key.encode(), text.encode(), hashlib.sha256).hexdigest(),
        }

    def _ask(self, endpoint: str, params: dict[str, str]) -> dict[str, Any]:
        _, answer = call(
            "GET", f"{self.base_url}/{endpoint}", query=self._signed(params), timeout=self.timeout
        )
        if not isinstance(answer, dict) or "resultCode" not in answer:
            raise CarrierUnavailable(f"CMP {params['method']}: an answer without a resultCode")
        if str(answer["resultCode"]) != "0":
            raise CarrierRefused(str(answer["resultCode"]), str(answer.get("resultMsg", "")))
        return answer

    def set_state(self, iccid: str, action: CardAction, command_id: str) -> CarrierAnswer:
        if action is CardAction.ACTIVATE:
            # CMP activates a 可激活 card on first use on the network: there is no request.
            raise CarrierRefused("NOT_SUPPORTED", "CMP activates cards on first network use")
        params = {"method": "disabledNumber", "access_number": iccid}
        try:
            answer = self._ask(
                "app/serviceAccept.do", {**params, "orderTypeId": ORDER_TYPE[action]}
            )
        except CarrierRefused:
            if self.query_state(iccid).raw_state != TARGET_STATE[action]:
                raise
            return CarrierAnswer(carrier_ref=command_id, raw_state=TARGET_STATE[action])
        ref = str(answer.get("GROUP_TRANSACTIONID", command_id))
        return CarrierAnswer(carrier_ref=ref, raw_state=TARGET_STATE[action])

    def query_state(self, iccid: str) -> CardStateReport:
        answer = self._ask("query.do", {"method": "queryCardMainStatus", "access_number": iccid})
        now = datetime.now(UTC)
        state = str(answer["productMainStatusCd"])
        return CardStateReport(f"{iccid}@{now.isoformat()}", self.carrier, iccid, state, now)

    def query_usage(self, iccid: str) -> MonthToDate:
        answer = self._ask("query.do", {"method": "queryTraffic", "access_number": iccid})
        now = datetime.now(UTC)
        used = round(float(answer["TOTAL_BYTES_CNT_KB"]) * 1024)
        return MonthToDate(f"{iccid}@{now.isoformat()}", self.carrier, iccid, used, now)
