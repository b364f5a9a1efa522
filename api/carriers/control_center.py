"""China Unicom IoT Control Center (Jasper): REST under rws/api/v1 with HTTP Basic (user name,
API key). PUT devices/{iccid} with {"status": ...} changes a SIM's status (TEST_READY,
INVENTORY, TRIAL, ACTIVATION_READY, ACTIVATED, DEACTIVATED, RETIRED, PURGED); GET
devices/{iccid} reads it; GET devices/{iccid}/ctdUsages reads the cycle-to-date usage (bytes).

The PUT sets a status rather than toggling one, so sending it twice is one change: Control
Center's requests have no caller's id, and need none.
"""

import base64
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

STATUS = {
    CardAction.STOP: "DEACTIVATED",
    CardAction.RESUME: "ACTIVATED",
    CardAction.ACTIVATE: "ACTIVATED",
}


class ControlCenter:
    carrier = Carrier.CHINA_UNICOM

    def __init__(self, base_url: str, user: str, api_key: str, timeout: float) -> None:
        self.base_url, self.timeout = base_url, timeout
        token = base64.b64encode(f"{user}:{api_key}".encode()).decode()
        self._auth = {"authorization": f"Basic {token}"}

    def _ask(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        status, answer = call(
            method, f"{self.base_url}/{path}", body=body, headers=self._auth, timeout=self.timeout
        )
        if status >= 400:
            code = str(answer.get("errorCode", status)) if isinstance(answer, dict) else status
            message = answer.get("errorMessage", "") if isinstance(answer, dict) else ""
            raise CarrierRefused(str(code), str(message))
        if not isinstance(answer, dict):
            raise CarrierUnavailable(f"Control Center {path}: not a JSON object")
        return answer

    def set_state(self, iccid: str, action: CardAction, command_id: str) -> CarrierAnswer:
        self._ask("PUT", f"devices/{iccid}", {"status": STATUS[action]})
        return CarrierAnswer(carrier_ref=iccid, raw_state=STATUS[action])

    def query_state(self, iccid: str) -> CardStateReport:
        answer = self._ask("GET", f"devices/{iccid}")
        at = _when(answer.get("dateUpdated"))
        report_id = f"{iccid}@{at.isoformat()}"
        return CardStateReport(report_id, self.carrier, iccid, str(answer["status"]), at)

    def query_usage(self, iccid: str) -> MonthToDate:
        answer = self._ask("GET", f"devices/{iccid}/ctdUsages")
        now = datetime.now(UTC)
        used = int(answer.get("ctdDataUsage", 0))
        return MonthToDate(f"{iccid}@{now.isoformat()}", self.carrier, iccid, used, now)


def _when(text: object) -> datetime:
    # Control Center writes "2016-06-29 21:19:57.812+0000".
    if isinstance(text, str):
        try:
            return datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f%z")
        except ValueError:
            pass
    return datetime.now(UTC)
